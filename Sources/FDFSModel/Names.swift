/// A FastDFS group name: 1 to 16 characters of `[A-Za-z0-9]` (protocol spec §2.2).
public struct GroupName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maxLength = 16
    public let rawValue: String

    public init(_ text: String) throws(FDFSNameError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .emptyGroupName }
        guard bytes.count <= Self.maxLength else { throw .groupNameTooLong(text, bytes.count) }
        if let bad = bytes.first(where: { !ASCII.isAlphanumeric($0) }) {
            throw .invalidGroupNameCharacter(text, Character(Unicode.Scalar(bad)))
        }
        self.rawValue = text
    }

    public var description: String { rawValue }
    public static func < (lhs: GroupName, rhs: GroupName) -> Bool { ASCII.compare(lhs.rawValue, rhs.rawValue) < 0 }
}

/// A storage server's identity: a numeric id from storage_ids.conf (`100001`), the IPv4
/// address text when ids are not used, or the 12-character short code of an IPv6 address
/// (cluster spec §0.3). 1 to 15 printable ASCII characters.
public struct StorageID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maxLength = 15
    public let rawValue: String

    public init(_ text: String) throws(FDFSNameError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .emptyStorageID }
        guard bytes.count <= Self.maxLength else { throw .storageIDTooLong(text, bytes.count) }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidStorageIDCharacter(text) }
        self.rawValue = text
    }

    /// A numeric storage id (1...16777215).
    public init(numeric value: UInt32) throws(FDFSNameError) {
        guard (1...FileSource.maxServerID).contains(value) else { throw .serverIDOutOfRange(Int64(value)) }
        self.rawValue = String(value)
    }

    /// The numeric value when the id is a decimal server id without leading zeros.
    public var numericValue: UInt32? {
        guard let first = rawValue.utf8.first, first != UInt8(ascii: "0"),
              let value = UInt32(rawValue), (1...FileSource.maxServerID).contains(value) else { return nil }
        return value
    }

    public var description: String { rawValue }
    /// Lists of storages are ordered by `strcmp` of the id (cluster spec §0.3).
    public static func < (lhs: StorageID, rhs: StorageID) -> Bool { ASCII.compare(lhs.rawValue, rhs.rawValue) < 0 }
}

/// Why a group name, storage id or similar short name was refused.
public enum FDFSNameError: Error, Hashable, Sendable, CustomStringConvertible {
    case emptyGroupName
    case groupNameTooLong(String, Int)
    case invalidGroupNameCharacter(String, Character)
    case emptyStorageID
    case storageIDTooLong(String, Int)
    case invalidStorageIDCharacter(String)
    case serverIDOutOfRange(Int64)

    public var description: String {
        switch self {
        case .emptyGroupName: "group name is empty (1 to 16 characters of A-Z, a-z, 0-9 expected)"
        case .groupNameTooLong(let name, let n): "group name '\(name)' has \(n) characters, at most 16 are allowed"
        case .invalidGroupNameCharacter(let name, let c): "group name '\(name)' contains '\(c)'; only A-Z, a-z and 0-9 are allowed"
        case .emptyStorageID: "storage id is empty"
        case .storageIDTooLong(let id, let n): "storage id '\(id)' has \(n) characters, at most 15 are allowed"
        case .invalidStorageIDCharacter(let id): "storage id '\(id)' contains a space, control or non-ASCII character"
        case .serverIDOutOfRange(let v): "numeric storage id \(v) is outside 1...16777215"
        }
    }
}

/// Byte-level helpers shared by the name types: FastDFS compares and validates bytes, not Unicode.
public enum ASCII {
    @inlinable public static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
    /// `[A-Za-z0-9._-]`: characters allowed in file extensions and slave prefixes.
    @inlinable public static func isFileNameCharacter(_ b: UInt8) -> Bool {
        isAlphanumeric(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }
    @inlinable public static func isUpperHexDigit(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46)
    }
    /// `strcmp` order.
    public static func compare(_ a: String, _ b: String) -> Int {
        var i = a.utf8.makeIterator(), j = b.utf8.makeIterator()
        while true {
            switch (i.next(), j.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?): if x != y { return x < y ? -1 : 1 }
            }
        }
    }
}

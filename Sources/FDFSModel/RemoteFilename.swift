/// A file's name on its group: `Mxx/HH/HH/<name>` (protocol spec §6.1), validated so that it
/// can never name a path outside `<store path xx>/data/`.
///
/// `<name>` is 27 base64 characters (the name block), 16 more for trunk files, a 7-character
/// suffix, and for slave files a prefix and extension. Only `[A-Za-z0-9._-]` may appear in
/// it, and never `..`.
public struct RemoteFilename: Hashable, Sendable, CustomStringConvertible {
    public static let logicPathLength = 10  // "M00/00/00/"
    public static let minNameLength = FileNameBlock.encodedLength + FileNameSuffix.length  // 34
    public static let normalLength = logicPathLength + minNameLength  // 44
    public static let trunkLength = normalLength + TrunkLocator.encodedLength  // 60
    /// The longest remote filename any FastDFS server accepts.
    public static let maxLength = 127
    public static let maxStorePathCount = 256

    public let storePathIndex: Int
    public let subdirHigh: UInt8
    public let subdirLow: UInt8
    /// The last path component, e.g. `wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg`.
    public let name: String
    public let block: FileNameBlock
    public let trunk: TrunkLocator?

    /// Builds a name from its parts, validating it exactly as `init(parsing:)` does.
    public init(storePathIndex: Int, subdirHigh: UInt8, subdirLow: UInt8, name: String) throws(FileIDError) {
        try self.init(parsing: Self.format(storePathIndex, subdirHigh, subdirLow, name))
    }

    /// Parses `Mxx/HH/HH/<name>`. `storePathCount` and `subdirCount` bound the indexes when
    /// the caller knows the storage's configuration (defaults: the format's maximum, 256).
    public init(parsing text: some StringProtocol, storePathCount: Int = maxStorePathCount, subdirCount: Int = 256) throws(FileIDError) {
        let b = Array(text.utf8)
        guard b.count >= Self.normalLength else { throw .remoteFilenameTooShort(String(text), b.count) }
        guard b.count <= Self.maxLength else { throw .remoteFilenameTooLong(b.count) }
        guard b[0] == UInt8(ascii: "M") else { throw .missingStorePathPrefix(String(text)) }
        guard ASCII.isUpperHexDigit(b[1]), ASCII.isUpperHexDigit(b[2]), b[3] == UInt8(ascii: "/") else {
            throw .badStorePath(String(decoding: b[0..<min(4, b.count)], as: UTF8.self))
        }
        let index = Int(Self.hexValue(b[1])) << 4 | Int(Self.hexValue(b[2]))
        guard index < storePathCount else { throw .storePathIndexOutOfRange(index, storePathCount) }
        for start in [4, 7] {
            guard ASCII.isUpperHexDigit(b[start]), ASCII.isUpperHexDigit(b[start + 1]), b[start + 2] == UInt8(ascii: "/") else {
                throw .badSubdirectory(String(decoding: b[start..<start + 3], as: UTF8.self))
            }
            let v = Int(Self.hexValue(b[start])) << 4 | Int(Self.hexValue(b[start + 1]))
            guard v < subdirCount else { throw .subdirectoryOutOfRange(v, subdirCount) }
        }
        let nameBytes = b[Self.logicPathLength...]
        if nameBytes.contains(UInt8(ascii: "/")) { throw .extraSlash }
        if let bad = nameBytes.first(where: { !ASCII.isFileNameCharacter($0) }) { throw .invalidNameCharacter(bad) }
        if zip(nameBytes, nameBytes.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }) {
            throw .dotDot
        }
        let blockText = nameBytes.prefix(FileNameBlock.encodedLength)
        let block = try FileNameBlock(encoded: String(decoding: blockText, as: UTF8.self))
        var trunk: TrunkLocator? = nil
        if block.sizeField.isTrunk && !block.sizeField.isAppender {
            guard nameBytes.count >= Self.minNameLength + TrunkLocator.encodedLength else {
                throw .trunkLocatorMissing(nameBytes.count)
            }
            let start = nameBytes.startIndex + FileNameBlock.encodedLength
            trunk = try TrunkLocator(encoded: String(decoding: nameBytes[start..<start + TrunkLocator.encodedLength], as: UTF8.self))
        }
        self.storePathIndex = index
        self.subdirHigh = UInt8(Self.hexValue(b[4]) << 4 | Self.hexValue(b[5]))
        self.subdirLow = UInt8(Self.hexValue(b[7]) << 4 | Self.hexValue(b[8]))
        self.name = String(decoding: nameBytes, as: UTF8.self)
        self.block = block
        self.trunk = trunk
    }

    /// `Mxx/HH/HH/<name>`.
    public var text: String { Self.format(storePathIndex, subdirHigh, subdirLow, name) }
    public var description: String { text }
    public var length: Int { Self.logicPathLength + name.utf8.count }

    /// The kind, by the rules of `fdfs_get_file_info` (spec §6.5): the appender flag wins;
    /// then a name longer than a trunk name, or longer than a normal name without the trunk
    /// flag, is a slave.
    public var kind: FileKind {
        if block.sizeField.isAppender { return .appender }
        if length > Self.trunkLength || (length > Self.normalLength && !block.sizeField.isTrunk) { return .slave }
        return block.sizeField.isTrunk ? .trunk : .normal
    }

    /// The size the name tells, or nil for appender and slave files (ask the storage).
    public var sizeFromName: Int64? {
        switch kind {
        case .appender, .slave: nil
        case .normal, .trunk: block.sizeField.size
        }
    }

    /// The path below the store path: `data/HH/HH/<name>`.
    public var relativePath: String {
        "data/" + Self.hex2(subdirHigh) + "/" + Self.hex2(subdirLow) + "/" + name
    }

    /// The file extension without the dot, or "" (for slaves: after the last dot).
    public var fileExtension: String {
        let n = Array(name.utf8)
        let tail: ArraySlice<UInt8>
        if kind == .slave {
            tail = n[(FileNameBlock.encodedLength)...]
            guard let dot = tail.lastIndex(of: UInt8(ascii: ".")) else { return "" }
            return String(decoding: tail[(dot + 1)...], as: UTF8.self)
        }
        tail = n.suffix(FileNameSuffix.length)
        guard let dot = tail.firstIndex(of: UInt8(ascii: ".")) else { return "" }
        return String(decoding: tail[(dot + 1)...], as: UTF8.self)
    }

    /// The name of a slave file of this (master) file (protocol spec §5.2): the master name
    /// without its extension (a `.` within the last 7 characters), then the prefix, then
    /// `.ext` (or the master's own extension when `ext` is nil).
    public func slaveName(prefix: String, extension ext: String?) throws(FileIDError) -> RemoteFilename {
        let p = Array(prefix.utf8)
        guard !p.isEmpty, p.count <= 16, p.allSatisfy(ASCII.isFileNameCharacter) else { throw .invalidSlavePrefix(prefix) }
        let full = Array(text.utf8)
        let tailStart = full.count - (FileNameSuffix.maxExtensionLength + 1)
        let dot = full[tailStart...].firstIndex(of: UInt8(ascii: "."))
        var trueExt: [UInt8]
        if let ext {
            let e = Array(ext.utf8)
            guard e.count <= FileNameSuffix.maxExtensionLength, e.allSatisfy(ASCII.isFileNameCharacter) else {
                throw .invalidExtension(ext)
            }
            trueExt = e.isEmpty ? [] : (e.first == UInt8(ascii: ".") ? e : [UInt8(ascii: ".")] + e)
        } else {
            trueExt = dot.map { Array(full[$0...]) } ?? []
        }
        if trueExt.isEmpty && prefix == "-m" { throw .invalidSlavePrefix(prefix) }
        let base = dot.map { Array(full[..<$0]) } ?? full
        return try RemoteFilename(parsing: String(decoding: base + p + trueExt, as: UTF8.self))
    }

    /// `Mxx/HH/LL/name` (the directory prefix alone with an empty name).
    public static func format(_ index: Int, _ high: UInt8, _ low: UInt8, _ name: String) -> String {
        "M" + hex2(UInt8(truncatingIfNeeded: index)) + "/" + hex2(high) + "/" + hex2(low) + "/" + name
    }

    static func hex2(_ v: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(v >> 4)], digits[Int(v & 0xF)]], as: UTF8.self)
    }

    static func hexValue(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : c - 0x41 + 10 }
}

/// A complete file id, `<group>/<remote filename>` (protocol spec §6.1).
public struct FileID: Hashable, Sendable, CustomStringConvertible {
    /// The C client's limit: 16 (group) + 1 + 127 (remote filename) - 1.
    public static let maxLength = 143

    public let group: GroupName
    public let remoteFilename: RemoteFilename

    public init(group: GroupName, remoteFilename: RemoteFilename) {
        self.group = group
        self.remoteFilename = remoteFilename
    }

    /// Parses `group/Mxx/HH/HH/name`, splitting at the first `/` as the C client does.
    public init(parsing text: some StringProtocol, storePathCount: Int = RemoteFilename.maxStorePathCount) throws(FileIDError) {
        let s = String(text)
        guard let slash = s.utf8.firstIndex(of: UInt8(ascii: "/")) else { throw .missingGroupSeparator(s) }
        let groupText = String(s[..<slash])
        do {
            group = try GroupName(groupText)
        } catch {
            throw .badGroupName(error)
        }
        remoteFilename = try RemoteFilename(parsing: s[s.utf8.index(after: slash)...], storePathCount: storePathCount)
    }

    public var description: String { group.rawValue + "/" + remoteFilename.text }
}

/// Why a file id or remote filename was refused. Each case says what is wrong in words an
/// operator can act on.
public enum FileIDError: Error, Hashable, Sendable, CustomStringConvertible {
    case missingGroupSeparator(String)
    case badGroupName(FDFSNameError)
    case remoteFilenameTooShort(String, Int)
    case remoteFilenameTooLong(Int)
    case missingStorePathPrefix(String)
    case badStorePath(String)
    case storePathIndexOutOfRange(Int, Int)
    case badSubdirectory(String)
    case subdirectoryOutOfRange(Int, Int)
    case extraSlash
    case dotDot
    case invalidNameCharacter(UInt8)
    case badBase64(position: Int, character: UInt8)
    case nameBlockWrongLength(Int)
    case trunkLocatorMissing(Int)
    case invalidExtension(String)
    case invalidSlavePrefix(String)

    public var description: String {
        switch self {
        case .missingGroupSeparator(let s): "file id '\(s)' has no '/' between the group name and the file name"
        case .badGroupName(let e): "bad group name in file id: \(e)"
        case .remoteFilenameTooShort(let s, let n):
            "file name '\(s)' has \(n) characters; a FastDFS name has at least \(RemoteFilename.normalLength) (Mxx/HH/HH/ + 27 + 7)"
        case .remoteFilenameTooLong(let n): "file name has \(n) characters, at most \(RemoteFilename.maxLength) are allowed"
        case .missingStorePathPrefix(let s): "file name '\(s)' does not start with the store path 'Mxx/' (legacy names without it are not accepted)"
        case .badStorePath(let s): "store path part '\(s)' is not 'M' + two uppercase hex digits + '/'"
        case .storePathIndexOutOfRange(let i, let n): "store path index \(i) is out of range (this storage has \(n) store paths)"
        case .badSubdirectory(let s): "directory part '\(s)' is not two uppercase hex digits followed by '/'"
        case .subdirectoryOutOfRange(let v, let n): "directory \(v) is out of range (\(n) subdirectories per level)"
        case .extraSlash: "file name contains an extra '/' after Mxx/HH/HH/"
        case .dotDot: "file name contains '..'"
        case .invalidNameCharacter(let c): "file name contains byte 0x\(RemoteFilename.hex2(c)); only A-Z a-z 0-9 . _ - are allowed"
        case .badBase64(let p, let c):
            "name block character '\(Character(Unicode.Scalar(c)))' at position \(p) is not FastDFS base64 (A-Z a-z 0-9 - _)"
        case .nameBlockWrongLength(let n): "name block has \(n) characters, 27 are expected"
        case .trunkLocatorMissing(let n): "trunk file name has \(n) characters after the directories; 50 are expected"
        case .invalidExtension(let e): "extension '\(e)' is invalid: at most 6 characters of A-Z a-z 0-9 . _ -"
        case .invalidSlavePrefix(let p): "slave prefix '\(p)' is invalid: 1 to 16 characters of A-Z a-z 0-9 . _ - (and not '-m' without extension)"
        }
    }
}

/// Where a file was first stored, as recorded in bytes 0-3 of its name block (protocol spec §6.4).
public enum FileSource: Hashable, Sendable, CustomStringConvertible {
    case ipv4(IPv4Address)
    /// A numeric storage id (1...16777215) from storage_ids.conf.
    case serverID(UInt32)

    public static let maxServerID: UInt32 = 16_777_215

    /// Decodes the 4 bytes the way the C client and tracker do on a little-endian host: read
    /// them as a little-endian integer X; 0 < X <= 16777215 is a server id, anything else an
    /// IPv4 address whose octets are the bytes in order. (An IPv4 address whose last octet is 0
    /// is therefore read as a server id, a limitation of the format.)
    public init(nameBytes b: (UInt8, UInt8, UInt8, UInt8)) {
        let x = UInt32(b.0) | UInt32(b.1) << 8 | UInt32(b.2) << 16 | UInt32(b.3) << 24
        if x > 0 && x <= Self.maxServerID {
            self = .serverID(x)
        } else {
            self = .ipv4(IPv4Address(b.0, b.1, b.2, b.3))
        }
    }

    /// The 4 bytes written into a name block.
    public var nameBytes: [UInt8] {
        switch self {
        case .ipv4(let a): a.bytes
        case .serverID(let id): [UInt8(id & 0xFF), UInt8((id >> 8) & 0xFF), UInt8((id >> 16) & 0xFF), UInt8(id >> 24)]
        }
    }

    public var description: String {
        switch self {
        case .ipv4(let a): a.description
        case .serverID(let id): "server id \(id)"
        }
    }
}

/// Bytes 8-15 of a name block: the file size plus flag bits and 23 random bits (spec §6.5).
public struct FileSizeField: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let appenderFlag: UInt64 = 1 << 58
    public static let trunkFlag: UInt64 = 1 << 59
    public static let randomFlag: UInt64 = 1 << 63
    public static let randomMask: UInt32 = 0x7F_FFFF

    /// A normal file: random high word when the size fits in 32 bits, else the plain size.
    public static func normal(size: Int64, random: UInt32) -> FileSizeField {
        precondition(size >= 0, "file size must not be negative")
        if size < (1 << 32) {
            return FileSizeField(rawValue: (UInt64(0x8000_0000 | (random & randomMask)) << 32) | UInt64(size))
        }
        return FileSizeField(rawValue: UInt64(size))
    }

    public static func appender(random: UInt32) -> FileSizeField {
        FileSizeField(rawValue: (UInt64(0x8000_0000 | (random & randomMask)) << 32) | appenderFlag)
    }

    public static func trunk(size: Int64, random: UInt32) -> FileSizeField {
        precondition(size >= 0 && size < (1 << 32), "trunk files are small")
        return FileSizeField(rawValue: (UInt64(0x8000_0000 | (random & randomMask)) << 32) | UInt64(size) | trunkFlag)
    }

    public var isAppender: Bool { rawValue & Self.appenderFlag != 0 }
    public var isTrunk: Bool { rawValue & Self.trunkFlag != 0 }
    public var hasRandomBits: Bool { rawValue & Self.randomFlag != 0 }
    /// The 23 random bits, when the high word carries them.
    public var randomBits: UInt32? { hasRandomBits ? UInt32(truncatingIfNeeded: rawValue >> 32) & Self.randomMask : nil }

    /// The size rule of `fdfs_get_file_info` (§6.5 rule 3); meaningless for appender files.
    public var size: Int64 {
        if hasRandomBits || isTrunk { return Int64(rawValue & 0xFFFF_FFFF) }
        return Int64(bitPattern: rawValue)
    }
}

/// The 20 bytes behind the 27 base64 characters of a file name (protocol spec §6.2).
public struct FileNameBlock: Hashable, Sendable {
    public var source: FileSource
    /// Unix seconds, signed 32-bit as on the wire.
    public var createTimestamp: Int32
    public var sizeField: FileSizeField
    public var crc32: UInt32

    public static let byteCount = 20
    public static let encodedLength = 27

    public init(source: FileSource, createTimestamp: Int32, sizeField: FileSizeField, crc32: UInt32) {
        self.source = source
        self.createTimestamp = createTimestamp
        self.sizeField = sizeField
        self.crc32 = crc32
    }

    public init(bytes b: [UInt8]) throws(FileIDError) {
        guard b.count == Self.byteCount else { throw .nameBlockWrongLength(b.count) }
        source = FileSource(nameBytes: (b[0], b[1], b[2], b[3]))
        createTimestamp = Int32(bitPattern: UInt32(b[4]) << 24 | UInt32(b[5]) << 16 | UInt32(b[6]) << 8 | UInt32(b[7]))
        var size: UInt64 = 0
        for i in 8..<16 { size = size << 8 | UInt64(b[i]) }
        sizeField = FileSizeField(rawValue: size)
        crc32 = UInt32(b[16]) << 24 | UInt32(b[17]) << 16 | UInt32(b[18]) << 8 | UInt32(b[19])
    }

    public var bytes: [UInt8] {
        var out = source.nameBytes
        let t = UInt32(bitPattern: createTimestamp)
        out += [UInt8(t >> 24), UInt8((t >> 16) & 0xFF), UInt8((t >> 8) & 0xFF), UInt8(t & 0xFF)]
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((sizeField.rawValue >> UInt64(shift)) & 0xFF)) }
        out += [UInt8(crc32 >> 24), UInt8((crc32 >> 16) & 0xFF), UInt8((crc32 >> 8) & 0xFF), UInt8(crc32 & 0xFF)]
        return out
    }

    /// The 27-character encoded form.
    public var encoded: String { FDFSBase64.encode(bytes) }

    public init(encoded text: some StringProtocol) throws(FileIDError) {
        let chars = Array(text.utf8)
        guard chars.count == Self.encodedLength else { throw .nameBlockWrongLength(chars.count) }
        let decoded = try decodeNameCharacters(chars, byteCount: Self.byteCount, firstPosition: 0)
        try self.init(bytes: decoded)
    }
}

/// Where a trunk-stored file sits inside its trunk file (16 extra name characters, spec §6.9).
public struct TrunkLocator: Hashable, Sendable {
    public var trunkFileID: Int32
    public var offset: Int32
    public var allocatedSize: Int32
    public static let encodedLength = 16

    public init(trunkFileID: Int32, offset: Int32, allocatedSize: Int32) {
        self.trunkFileID = trunkFileID
        self.offset = offset
        self.allocatedSize = allocatedSize
    }

    public var encoded: String {
        var bytes: [UInt8] = []
        for v in [trunkFileID, offset, allocatedSize] {
            let u = UInt32(bitPattern: v)
            bytes += [UInt8(u >> 24), UInt8((u >> 16) & 0xFF), UInt8((u >> 8) & 0xFF), UInt8(u & 0xFF)]
        }
        return FDFSBase64.encode(bytes)
    }

    public init(encoded text: some StringProtocol) throws(FileIDError) {
        let chars = Array(text.utf8)
        guard chars.count == Self.encodedLength else { throw .nameBlockWrongLength(chars.count) }
        let b = try decodeNameCharacters(chars, byteCount: 12, firstPosition: FileNameBlock.encodedLength)
        func i32(_ at: Int) -> Int32 {
            Int32(bitPattern: UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3]))
        }
        trunkFileID = i32(0)
        offset = i32(4)
        allocatedSize = i32(8)
    }
}

/// Decodes base64 characters of a file name that must give exactly `byteCount` bytes. No
/// padding is allowed inside a name: `.` is refused like any other foreign character.
func decodeNameCharacters(_ chars: [UInt8], byteCount: Int, firstPosition: Int) throws(FileIDError) -> [UInt8] {
    if let bad = chars.firstIndex(where: { !FDFSBase64.isAlphabetCharacter($0) }) {
        throw .badBase64(position: firstPosition + bad, character: chars[bad])
    }
    guard let bytes = try? FDFSBase64.decode(chars), bytes.count == byteCount else { throw .nameBlockWrongLength(chars.count) }
    return bytes
}

/// What kind of file a name denotes (spec §6.5 decoding rules).
public enum FileKind: String, Hashable, Sendable {
    case normal, appender, trunk, slave
}

/// The 7-character suffix of a generated name: `ddd.ext`, `.tar.gz`, or 7 random digits.
public enum FileNameSuffix {
    public static let length = 7
    public static let maxExtensionLength = 6

    /// Builds the suffix from an extension (no leading dot, 0...6 chars of `[A-Za-z0-9._-]`)
    /// and random digits (at least 7 are needed; extra are ignored).
    public static func make(extension ext: String, randomDigits: String) throws(FileIDError) -> String {
        let e = Array(ext.utf8)
        guard e.count <= maxExtensionLength else { throw .invalidExtension(ext) }
        guard e.allSatisfy(ASCII.isFileNameCharacter) else { throw .invalidExtension(ext) }
        let digits = Array(randomDigits.utf8)
        precondition(digits.count >= length && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }, "7 random decimal digits are required")
        if e.isEmpty { return String(decoding: digits.prefix(length), as: UTF8.self) }
        return String(decoding: digits.prefix(maxExtensionLength - e.count), as: UTF8.self) + "." + ext
    }
}

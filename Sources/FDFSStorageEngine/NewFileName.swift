public import FDFSModel

/// Builds the name of a file this storage creates (protocol spec §6): the 20-byte block
/// (source, creation time, size with flags and 23 random bits, CRC32) in FastDFS base64, the
/// 7-character suffix with random digits, in the chosen store path and subdirectory.
public enum NewFileName {
    public enum Kind: Sendable, Hashable {
        case normal(size: Int64)
        case appender
    }

    /// Checks an upload's extension: at most 6 characters of `[A-Za-z0-9._-]`, and never a
    /// name with `..` (a leading `.` would make the suffix `dd..ext`), which FileID refuses.
    public static func validateExtension(_ ext: String) throws(FileIDError) {
        let b = Array(ext.utf8)
        guard b.count <= FileNameSuffix.maxExtensionLength, b.allSatisfy(ASCII.isFileNameCharacter),
              b.first != UInt8(ascii: "."), !ext.contains("..") else { throw .invalidExtension(ext) }
    }

    public static func make(
        source: FileSource, createTimestamp: Int32, kind: Kind, crc32: UInt32, extension ext: String,
        storePathIndex: Int, subdirHigh: UInt8, subdirLow: UInt8, using rng: inout some RandomNumberGenerator
    ) throws(FileIDError) -> RemoteFilename {
        try validateExtension(ext)
        let random = UInt32.random(in: 0...FileSizeField.randomMask, using: &rng)
        let sizeField: FileSizeField = switch kind {
        case .normal(let size): .normal(size: size, random: random)
        case .appender: .appender(random: random)
        }
        let block = FileNameBlock(source: source, createTimestamp: createTimestamp, sizeField: sizeField, crc32: crc32)
        var digitBytes = [UInt8](repeating: 0, count: FileNameSuffix.length)
        for i in digitBytes.indices { digitBytes[i] = UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &rng) }
        let digits = String(decoding: digitBytes, as: UTF8.self)
        let suffix = try FileNameSuffix.make(extension: ext, randomDigits: digits)
        return try RemoteFilename(storePathIndex: storePathIndex, subdirHigh: subdirHigh, subdirLow: subdirLow, name: block.encoded + suffix)
    }
}

/// Which `HH/HH` directory a new file goes to (cluster spec §7.4).
public struct SubdirectoryCursor: Hashable, Sendable {
    /// `file_distribute_path_mode`.
    public enum Mode: Int, Sendable, Hashable {
        /// The same directory takes `rotateCount` files, then the next one.
        case roundRobin = 0
        /// A hash of the name picks the directory.
        case hash = 1
    }

    public var high: Int
    public var low: Int
    /// Files written to the current directory (persisted as `dist_write_file_count`).
    public var writtenCount: Int
    public let subdirCount: Int
    public let rotateCount: Int

    public init(high: Int = 0, low: Int = 0, writtenCount: Int = 0, subdirCount: Int = 256, rotateCount: Int = 100) {
        precondition((1...256).contains(subdirCount) && rotateCount >= 1, "subdir count 1...256, rotate count >= 1")
        self.high = high % subdirCount
        self.low = low % subdirCount
        self.writtenCount = writtenCount
        self.subdirCount = subdirCount
        self.rotateCount = rotateCount
    }

    /// The directory for the next file in round-robin mode, advancing the cursor.
    public mutating func next() -> (high: UInt8, low: UInt8) {
        let chosen = (UInt8(high), UInt8(low))
        writtenCount += 1
        if writtenCount >= rotateCount {
            writtenCount = 0
            low += 1
            if low >= subdirCount {
                low = 0
                high = (high + 1) % subdirCount
            }
        }
        return chosen
    }

    /// The directory for a name in hash mode: PJW hash of its 27 encoded characters.
    public func hashed(_ encodedBlock: String) -> (high: UInt8, low: UInt8) {
        var h: Int32 = 0
        for b in encodedBlock.utf8 {
            h = (h << 4) &+ Int32(b)
            let g = h & Int32(bitPattern: 0xF000_0000)
            if g != 0 { h = (h ^ (g >> 24)) & 0x0FFF_FFFF }
        }
        let n = Int(UInt32(bitPattern: h) % 65536)
        return (UInt8(((n >> 8) & 0xFF) % subdirCount), UInt8((n & 0xFF) % subdirCount))
    }
}

public import FDFSModel

/// The record a store path mark encodes: which storage created the store path, and when.
///
/// The C struct (`FDFSStorePathMarkInfo`) is
/// `{ char ip_addr[46]; short port; unsigned char store_path_index; char padding; int create_time; }`.
/// §7.3 of the cluster spec counts 54 bytes and 72 characters, but the compiler aligns
/// `create_time` to 4 bytes: there are 2 more zero bytes at offsets 50-51, `sizeof` is 56, and
/// the mark is 75 characters. The marks written by C 6.16.1 confirm it (75 characters, decoding
/// to port 23700 = 0x5C94 at offset 46 and the join time at offset 52).
///
/// The text is FastDFS base64 (`-`/`_` alphabet, C `g_fdfs_base64_context`) **without**
/// padding (C passes `bPad = false`): 18 groups of 3 bytes give 72 characters and the last 2
/// bytes 3 more, 75 in all. (The `FDFSBase64` comment that marks are padded does not apply to
/// the C 6.16.1 files: a 56-byte record would need one `.`, and there is none.) The captured marks happen to use only `A-Za-z0-9`, so they read the same in
/// standard base64; the alphabet choice matters only for marks whose bytes produce `-`/`_`.
/// All integers are host order, little-endian on every platform this package supports.
public struct StorePathMarkRecord: Hashable, Sendable, CustomStringConvertible {
    /// `IP_ADDRESS_SIZE` (INET6_ADDRSTRLEN): the text plus at least one NUL.
    public static let ipAddressFieldSize = 46
    public static let byteCount = 56
    public static let encodedLength = 75

    /// IPv4 or IPv6 text, at most 45 bytes.
    public var ipAddress: String
    /// The service port (C `short`: stored as its 16 bits).
    public var port: Int
    public var storePathIndex: Int
    /// Unix time (seconds) of creation. C stores an `int`: a value outside `Int32` keeps only
    /// its low 32 bits, as in C.
    public var createTime: Int64

    public init(ipAddress: String, port: Int, storePathIndex: Int, createTime: Int64) {
        precondition(ipAddress.utf8.count < Self.ipAddressFieldSize, "IP address text longer than 45 bytes")
        precondition((0...65535).contains(port) && (0...255).contains(storePathIndex), "port or store path index out of range")
        self.ipAddress = ipAddress
        self.port = port
        self.storePathIndex = storePathIndex
        self.createTime = createTime
    }

    public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
        case invalidBase64(FDFSBase64.DecodeError)
        /// The text does not decode to 56 bytes.
        case wrongLength(characters: Int, bytes: Int)

        public var description: String {
            switch self {
            case .invalidBase64(let error): "store path mark is not FastDFS base64: \(error)"
            case .wrongLength(let characters, let bytes):
                "store path mark has \(characters) characters (\(bytes) bytes), expected \(StorePathMarkRecord.encodedLength) (\(StorePathMarkRecord.byteCount) bytes)"
            }
        }
    }

    /// The 56-byte C struct image.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        for (i, b) in ipAddress.utf8.prefix(Self.ipAddressFieldSize - 1).enumerated() { out[i] = b }
        let port16 = UInt16(truncatingIfNeeded: port)
        out[46] = UInt8(port16 & 0xFF)
        out[47] = UInt8(port16 >> 8)
        out[48] = UInt8(truncatingIfNeeded: storePathIndex)
        // 49: the struct's `padding` member; 50-51: alignment of create_time. Both zero (memset).
        let time32 = UInt32(truncatingIfNeeded: createTime)
        for i in 0..<4 { out[52 + i] = UInt8(truncatingIfNeeded: time32 >> (8 * UInt32(i))) }
        return out
    }

    public init(bytes: [UInt8]) throws(DecodeError) {
        guard bytes.count == Self.byteCount else { throw .wrongLength(characters: 0, bytes: bytes.count) }
        let ipField = bytes[0..<(Self.ipAddressFieldSize - 1)]
        let ipEnd = ipField.firstIndex(of: 0) ?? ipField.endIndex
        ipAddress = String(decoding: ipField[..<ipEnd], as: UTF8.self)
        port = Int(UInt16(bytes[46]) | UInt16(bytes[47]) << 8)
        storePathIndex = Int(bytes[48])
        let time32 = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[52 + $1]) << (8 * UInt32($1)) }
        createTime = Int64(Int32(bitPattern: time32))
    }

    /// The 75-character mark.
    public func encoded() -> String { FDFSBase64.encode(bytes, padded: false) }

    public init(decoding mark: String) throws(DecodeError) {
        let decoded: [UInt8]
        do throws(FDFSBase64.DecodeError) {
            decoded = try FDFSBase64.decode(mark)
        } catch {
            throw .invalidBase64(error)
        }
        guard decoded.count == Self.byteCount else {
            throw .wrongLength(characters: mark.utf8.count, bytes: decoded.count)
        }
        try self.init(bytes: decoded)
    }

    /// The fields as the C storage logs them.
    public var description: String {
        "{ ip_addr: \(ipAddress), port: \(port), store_path_index: \(storePathIndex), create_time: \(createTime) }"
    }
}

/// `<store_path>/data/.fastdfs_vars` (cluster spec §7.3): one line `store_path_mark=<mark>`,
/// the same text as `store_path_mark<i>` in `.data_init_flag`. It tells at startup whether a
/// store path belongs to this storage. Marks are compared as text, as C does (`strcmp`);
/// ``StorePathMarkRecord`` only explains them.
public struct StorePathMark: KeyValueStateFile, Hashable {
    public static let fileName = ".fastdfs_vars"
    public static let key = "store_path_mark"

    /// `<store_path>/data/.fastdfs_vars`.
    public static func path(storePath: String) -> String { storePath + "/data/" + fileName }

    public var mark: String

    public init(mark: String) { self.mark = mark }

    public init(record: StorePathMarkRecord) { mark = record.encoded() }

    /// A new mark for a store path (C `storage_generate_store_path_mark`): this storage's first
    /// IP address, its service port, the path's index, the current time.
    public static func generate(ipAddress: String, port: Int, storePathIndex: Int, now unixTime: Int64) -> StorePathMark {
        StorePathMark(record: StorePathMarkRecord(ipAddress: ipAddress, port: port, storePathIndex: storePathIndex, createTime: unixTime))
    }

    /// The decoded record; nil when the text is not a valid mark (C then only logs less detail).
    public var record: StorePathMarkRecord? { try? StorePathMarkRecord(decoding: mark) }

    /// Other keys are ignored, as in C.
    public init(parsing text: String, path: String) throws(StateFileError) {
        mark = try KeyValueFile(parsing: text, path: path).requiredString(Self.key)
    }

    public func format() -> String { KeyValueFile.format([(Self.key, mark)]) }

    /// The mark as the startup check sees it: nil when the file does not exist **or** has no
    /// `store_path_mark` key (C treats both as "no mark").
    public static func loadMark(path: String) throws(StateFileError) -> String? {
        guard let text = try StateFileIO.read(path: path) else { return nil }
        return try KeyValueFile(parsing: text, path: path)[key]
    }

    // MARK: - Startup check

    /// What the storage does with one store path at startup (§7.3, only with
    /// `check_store_path_mark`; without it nothing is checked or written).
    public enum Decision: Hashable, Sendable {
        /// Both marks exist and are equal.
        case accept
        /// Write a new mark to `.fastdfs_vars` and to `.data_init_flag` (``generate(ipAddress:port:storePathIndex:now:)``).
        case generate(GenerateReason)
        /// Refuse to start: the path may belong to another storage.
        case refuse(Refusal)
    }

    public enum GenerateReason: Hashable, Sendable {
        /// Neither file has a mark: a path used for the first time.
        case noMark
        /// `.data_init_flag` has a mark but `.fastdfs_vars` has none (C logs a warning unless
        /// the path was just created, i.e. a replaced disk).
        case storePathMarkMissing
    }

    public enum Refusal: Hashable, Sendable, CustomStringConvertible {
        /// `.fastdfs_vars` has a mark but `.data_init_flag` has none for this path.
        case notInInitFlag(storePathMark: String)
        /// Both have marks and they differ.
        case different(storePathMark: String, initFlagMark: String)

        public var description: String {
            let found: String
            switch self {
            case .notInInitFlag(let mark), .different(let mark, _):
                found = StorePathMarkRecord.describe(mark)
            }
            let why = switch self {
            case .notInInitFlag: "this storage has no mark for it in .data_init_flag"
            case .different(_, let own): "this storage's mark in .data_init_flag is \(StorePathMarkRecord.describe(own))"
            }
            return "the store path may be used by another storage server: its .fastdfs_vars holds \(found), but \(why); "
                + "if it is NOT used by another storage, delete .fastdfs_vars and start again, "
                + "or set check_store_path_mark=false"
        }
    }

    /// The §7.3 decision table (C `storage_check_store_path_mark`), pure.
    /// - Parameters:
    ///   - storePathMark: from ``loadMark(path:)``: nil for no file or no key.
    ///   - initFlagMark: `StorageInitFlag.storePathMarks[index]`.
    public static func decide(storePathMark: String?, initFlagMark: String?) -> Decision {
        switch (storePathMark, initFlagMark) {
        case (let found?, nil): .refuse(.notInInitFlag(storePathMark: found))
        case (let found?, let own?): found == own ? .accept : .refuse(.different(storePathMark: found, initFlagMark: own))
        case (nil, _?): .generate(.storePathMarkMissing)
        case (nil, nil): .generate(.noMark)
        }
    }
}

extension StorePathMarkRecord {
    /// The fields when the text decodes, else the text itself (for messages).
    static func describe(_ mark: String) -> String {
        (try? StorePathMarkRecord(decoding: mark)).map(\.description) ?? "\"\(mark)\""
    }
}

import FDFSFileSystem

/// A place in the binlog: a file index and a byte offset in that file. Mark files store this
/// pair (`binlog_index`, `binlog_offset`, cluster spec §5.6); it always points at the start of
/// a line (or the end of the data).
public struct BinlogPosition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var fileIndex: Int
    public var offsetBytes: Int64

    public init(fileIndex: Int, offsetBytes: Int64) {
        self.fileIndex = fileIndex
        self.offsetBytes = offsetBytes
    }

    /// The beginning of `binlog.000`.
    public static let start = BinlogPosition(fileIndex: 0, offsetBytes: 0)

    public static func < (a: BinlogPosition, b: BinlogPosition) -> Bool {
        (a.fileIndex, a.offsetBytes) < (b.fileIndex, b.offsetBytes)
    }

    public var description: String { "\(BinlogIndex.binlogFileName(fileIndex))@\(offsetBytes)" }
}

/// `binlog_index.dat` (cluster spec §5.1): which binlog file is being appended to and which is
/// the first not yet compressed, as ini lines:
///
///     current_write=0
///     current_compress=0
///
/// Also the names of the files in `<base_path>/data/sync/`.
public struct BinlogIndex: Hashable, Sendable {
    public static let fileName = "binlog_index.dat"
    /// The pre-5.x index file: only the decimal index being written.
    public static let legacyFileName = "binlog.index"
    /// C keeps the index in an `int`; mark files store it the same way.
    public static let fileIndexRange = 0...Int(Int32.max)
    /// Both index files are a few dozen bytes; anything much larger is not an index file.
    public static let maxIndexFileBytes = 4096

    /// The index of the file appended to (`current_write`).
    public let currentWrite: Int
    /// The first index not yet gzip-compressed (`current_compress`); at most ``currentWrite``.
    public let currentCompress: Int

    public init(currentWrite: Int = 0, currentCompress: Int = 0) throws(BinlogError) {
        guard Self.fileIndexRange.contains(currentWrite) else { throw .fileIndexOutOfRange(currentWrite) }
        guard Self.fileIndexRange.contains(currentCompress) else { throw .fileIndexOutOfRange(currentCompress) }
        guard currentCompress <= currentWrite else {
            throw .badIndexFile(path: Self.fileName, reason: "current_compress=\(currentCompress) is after current_write=\(currentWrite)")
        }
        self.currentWrite = currentWrite
        self.currentCompress = currentCompress
    }

    /// The file content, as C writes it.
    public var encoded: String {
        KeyValueFile.format([("current_write", String(currentWrite)), ("current_compress", String(currentCompress))])
    }

    /// Parses `binlog_index.dat` with the storage's ``KeyValueFile`` rules (C's ini reader:
    /// blank and `#` lines skipped, key and value trimmed, unknown keys ignored, a missing key
    /// is 0). Stricter than C: a value that is not a number in range, a line without `=` or a
    /// repeated key is an error rather than 0 or an arbitrary pick.
    public init(parsing bytes: [UInt8], path: String = fileName) throws(BinlogError) {
        guard bytes.count <= Self.maxIndexFileBytes else {
            throw .badIndexFile(path: path, reason: "\(bytes.count) bytes is too large for an index file (at most \(Self.maxIndexFileBytes))")
        }
        let write: Int
        let compress: Int
        do throws(StateFileError) {
            let text = String(decoding: bytes, as: UTF8.self)
            guard text.utf8.elementsEqual(bytes) else { throw StateFileError.invalidEncoding(path: path) }
            let file = try KeyValueFile(parsing: text, path: path)
            write = try file.int("current_write", in: Self.fileIndexRange) ?? 0
            compress = try file.int("current_compress", in: Self.fileIndexRange) ?? 0
        } catch {
            throw .indexFile(error)
        }
        guard compress <= write else {
            throw .badIndexFile(path: path, reason: "current_compress=\(compress) is after current_write=\(write)")
        }
        try self.init(currentWrite: write, currentCompress: compress)
    }

    /// Parses the legacy `binlog.index`: one decimal number (whitespace around it allowed).
    public static func parseLegacy(_ bytes: [UInt8], path: String = legacyFileName) throws(BinlogError) -> Int {
        guard bytes.count <= maxIndexFileBytes, let value = parseIndex(trimmed(bytes[...])) else {
            throw .badIndexFile(path: path, reason: "'\(BinlogRecord.text(bytes[...]))' is not a file index in \(fileIndexRange)")
        }
        return value
    }

    /// `binlog.NNN`: three digits, more once the index passes 999 (C's `%03d`).
    public static func binlogFileName(_ index: Int) -> String {
        let digits = String(index)
        return "binlog." + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }

    public static func binlogPath(syncDirectory: String, index: Int) -> String {
        syncDirectory + "/" + binlogFileName(index)
    }

    /// `<base_path>/data/sync`.
    public static func syncDirectory(basePath: String) -> String { basePath + "/data/sync" }

    /// Where the index came from when it was loaded.
    public enum Source: Hashable, Sendable {
        case indexFile
        /// Only `binlog.index` existed; `binlog_index.dat` should be written.
        case legacyFile
        /// Neither file existed: a new storage, index 0.
        case none
    }

    /// Reads `binlog_index.dat`, else the legacy `binlog.index`, else starts at 0 (cluster
    /// spec §5.1). Writes nothing; ``BinlogWriter`` saves the converted form.
    public static func load(syncDirectory: String) throws(BinlogError) -> (index: BinlogIndex, source: Source) {
        let path = syncDirectory + "/" + fileName
        if let bytes = try readSmallFile(path) {
            return (try BinlogIndex(parsing: bytes, path: path), .indexFile)
        }
        let legacyPath = syncDirectory + "/" + legacyFileName
        if let bytes = try readSmallFile(legacyPath) {
            return (try BinlogIndex(currentWrite: try parseLegacy(bytes, path: legacyPath)), .legacyFile)
        }
        return (try BinlogIndex(), .none)
    }

    /// Writes `binlog_index.dat` atomically (temp file, fsync, rename, directory fsync), so a
    /// crash leaves either the old or the new index, never a mix.
    public func save(syncDirectory: String) throws(BinlogError) {
        try io { () throws(FileSystemError) in
            try FileSystemCalls.replaceFile(syncDirectory + "/" + Self.fileName, with: Array(encoded.utf8), directory: syncDirectory)
        }
    }

    static func readSmallFile(_ path: String) throws(BinlogError) -> [UInt8]? {
        guard let size = try io({ () throws(FileSystemError) in try FileSystemCalls.fileSize(path) }) else { return nil }
        guard size <= Int64(maxIndexFileBytes) else {
            throw .badIndexFile(path: path, reason: "\(size) bytes is too large for an index file (at most \(maxIndexFileBytes))")
        }
        return try io({ () throws(FileSystemError) in try FileSystemCalls.readFile(path) })
    }

    /// Digits only (leading zeros allowed: the file may be edited by hand), within the range.
    static func parseIndex(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 12, bytes.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        let value = bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        return fileIndexRange.contains(value) ? value : nil
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return [] }
        let last = bytes.lastIndex(where: { !isSpace($0) })!
        return bytes[first...last]
    }
}

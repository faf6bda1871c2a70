import FDFSModel
public import FDFSStorageEngine
import FDFSFileSystem
import FDFSProtocol
import FDFSServerCore
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The binlog text a recovering peer asks for with FETCH_ONE_PATH_BINLOG (26, cluster spec
/// §7.6 prepare step 4): the whole binlog from file 0, reduced to what a wiped store path
/// needs to be rebuilt.
///
/// For records of the requested store path (`Mxx/` prefix) only:
/// - create (`C`/`c`) and rename (`R`/`r`, emitted as a create of the new name, same case)
///   of files that still exist;
/// - link (`L`/`l`) with the logical name of the link's target;
/// - what is on disk wins: a create whose name is now a symbolic link is emitted as a link,
///   a link whose name is now a regular file as a create;
/// - every name once (the first record that passes), so a file created, deleted and created
///   again appears once; names of metadata files (`-m`) never, since our metadata lives in
///   the catalog.
///
/// Everything else (deletes, appends, metadata updates, other store paths, files gone since)
/// is left out. The text goes out in chunks of ``chunkBytes`` as it is produced; what stays in
/// memory is the set of names already emitted (about 100 bytes per file).
///
/// The C exporter keeps a temporary mark file (`0.0.0.0.mark`) while it runs; this one reads
/// the binlog in one pass and needs none.
public struct BinlogExport {
    /// Bytes collected before a chunk is handed to the sink.
    public static let chunkBytes = 64 * 1024

    /// What an export did, for the log and for tests.
    public struct Counts: Hashable, Sendable, CustomStringConvertible {
        /// Binlog records read (all store paths).
        public var recordsRead = 0
        /// Lines emitted.
        public var linesExported = 0
        /// Records of the store path whose file no longer exists.
        public var skippedMissing = 0
        /// Records of the store path for a name already emitted.
        public var skippedDuplicates = 0
        /// Records of metadata files (`-m`).
        public var skippedMetadata = 0
        /// Bytes of text emitted.
        public var textBytes: Int64 = 0

        public init() {}

        public var description: String {
            "\(recordsRead) records read, \(linesExported) exported, \(skippedMissing) missing, "
                + "\(skippedDuplicates) duplicates, \(skippedMetadata) metadata, \(textBytes) bytes"
        }
    }

    /// What the export finds at a record's name.
    enum OnDisk: Equatable {
        case missing
        case regularFile
        /// A symbolic link; the logical name of its target when it points into a store path.
        case link(target: String?)
    }

    public let syncDirectory: String
    public let storePaths: [StorePath]
    public let storePathIndex: Int

    public init(syncDirectory: String, storePaths: [StorePath], storePathIndex: Int) {
        precondition(storePaths.indices.contains(storePathIndex), "store path index out of range")
        self.syncDirectory = syncDirectory
        self.storePaths = storePaths
        self.storePathIndex = storePathIndex
    }

    /// Reads the binlog from file 0 up to its end at the time of the call and passes the text
    /// to `emit` in chunks of about ``chunkBytes``.
    public func run(emit: ([UInt8]) async throws -> Void) async throws -> Counts {
        let end = try BinlogReader.endOfLog(syncDirectory: syncDirectory)
        let reader = try BinlogReader(syncDirectory: syncDirectory, position: .start)
        defer { reader.close() }
        let prefix = RemoteFilename.format(storePathIndex, 0, 0, "").prefix(4)  // "Mxx/"
        var counts = Counts()
        var emitted = Set<String>()
        var chunk: [UInt8] = []
        chunk.reserveCapacity(Self.chunkBytes + BinlogRecord.maxLineBytes)
        while let entry = try reader.next(upTo: end) {
            counts.recordsRead += 1
            guard let line = try exportLine(entry.record, prefix: prefix, emitted: &emitted, counts: &counts) else { continue }
            line.encode(into: &chunk)
            counts.linesExported += 1
            if chunk.count >= Self.chunkBytes {
                counts.textBytes += Int64(chunk.count)
                try await emit(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty {
            counts.textBytes += Int64(chunk.count)
            try await emit(chunk)
        }
        return counts
    }

    /// The whole export as one text (tests, small binlogs).
    public func text() async throws -> (text: String, counts: Counts) {
        var bytes: [UInt8] = []
        let counts = try await run { bytes += $0 }
        return (String(decoding: bytes, as: UTF8.self), counts)
    }

    /// The line to export for one record, or nil.
    func exportLine(_ record: BinlogRecord, prefix: Substring, emitted: inout Set<String>, counts: inout Counts) throws -> BinlogRecord? {
        let kind = record.operation.kind
        guard kind == .create || kind == .rename || kind == .link, record.filename.hasPrefix(prefix) else { return nil }
        if record.filename.hasSuffix("-m") {
            counts.skippedMetadata += 1
            return nil
        }
        guard !emitted.contains(record.filename) else {
            counts.skippedDuplicates += 1
            return nil
        }
        let isSource = record.operation.isSource
        let line: BinlogRecord
        switch onDisk(record.filename) {
        case .missing:
            counts.skippedMissing += 1
            return nil
        case .regularFile:
            line = try BinlogRecord(timestampSeconds: record.timestampSeconds, operation: BinlogOperation(kind: .create, isSource: isSource),
                                    filename: record.filename)
        case .link(let target):
            let recorded: String? = if case .linkTarget(let t) = record.extra { t } else { nil }
            guard let source = target ?? recorded else {
                counts.skippedMissing += 1
                return nil
            }
            line = try BinlogRecord(timestampSeconds: record.timestampSeconds, operation: BinlogOperation(kind: .link, isSource: isSource),
                                    filename: record.filename, extra: .linkTarget(source))
        }
        emitted.insert(record.filename)
        return line
    }

    /// What is at a logical name of the exported store path (without following links).
    func onDisk(_ logicalName: String) -> OnDisk {
        let path = storePaths[storePathIndex].dataPath + "/" + logicalName.dropFirst(4)
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return .regularFile
        case S_IFLNK:
            return .link(target: readLink(path).flatMap(logicalName(ofAbsolutePath:)))
        default:
            return .missing
        }
    }

    func readLink(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { readlink(path, $0, b.count - 1) }
        }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// `<store path i>/data/HH/HH/name` -> `Mxx/HH/HH/name`.
    func logicalName(ofAbsolutePath path: String) -> String? {
        for (index, storePath) in storePaths.enumerated() {
            let data = storePath.dataPath + "/"
            if path.hasPrefix(data) { return String(RemoteFilename.format(index, 0, 0, "").prefix(4)) + path.dropFirst(data.count) }
        }
        return nil
    }
}

extension StorageConnectionHandler {
    /// FETCH_ONE_PATH_BINLOG (26): the reply header announces
    /// `FetchOnePathBinlogResponse.unboundedLength`, the text follows as ``BinlogExport``
    /// produces it, then its length as an 8-byte big-endian count, and the connection closes
    /// (always returns true). Another group or a store path index out of range is EINVAL.
    /// A failure after the header can only be told by closing early: the receiver then
    /// misses the trailer.
    func exportBinlog(_ r: FetchOnePathBinlogRequest, _ connection: FDFSConnection) async throws -> Bool {
        let storePaths = store.storePaths
        guard r.group == store.group else { throw StorageError(.EINVAL, "group \(r.group) is not this storage's group \(store.group)") }
        guard Int(r.storePathIndex) < storePaths.count else {
            throw StorageError(.EINVAL, "store path index \(r.storePathIndex) does not exist (this storage has \(storePaths.count))")
        }
        let export = BinlogExport(syncDirectory: store.syncDirectory, storePaths: storePaths, storePathIndex: Int(r.storePathIndex))
        var header = connection.allocator.buffer(capacity: FDFSHeader.size)
        FDFSHeader.response(bodyLength: FetchOnePathBinlogResponse.unboundedLength).encode(into: &header)
        try await connection.write(header)
        let started = ContinuousClock.now
        do {
            let counts = try await export.run { chunk in
                try await connection.write(connection.allocator.buffer(bytes: chunk))
            }
            var trailer = connection.allocator.buffer(capacity: 8)
            trailer.writeInteger(counts.textBytes, endianness: .big)
            try await connection.write(trailer)
            connection.logger.info("binlog of store path exported for disk recovery", metadata: [
                "fdfs.store_path": "\(r.storePathIndex)", "fdfs.export": "\(counts)",
                "fdfs.seconds": "\(ContinuousClock.now - started)",
            ])
        } catch {
            connection.logger.error("binlog export for disk recovery stopped; the peer will retry: \(error)",
                                    metadata: ["fdfs.store_path": "\(r.storePathIndex)"])
        }
        return true
    }
}

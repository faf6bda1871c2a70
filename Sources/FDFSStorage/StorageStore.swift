public import FDFSModel
public import FDFSStorageEngine
public import FDFSProtocol
import FDFSFileSystem
import Synchronization
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A refused storage request: the reply status and, for the log, why.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: FDFSStatus
    public var message: String
    public init(_ status: FDFSStatus, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { "\(status): \(message)" }
}

/// The `<name>-m` form by which the binlog and the sync commands name a file's metadata
/// (the C storage keeps metadata in such a side file; we keep it in the catalog).
public enum MetadataName {
    public static let suffix = "-m"

    public static func filename(of name: RemoteFilename) -> String { name.text + suffix }

    /// The file whose metadata `filename` names, or nil when it is not a metadata name.
    public static func file(_ filename: String, storePathCount: Int) -> RemoteFilename? {
        guard filename.hasSuffix(suffix) else { return nil }
        return try? RemoteFilename(parsing: filename.dropLast(suffix.count), storePathCount: storePathCount)
    }
}

/// Where a new file goes: its store path, directory and the temporary name tag.
public struct UploadPlacement: Sendable, Hashable {
    public var storePathIndex: Int
    public var subdirHigh: UInt8
    public var subdirLow: UInt8
    public var directory: String
    public var tag: String
}

/// The one owner of a storage's files: placement of new files, their names, the binlog and
/// the checks that keep every request inside its store paths. File content is written by the
/// connection handlers (`UploadFile`); everything that changes shared state happens here,
/// under one lock, so the event-loop threads that answer requests call it synchronously
/// (docs/architecture.md, "Threads and the request path"). Nothing under the lock waits for
/// anything but the binlog's write (and its fsync when the policy asks for one per write).
public final class StorageStore: Sendable {
    public let group: GroupName
    public let source: FileSource
    /// The file catalog (`data/catalog.sqlite`), written in batches after the binlog.
    public let catalog: CatalogWriter
    let hasSpace: @Sendable (PathSpace) -> Bool
    /// This process's id and a counter: unique temporary file names without a system call.
    let pid = getpid()
    let temporaryCount = TemporaryCounter()
    /// `<base_path>/data/sync`, where the binlog is.
    let syncDirectory: String

    /// What the lock guards.
    struct State {
        var paths: StorePaths
        var cursor: SubdirectoryCursor
        let binlog: BinlogWriter
        var rng = KernelRandom()
        /// The last free-space reading of each store path and when it was taken: statvfs at
        /// most once per `spaceReadingLifetime` per path, not once per upload.
        var spaceReadings: [(space: PathSpace, taken: ContinuousClock.Instant)?]
        /// Store paths whose data directory is gone (the disk vanished or was unmounted).
        var vanished: Set<Int> = []
    }
    let state: LockedState<State>
    static let spaceReadingLifetime = Duration.seconds(1)

    public init(group: GroupName, source: FileSource, paths: StorePaths, cursor: SubdirectoryCursor, basePath: String,
                catalog: CatalogWriter, binlogSync: BinlogSyncPolicy = .everyWrite,
                hasSpace: @escaping @Sendable (PathSpace) -> Bool) throws(BinlogError) {
        let binlog = try BinlogWriter(basePath: basePath, syncPolicy: binlogSync)
        self.group = group
        self.source = source
        self.storePaths = paths.paths
        self.syncDirectory = binlog.syncDirectory
        self.state = LockedState(State(paths: paths, cursor: cursor, binlog: binlog, spaceReadings: Array(repeating: nil, count: paths.paths.count)))
        self.catalog = catalog
        self.hasSpace = hasSpace
    }

    /// Where a storage keeps its catalog: `<base_path>/data/catalog.sqlite`.
    public static func catalogPath(basePath: String) -> String { basePath + "/data/catalog.sqlite" }

    /// Takes store path `index` out of service for new files until the storage restarts;
    /// false when it already was.
    public func takeOutOfService(_ index: Int) -> Bool {
        state.withLock { $0.paths.takeOutOfService(index) }
    }

    /// What the storage reports to the trackers for each store path (REPORT_DISK_USAGE): its
    /// space; no free space for a path out of service for uploads, so that no tracker names it
    /// in QUERY_STORE; and no space at all (total 0) for a path whose data directory vanished,
    /// so that our trackers route reads of its files to the peers (`onVanished` hears of a path
    /// the first time it is found gone; it is then out of service for uploads too).
    public func diskReport(onVanished: (Int) -> Void = { _ in }) -> [ReportDiskUsageRequest.PathUsage] {
        let paths = state.withLock { $0.paths }
        return paths.paths.indices.map { i in
            var info = stat()
            if stat(paths.paths[i].path + "/data", &info) != 0 {
                let first = state.withLock { s in
                    _ = s.paths.takeOutOfService(i)
                    return s.vanished.insert(i).inserted
                }
                if first { onVanished(i) }
                return .init(totalMB: 0, freeMB: 0)
            }
            let space = (try? paths.space(i)) ?? PathSpace(totalMB: 0, freeMB: 0)
            return .init(totalMB: space.totalMB, freeMB: paths.paths[i].isReadOnly ? 0 : space.freeMB)
        }
    }

    /// Chooses the store path (request index, or -1 for the storage's choice) and directory.
    public func place(requestedStorePath: Int8) throws(StorageError) -> UploadPlacement {
        let hasSpace = hasSpace
        let chosen: Result<(Int, UInt8, UInt8, String), StorageError> = state.withLock { s in
            let index: Int
            do {
                let now = ContinuousClock.now
                let snapshot = s.paths  // `choose` mutates `paths` while the closure reads it
                var readings = s.spaceReadings
                index = try s.paths.choose(requested: Int(requestedStorePath)) { i in
                    if let reading = readings[i], reading.taken.duration(to: now) < Self.spaceReadingLifetime {
                        return hasSpace(reading.space)
                    }
                    guard let space = try? snapshot.space(i) else { return false }
                    readings[i] = (space, now)
                    return hasSpace(space)
                }
                s.spaceReadings = readings
            } catch let error as PlacementError {
                return .failure(StorageError(error.status, error.description))
            } catch {
                return .failure(StorageError(.EIO, "\(error)"))
            }
            let (high, low) = s.cursor.next()
            return .success((index, high, low, s.paths.paths[index].dataPath))
        }
        let (index, high, low, dataPath) = try chosen.get()
        // "Mxx/HH/LL/" without the store path part and the last slash: "HH/LL".
        let subdirectory = RemoteFilename.format(index, high, low, "").dropFirst(4).dropLast()
        return UploadPlacement(storePathIndex: index, subdirHigh: high, subdirLow: low,
                               directory: dataPath + "/" + subdirectory, tag: temporaryTag("up"))
    }

    /// A name for a temporary file of this process, unique while it runs: `<kind><pid>-<n>`.
    public func temporaryTag(_ kind: String) -> String {
        "\(kind)\(pid)-\(temporaryCount.next())"
    }

    /// The name of a file just received.
    public func newName(_ p: UploadPlacement, kind: NewFileName.Kind, crc32: UInt32, extension ext: String, now: Int64) throws(StorageError) -> RemoteFilename {
        let source = source
        let made: Result<RemoteFilename, StorageError> = state.withLock { s in
            do {
                return .success(try NewFileName.make(source: source, createTimestamp: Int32(truncatingIfNeeded: now), kind: kind, crc32: crc32,
                                                     extension: ext, storePathIndex: p.storePathIndex, subdirHigh: p.subdirHigh,
                                                     subdirLow: p.subdirLow, using: &s.rng))
            } catch {
                return .failure(StorageError(.EINVAL, "\(error)"))
            }
        }
        return try made.get()
    }

    /// Records a write this storage accepted from a client (upper-case binlog letter), then
    /// queues its catalog change (written with the next batch).
    public func recordSource(_ kind: BinlogOperation.Kind, _ name: RemoteFilename, now: Int64, extra: BinlogRecord.Extra = .none,
                             catalog change: CatalogChange?) throws(StorageError) {
        try record(BinlogOperation(kind: kind, isSource: true), filename: name.text, timestamp: now, extra: extra, catalog: change)
    }

    /// A metadata change of a client: `U <name>-m`, the record C storages write for the
    /// rewritten metadata file (our metadata lives in the catalog; the name keeps the binlog
    /// readable by C peers and tells our sync to push metadata, cluster spec §5.3).
    public func recordSourceMetadata(_ name: RemoteFilename, now: Int64) throws(StorageError) {
        try record(.sourceUpdate, filename: MetadataName.filename(of: name), timestamp: now, extra: .none, catalog: nil)
    }

    /// Records a write a peer's sync applied here (lower-case letter, the source's timestamp,
    /// cluster spec §6.4), then queues its catalog change.
    public func recordReplica(_ kind: BinlogOperation.Kind, filename: String, timestamp: Int64, extra: BinlogRecord.Extra = .none,
                              catalog change: CatalogChange?) throws(StorageError) {
        try record(BinlogOperation(kind: kind, isSource: false), filename: filename, timestamp: timestamp, extra: extra, catalog: change)
    }

    func record(_ operation: BinlogOperation, filename: String, timestamp: Int64, extra: BinlogRecord.Extra,
                catalog change: CatalogChange?) throws(StorageError) {
        let record: BinlogRecord
        do {
            record = try BinlogRecord(timestampSeconds: max(0, timestamp), operation: operation, filename: filename, extra: extra)
        } catch {
            throw StorageError(.EIO, "binlog: \(error)")
        }
        let catalog = catalog
        let failure: StorageError? = state.withLock { s in
            let end: BinlogPosition
            do {
                end = try s.binlog.append(record)
            } catch {
                return StorageError(.EIO, "binlog: \(error)")
            }
            // Under the lock: the catalog gets the changes in binlog order.
            if let change { catalog.enqueue(change, binlogPosition: end) }
            return nil
        }
        if let failure { throw failure }
    }

    /// Where the binlog ends now: every record before it reached the kernel.
    public var binlogEnd: BinlogPosition { state.withLock { $0.binlog.position } }

    /// The catalog row of a file this storage just accepted from a client.
    public func entry(_ name: RemoteFilename, size: Int64, crc32: UInt32?, created: Int64) -> CatalogEntry {
        CatalogEntry(fileID: name.text, group: group.rawValue, size: size, crc32: name.kind == .appender ? nil : crc32,
                     created: created, isSource: true, kind: name.kind)
    }

    /// Validates a request's group and file name and returns the file's absolute path. A
    /// name of another group or outside the store paths is EINVAL and touches nothing.
    public func resolve(group requested: GroupName, filename: String, storePaths: [StorePath]) throws(StorageError) -> (RemoteFilename, String) {
        guard requested == group else { throw StorageError(.EINVAL, "group \(requested) is not this storage's group \(group)") }
        let name: RemoteFilename
        do {
            name = try RemoteFilename(parsing: filename, storePathCount: storePaths.count)
        } catch {
            throw StorageError(.EINVAL, "\(error)")
        }
        return (name, storePaths[name.storePathIndex].absolutePath(name))
    }

    /// The store paths (fixed for the life of the store: only the rotation cursor moves).
    public let storePaths: [StorePath]

    /// The round-robin subdirectory cursor now (persisted as `dist_path_index_high` /
    /// `dist_path_index_low` / `dist_write_file_count` in `storage_stat.dat`).
    public var subdirectoryCursor: SubdirectoryCursor { state.withLock { $0.cursor } }

    /// fsyncs the binlog (the periodic `sync_binlog_buff_interval` flush; records already
    /// reached the kernel when their reply went out).
    public func syncBinlog() throws(StorageError) {
        if let failure = syncBinlogNow() { throw failure }
    }

    func syncBinlogNow() -> StorageError? {
        state.withLock { s in
            do { try s.binlog.sync() } catch { return StorageError(.EIO, "binlog sync: \(error)") }
            return nil
        }
    }

    /// DELETE_FILE: removes the file, records it, and drops its catalog row with its metadata.
    public func delete(_ name: RemoteFilename, path: String, now: Int64) throws(StorageError) {
        guard unlink(path) == 0 else {
            throw StorageError(errno == ENOENT ? .ENOENT : .EIO, "cannot delete \(name): errno \(errno)")
        }
        try recordSource(.delete, name, now: now, catalog: .delete(fileID: name.text, at: now))
    }
}

/// The counter of temporary file names. (An `Atomic` stored in `StorageStore` itself, whose
/// init throws, crashed the 6.3 optimizer's ownership verifier: keep it in a box.)
final class TemporaryCounter: Sendable {
    private let count = Atomic<UInt64>(0)
    func next() -> UInt64 { count.add(1, ordering: .relaxed).newValue }
}

/// A value only touched under a lock.
final class LockedState<Value>: @unchecked Sendable {
    private let lock = NIOLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try lock.withLock { try body(&value) }
    }
}

public import FDFSModel
public import FDFSStorageEngine
import FDFSFileSystem
import Synchronization
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
/// connection tasks (`UploadFile`); everything that changes shared state happens here.
public actor StorageStore {
    public let group: GroupName
    public let source: FileSource
    var paths: StorePaths
    var cursor: SubdirectoryCursor
    let binlog: BinlogWriter
    /// The file catalog (`data/catalog.sqlite`), written in batches after the binlog.
    public nonisolated let catalog: CatalogWriter
    let hasSpace: @Sendable (PathSpace) -> Bool
    var rng = KernelRandom()
    /// The last free-space reading of each store path and when it was taken: statvfs at most
    /// once per `spaceReadingLifetime` per path, not once per upload.
    var spaceReadings: [(space: PathSpace, taken: ContinuousClock.Instant)?]
    static let spaceReadingLifetime = Duration.seconds(1)
    /// This process's id and a counter: unique temporary file names without a system call.
    nonisolated let pid = getpid()
    nonisolated let temporaryCount = Atomic<UInt64>(0)

    public init(group: GroupName, source: FileSource, paths: StorePaths, cursor: SubdirectoryCursor, basePath: String,
                catalog: CatalogWriter, binlogSync: BinlogSyncPolicy = .everyWrite,
                hasSpace: @escaping @Sendable (PathSpace) -> Bool) throws(BinlogError) {
        self.group = group
        self.source = source
        self.paths = paths
        self.storePaths = paths.paths
        self.cursor = cursor
        self.binlog = try BinlogWriter(basePath: basePath, syncPolicy: binlogSync)
        self.catalog = catalog
        self.hasSpace = hasSpace
        self.spaceReadings = Array(repeating: nil, count: paths.paths.count)
    }

    /// Where a storage keeps its catalog: `<base_path>/data/catalog.sqlite`.
    public static func catalogPath(basePath: String) -> String { basePath + "/data/catalog.sqlite" }

    /// Chooses the store path (request index, or -1 for the storage's choice) and directory.
    public func place(requestedStorePath: Int8) throws(StorageError) -> UploadPlacement {
        let index: Int
        do {
            let now = ContinuousClock.now
            let snapshot = paths  // `choose` mutates `paths` while the closure reads it
            index = try paths.choose(requested: Int(requestedStorePath)) { i in
                if let reading = spaceReadings[i], reading.taken.duration(to: now) < Self.spaceReadingLifetime {
                    return hasSpace(reading.space)
                }
                guard let space = try? snapshot.space(i) else { return false }
                spaceReadings[i] = (space, now)
                return hasSpace(space)
            }
        } catch {
            throw StorageError(error.status, error.description)
        }
        let (high, low) = cursor.next()
        // "Mxx/HH/LL/" without the store path part and the last slash: "HH/LL".
        let subdirectory = RemoteFilename.format(index, high, low, "").dropFirst(4).dropLast()
        return UploadPlacement(storePathIndex: index, subdirHigh: high, subdirLow: low,
                               directory: paths.paths[index].dataPath + "/" + subdirectory, tag: temporaryTag("up"))
    }

    /// A name for a temporary file of this process, unique while it runs: `<kind><pid>-<n>`.
    public nonisolated func temporaryTag(_ kind: String) -> String {
        "\(kind)\(pid)-\(temporaryCount.add(1, ordering: .relaxed).newValue)"
    }

    /// The name of a file just received.
    public func newName(_ p: UploadPlacement, kind: NewFileName.Kind, crc32: UInt32, extension ext: String, now: Int64) throws(StorageError) -> RemoteFilename {
        do {
            return try NewFileName.make(source: source, createTimestamp: Int32(truncatingIfNeeded: now), kind: kind, crc32: crc32,
                                        extension: ext, storePathIndex: p.storePathIndex, subdirHigh: p.subdirHigh,
                                        subdirLow: p.subdirLow, using: &rng)
        } catch {
            throw StorageError(.EINVAL, "\(error)")
        }
    }

    /// Records a write this storage accepted from a client (upper-case binlog letter), then
    /// queues its catalog change (written with the next batch).
    public func recordSource(_ kind: BinlogOperation.Kind, _ name: RemoteFilename, now: Int64, extra: BinlogRecord.Extra = .none,
                             catalog change: CatalogChange?) async throws(StorageError) {
        try await record(BinlogOperation(kind: kind, isSource: true), filename: name.text, timestamp: now, extra: extra, catalog: change)
    }

    /// A metadata change of a client: `U <name>-m`, the record C storages write for the
    /// rewritten metadata file (our metadata lives in the catalog; the name keeps the binlog
    /// readable by C peers and tells our sync to push metadata, cluster spec §5.3).
    public func recordSourceMetadata(_ name: RemoteFilename, now: Int64) async throws(StorageError) {
        try await record(.sourceUpdate, filename: MetadataName.filename(of: name), timestamp: now, extra: .none, catalog: nil)
    }

    /// Records a write a peer's sync applied here (lower-case letter, the source's timestamp,
    /// cluster spec §6.4), then queues its catalog change.
    public func recordReplica(_ kind: BinlogOperation.Kind, filename: String, timestamp: Int64, extra: BinlogRecord.Extra = .none,
                              catalog change: CatalogChange?) async throws(StorageError) {
        try await record(BinlogOperation(kind: kind, isSource: false), filename: filename, timestamp: timestamp, extra: extra, catalog: change)
    }

    func record(_ operation: BinlogOperation, filename: String, timestamp: Int64, extra: BinlogRecord.Extra,
                catalog change: CatalogChange?) async throws(StorageError) {
        do {
            let record = try BinlogRecord(timestampSeconds: max(0, timestamp), operation: operation, filename: filename, extra: extra)
            _ = try binlog.append(record)
        } catch {
            throw StorageError(.EIO, "binlog: \(error)")
        }
        if let change { await catalog.enqueue(change) }
    }

    /// Where the binlog ends now: every record before it reached the kernel.
    public var binlogEnd: BinlogPosition { binlog.position }

    /// The catalog row of a file this storage just accepted from a client.
    public nonisolated func entry(_ name: RemoteFilename, size: Int64, crc32: UInt32?, created: Int64) -> CatalogEntry {
        CatalogEntry(fileID: name.text, group: group.rawValue, size: size, crc32: name.kind == .appender ? nil : crc32,
                     created: created, isSource: true, kind: name.kind)
    }

    /// Validates a request's group and file name and returns the file's absolute path. A
    /// name of another group or outside the store paths is EINVAL and touches nothing.
    public nonisolated func resolve(group requested: GroupName, filename: String, storePaths: [StorePath]) throws(StorageError) -> (RemoteFilename, String) {
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
    public nonisolated let storePaths: [StorePath]

    /// fsyncs the binlog (the periodic `sync_binlog_buff_interval` flush; records already
    /// reached the kernel when their reply went out).
    public func syncBinlog() throws(StorageError) {
        do { try binlog.sync() } catch { throw StorageError(.EIO, "binlog sync: \(error)") }
    }

    /// DELETE_FILE: removes the file, records it, and drops its catalog row with its metadata.
    public func delete(_ name: RemoteFilename, path: String, now: Int64) async throws(StorageError) {
        guard unlink(path) == 0 else {
            throw StorageError(errno == ENOENT ? .ENOENT : .EIO, "cannot delete \(name): errno \(errno)")
        }
        try await recordSource(.delete, name, now: now, catalog: .remove(fileID: name.text))
    }
}


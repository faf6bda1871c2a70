import FDFSClient
import FDFSFileSystem
public import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSStorageEngine
import Foundation
import Synchronization
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a storage has received from each peer: the largest source timestamp of the records a
/// peer's sync applied here (cluster spec §6.4), sent to the trackers in SYNC_REPORT (§1.7) so
/// that they route reads of fresh files only to members that have them (docs/routing.md).
public final class SyncReceiveProgress: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var synced: [StorageID: Int64] = [:]
    private var changeCount: UInt64 = 0

    public init() {}

    /// A record from `source` with source time `timestamp` was applied.
    public func applied(from source: StorageID, timestamp: Int64) {
        lock.lock()
        defer { lock.unlock() }
        if timestamp > synced[source] ?? 0 {
            synced[source] = timestamp
            changeCount &+= 1
        }
    }

    /// The timestamps now and the change count they reflect.
    public func snapshot() -> (changeCount: UInt64, synced: [StorageID: Int64]) {
        lock.lock()
        defer { lock.unlock() }
        return (changeCount, synced)
    }
}

/// Per-connection facts of the sync commands: the peer that identified itself with
/// REPORT_SERVER_ID (cluster spec §6.4). Records on connections without it (C's extra parallel
/// connections) update only `last_sync_update`.
///
/// One per connection, shared by the immediate path and `handle` (`ConnectionLocal`).
final class SyncConnectionState: Sendable {
    /// Whether the dialer proved the cluster secret (with `cluster_secret` set).
    let cluster = ClusterAuthState()
    private let sender = Mutex<StorageID?>(nil)
    var senderID: StorageID? {
        get { sender.withLock { $0 } }
        set { sender.withLock { $0 = newValue } }
    }
    /// The packet size of the sync request `handle` is serving (0 for other requests), for
    /// the sync-in byte counters.
    private let bytes = Atomic<Int64>(0)
    var requestBytes: Int64 {
        get { bytes.load(ordering: .relaxed) }
        set { bytes.store(newValue, ordering: .relaxed) }
    }
}

/// A replica record to write once the content of a sync command is in place.
struct ReplicaRecord {
    var kind: BinlogOperation.Kind
    var filename: String
    var timestamp: Int64
    var extra: BinlogRecord.Extra = .none
    var catalog: CatalogChange?
}

/// A whole file arriving by SYNC_CREATE_FILE / SYNC_UPDATE_FILE.
struct SyncFileWrite {
    let file: UploadFile
    let name: RemoteFilename
    let isCreate: Bool
    let timestamp: Int64
}

/// The receiving side of replication (cluster spec §6.4, §6.5): the storage -> storage commands
/// 9, 16, 17, 18, 19, 25, 35, 37, 40. Every applied record goes to the binlog in lower case with
/// the sender's timestamp and into the catalog; whole files are checked against the CRC32 and
/// size in their name before they are renamed into place.
extension StorageConnectionHandler {
    /// The storage -> storage commands whose bytes count as sync-in.
    static let syncCommands: Set<UInt8> = Set([StorageToStorageCommand.syncCreateFile, .syncDeleteFile, .syncUpdateFile, .syncCreateLink,
                                               .syncAppendFile, .syncModifyFile, .syncTruncateFile, .syncRenameFile].map(\.rawValue))

    /// The success reply of a sync request: counts its bytes as received.
    func replySynced(_ connection: FDFSConnection, _ state: SyncConnectionState) async throws {
        try await connection.reply(EmptyBody())
        stats.syncReceived(bytes: state.requestBytes)
    }

    /// The fixed part of a streamed sync command arrived: where its content goes.
    func beginSyncStream(_ request: any FDFSRequest) throws -> Incoming? {
        switch request {
        case let r as any SyncFileRequest:
            let isCreate = r is SyncCreateFileRequest
            let paths = store.storePaths
            guard r.group == store.group else { throw StorageError(.EINVAL, "group \(r.group) is not this storage's group \(store.group)") }
            let timestamp = Int64(r.timestamp)
            if let file = MetadataName.file(r.filename, storePathCount: paths.count) {
                guard r.hasContent else {
                    return .discard(StorageError(.EEXIST, "metadata of \(file) sent without content"), nil)
                }
                guard r.fileSize <= Self.maxMetadataBytes else {
                    throw StorageError(.EINVAL, "metadata of \(file) is \(r.fileSize) bytes")
                }
                return .syncMetadata(MetadataBuffer(file: file, filename: r.filename, timestamp: timestamp, isCreate: isCreate))
            }
            let (name, path) = try store.resolve(group: r.group, filename: r.filename, storePaths: paths)
            let existing = try? regularFileStatus(path)
            if existing == nil && deletedSince(name, timestamp) {
                // Deleted here after this version was written: it stays deleted. EEXIST tells
                // the sender this record is done.
                return .discard(StorageError(.EEXIST, "\(name) was deleted here after this version; not created again"), nil)
            }
            let record = ReplicaRecord(kind: isCreate ? .create : .update, filename: name.text, timestamp: timestamp,
                                       catalog: existing.map { .upsert(replicaEntry(name, size: $0.size, crc32: nil, created: timestamp)) })
            guard r.hasContent else {
                // "Same file, no content" (the sender saw our EEXIST before): nothing to write.
                return .discard(StorageError(.EEXIST, "\(name) exists"), existing == nil ? nil : record)
            }
            if isCreate, let existing, existing.size == r.fileSize {
                return .discard(StorageError(.EEXIST, "\(name) exists with \(existing.size) bytes"), record)
            }
            let directory = String(path[..<path.lastIndex(of: "/")!])
            do {
                let file = try opening { () throws(FileSystemError) in
                    try UploadFile(directory: directory, tag: store.temporaryTag("cp"), policy: fileSync)
                }
                return .syncFile(SyncFileWrite(file: file, name: name, isCreate: isCreate, timestamp: timestamp))
            } catch {
                throw StorageError(.EIO, "\(error)")
            }
        case let r as any SyncRangeRequest:
            let isAppend = r is SyncAppendFileRequest
            let (name, path) = try store.resolve(group: r.group, filename: r.filename, storePaths: store.storePaths)
            let record = ReplicaRecord(kind: isAppend ? .append : .modify, filename: name.text, timestamp: Int64(r.timestamp),
                                       extra: .range(offsetBytes: r.offset, lengthBytes: r.length))
            var info = stat()
            guard lstat(path, &info) == 0 else { return .discard(StorageError(.ENOENT, "\(name) is missing"), nil) }
            guard (info.st_mode & S_IFMT) == S_IFREG else { return .discard(StorageError(.EEXIST, "\(name) is not a regular file"), nil) }
            let size = Int64(info.st_size)
            if isAppend {
                if size >= r.offset + r.length { return .discard(StorageError(.EEXIST, "\(name) already has these bytes"), nil) }
                // A gap or a partial overlap: the sender resends the whole file.
                guard size == r.offset else { return .discard(StorageError(.ENOENT, "\(name) has \(size) bytes, append at \(r.offset)"), nil) }
            } else if size < r.offset {
                return .discard(StorageError(.ENOENT, "\(name) has \(size) bytes, modify at \(r.offset)"), nil)
            }
            let write = try opening { () throws(StorageError) in
                try RangeWrite(name: name, path: path, kind: isAppend ? .append : .modify, offset: r.offset, length: r.length)
            }
            return .syncRange(write, record)
        default:
            return nil
        }
    }

    /// The content of a streamed sync command is complete: put it in place and record it.
    func finishSync(_ incoming: Incoming, _ connection: FDFSConnection, _ state: SyncConnectionState) async throws -> Bool {
        switch incoming {
        case .syncFile(let w):
            try placeSyncFile(w, state)
            try await replySynced(connection, state)
        case .syncMetadata(let m):
            let paths = store.storePaths
            let path = paths[m.file.storePathIndex].absolutePath(m.file)
            if let (size, mtime) = try? regularFileStatus(path) {
                let items = FDFSMetadata(wire: m.bytes).entries.map { CatalogMetadataItem($0.name, $0.value) }
                let file = replicaEntry(m.file, size: size, crc32: m.file.kind == .normal ? m.file.block.crc32 : nil, created: mtime)
                do { try await store.catalog.commit(.setMetadata(file: file, items: items, merge: false)) } catch {
                    throw StorageError(.EIO, "\(error)")
                }
                try applied(ReplicaRecord(kind: m.isCreate ? .create : .update, filename: m.filename, timestamp: m.timestamp), state)
            }
            // The file itself is gone (deleted since): its metadata went with it.
            try await replySynced(connection, state)
        case .syncRange(let w, var record):
            defer { w.close() }
            let (size, _) = try w.finish(sync: fileSync.beforeReply, modificationTime: record.timestamp)
            record.catalog = .resize(fileID: w.name.text, size: size)
            try applied(record, state)
            try await replySynced(connection, state)
        case .discard(let error, let record):
            if let record { try applied(record, state) }
            throw error
        default:
            preconditionFailure("not a sync stream")
        }
        return false
    }

    /// A whole file of SYNC_CREATE_FILE / SYNC_UPDATE_FILE is received: check it against its
    /// name, move it into place, record it.
    func placeSyncFile(_ w: SyncFileWrite, _ state: SyncConnectionState) throws {
        let size = w.file.writtenBytes
        if case .normal = w.name.kind {
            // The name carries the content's size and CRC32: a mismatch is a damaged copy.
            guard w.name.sizeFromName == size, w.name.block.crc32 == w.file.crc32 else {
                throw StorageError(.EIO, "\(w.name): received \(size) bytes with CRC32 \(hex(w.file.crc32)), the name says "
                                   + "\(w.name.sizeFromName ?? -1) bytes with \(hex(w.name.block.crc32)); not stored")
            }
        }
        do {
            try w.file.replace(as: w.name.name, modificationTime: w.timestamp)
        } catch {
            throw StorageError(.EIO, "\(error)")
        }
        // A delete of this name stamped no earlier that arrived while the content streamed in
        // (the 30-minute chaos campaign found one): the file does not stay.
        if deletedSince(w.name, w.timestamp) {
            _ = unlink(store.storePaths[w.name.storePathIndex].absolutePath(w.name))
            throw StorageError(.EEXIST, "\(w.name) was deleted here while it was being received; not kept")
        }
        let crc: UInt32? = switch w.name.kind {
        case .normal, .trunk: w.name.block.crc32
        case .slave: w.file.crc32
        case .appender: nil
        }
        let entry = replicaEntry(w.name, size: size, crc32: crc, created: w.timestamp)
        try applied(ReplicaRecord(kind: w.isCreate ? .create : .update, filename: w.name.text, timestamp: w.timestamp,
                                        catalog: .upsert(entry)), state)
    }

    /// The non-streamed sync commands; nil when `request` is not one of them.
    func serveSync(_ request: any FDFSRequest, _ connection: FDFSConnection, _ state: SyncConnectionState) async throws -> Bool? {
        switch request {
        case let r as ReportServerIDRequest:
            state.senderID = r.storageID
            try await connection.reply(EmptyBody()) // not a sync request: no bytes counted
        case let r as SyncDeleteFileRequest:
            try await syncDelete(r, state)
            try await replySynced(connection, state)
        case let r as SyncTruncateFileRequest:
            try await syncTruncate(r, state)
            try await replySynced(connection, state)
        case let r as SyncCreateLinkRequest:
            try await syncLink(r, state)
            try await replySynced(connection, state)
        case let r as SyncRenameFileRequest:
            try await syncRename(r, state)
            try await replySynced(connection, state)
        default:
            return nil
        }
        return false
    }

    /// SYNC_DELETE_FILE (17): the file (or its metadata) goes; ENOENT when it is not there.
    func syncDelete(_ r: SyncDeleteFileRequest, _ state: SyncConnectionState) async throws {
        let paths = store.storePaths
        guard r.group == store.group else { throw StorageError(.EINVAL, "group \(r.group) is not this storage's group \(store.group)") }
        if let file = MetadataName.file(r.filename, storePathCount: paths.count) {
            let path = paths[file.storePathIndex].absolutePath(file)
            if let (size, mtime) = try? regularFileStatus(path) {
                let entry = replicaEntry(file, size: size, crc32: nil, created: mtime)
                do { try await store.catalog.commit(.setMetadata(file: entry, items: [], merge: false)) } catch {
                    throw StorageError(.EIO, "\(error)")
                }
            }
            try applied(ReplicaRecord(kind: .delete, filename: r.filename, timestamp: Int64(r.timestamp)), state)
            return
        }
        let (name, path) = try store.resolve(group: r.group, filename: r.filename, storePaths: paths)
        try syncDeleteFile(name, path: path, timestamp: r.timestamp, state)
    }

    /// SYNC_DELETE_FILE of a data file: unlink, record. A file that is not here (its create has
    /// not arrived yet, from a slower peer) gets its tombstone all the same, so that the create
    /// does not bring it back when it arrives; the answer is still ENOENT.
    func syncDeleteFile(_ name: RemoteFilename, path: String, timestamp: Int32, _ state: SyncConnectionState) throws {
        // The tombstone (and the row's removal) before the unlink: a create of this name being
        // received on another connection checks for it after placing its file
        // (`placeSyncFile`), so whichever order the two take, the file does not stay. Queued
        // before the binlog record, it is committed no later than any change recorded after
        // it, so the record itself carries no catalog change.
        store.catalog.enqueue(.delete(fileID: name.text, at: Int64(timestamp)))
        let record = ReplicaRecord(kind: .delete, filename: name.text, timestamp: Int64(timestamp))
        guard unlink(path) == 0 else {
            let missing = errno == ENOENT
            let why = errno
            if missing { try applied(record, state) }
            throw StorageError(missing ? .ENOENT : .EIO, "cannot delete \(name): errno \(why)")
        }
        try applied(record, state)
    }

    /// Whether a create or update of `name` stamped `timestamp` comes after this storage deleted
    /// the name: a peer that had not seen the delete yet sends it late (see `CatalogChange.delete`).
    func deletedSince(_ name: RemoteFilename, _ timestamp: Int64) -> Bool {
        guard let deleted = try? store.catalog.deletedAt(name.text) else { return false }
        return deleted >= timestamp
    }

    /// SYNC_TRUNCATE_FILE (37): only when the file still has the old size (else EEXIST: done).
    func syncTruncate(_ r: SyncTruncateFileRequest, _ state: SyncConnectionState) async throws {
        let (name, path) = try store.resolve(group: r.group, filename: r.filename, storePaths: store.storePaths)
        var info = stat()
        guard lstat(path, &info) == 0 else { throw StorageError(.ENOENT, "\(name) is missing") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw StorageError(.EEXIST, "\(name) is not a regular file") }
        guard Int64(info.st_size) == r.oldSize else {
            throw StorageError(.EEXIST, "\(name) has \(info.st_size) bytes, not \(r.oldSize): truncate skipped")
        }
        guard truncate(path, off_t(r.newSize)) == 0 else { throw StorageError(.EIO, "truncate \(path): errno \(errno)") }
        setModificationTime(path, Int64(r.timestamp))
        try applied(ReplicaRecord(kind: .truncate, filename: name.text, timestamp: Int64(r.timestamp),
                                        extra: .sizes(oldSizeBytes: r.oldSize, newSizeBytes: r.newSize),
                                        catalog: .resize(fileID: name.text, size: r.newSize)), state)
    }

    /// SYNC_CREATE_LINK (19): a symbolic link to the absolute path of the source name. Always
    /// answered 0 and recorded (an existing link or a missing source creates nothing).
    func syncLink(_ r: SyncCreateLinkRequest, _ state: SyncConnectionState) async throws {
        let paths = store.storePaths
        let (link, linkPath) = try store.resolve(group: r.group, filename: r.linkName, storePaths: paths)
        let (source, sourcePath) = try store.resolve(group: r.group, filename: r.sourceName, storePaths: paths)
        var info = stat()
        var change: CatalogChange? = nil
        if lstat(linkPath, &info) != 0, let (size, _) = try? regularFileStatus(sourcePath) {
            if symlink(sourcePath, linkPath) != 0 && errno != EEXIST {
                throw StorageError(.EIO, "cannot link \(link) to \(source): errno \(errno)")
            }
            change = .upsert(replicaEntry(link, size: size, crc32: nil, created: Int64(r.timestamp)))
        }
        // The whole record, not the empty one of C 6.13+ (cluster spec §10.1).
        try applied(ReplicaRecord(kind: .link, filename: link.text, timestamp: Int64(r.timestamp),
                                        extra: .linkTarget(source.text), catalog: change), state)
    }

    /// SYNC_RENAME_FILE (40): the appender file gets its regular name; EEXIST when the new
    /// name is already there, ENOENT when the old one is not.
    func syncRename(_ r: SyncRenameFileRequest, _ state: SyncConnectionState) async throws {
        let paths = store.storePaths
        let (new, newPath) = try store.resolve(group: r.group, filename: r.newName, storePaths: paths)
        let (old, oldPath) = try store.resolve(group: r.group, filename: r.oldName, storePaths: paths)
        var info = stat()
        guard lstat(newPath, &info) != 0 else { throw StorageError(.EEXIST, "\(new) exists") }
        guard rename(oldPath, newPath) == 0 else {
            throw StorageError(errno == ENOENT ? .ENOENT : .EIO, "cannot rename \(old) to \(new): errno \(errno)")
        }
        let (size, _) = try regularFileStatus(newPath)
        let entry = replicaEntry(new, size: size, crc32: new.block.crc32, created: Int64(r.timestamp))
        try applied(ReplicaRecord(kind: .rename, filename: new.text, timestamp: Int64(r.timestamp),
                                        extra: .renamedFrom(old.text), catalog: .rename(from: old.text, to: entry)), state)
    }

    /// Binlog, catalog, the sender's progress and `last_sync_update`.
    func applied(_ record: ReplicaRecord, _ state: SyncConnectionState) throws {
        try store.recordReplica(record.kind, filename: record.filename, timestamp: record.timestamp, extra: record.extra,
                                      catalog: record.catalog)
        if let sender = state.senderID { progress.applied(from: sender, timestamp: record.timestamp) }
        stats.syncApplied()
    }

    /// The catalog row of a replica; normal files take the CRC32 of their name.
    func replicaEntry(_ name: RemoteFilename, size: Int64, crc32: UInt32?, created: Int64) -> CatalogEntry {
        let crc: UInt32? = switch name.kind {
        case .normal, .trunk: name.block.crc32
        case .slave: crc32
        case .appender: nil
        }
        return CatalogEntry(fileID: name.text, group: store.group.rawValue, size: size, crc32: crc, created: created, isSource: false, kind: name.kind)
    }

    /// The largest metadata content accepted from a peer (a SET_METADATA body is bounded by
    /// the buffered-body limit, far below this).
    static var maxMetadataBytes: Int64 { 16 * 1024 * 1024 }
}

/// Metadata arriving as the content of a `<name>-m` file (the C storage's side-file format,
/// which is the wire format of SET_METADATA).
final class MetadataBuffer {
    let file: RemoteFilename
    let filename: String
    let timestamp: Int64
    let isCreate: Bool
    var bytes: [UInt8] = []

    init(file: RemoteFilename, filename: String, timestamp: Int64, isCreate: Bool) {
        self.file = file
        self.filename = filename
        self.timestamp = timestamp
        self.isCreate = isCreate
    }
}

func setModificationTime(_ path: String, _ seconds: Int64) {
    var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
    _ = utimensat(AT_FDCWD, path, &times, 0)
}

func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

// MARK: - The cluster secret

extension StorageConnectionHandler {
    /// False for a cluster command on a connection that has not proven the secret: `handle`
    /// then refuses it (EACCES) and closes the connection.
    func admitsImmediately(_ header: FDFSHeader, _ context: ImmediateRequestContext) -> Bool {
        // The connection's state is looked up only for the commands the gate guards (not for
        // the downloads and uploads that come this way).
        guard let gate = clusterGate, gate.guards(header.command) else { return true }
        return context.local.object { SyncConnectionState() }.cluster.isProven
    }

    /// Logs a refusal of the cluster gate, at most once a minute per address.
    func refuse(_ connection: FDFSConnection, _ why: String) {
        if let line = clusterGate?.refusalLogLine(of: connection.remoteAddress.ipAddress ?? "?", why) { connection.logger.warning("\(line)") }
    }
}

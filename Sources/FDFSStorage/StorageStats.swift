public import FDFSProtocol
public import FDFSStorageEngine
import Foundation

/// The storage's live statistics (cluster spec §1.4, §7.2): the `storage_stat.dat` counters,
/// the connection counts, and a change counter that tells the reporters and the stat-file
/// writer whether anything moved since they last looked.
///
/// Thread-safe (one lock; every method is a few additions), so the connection handler can
/// count from any task without awaiting. `NSLock` rather than `Synchronization.Mutex`: the
/// package still supports macOS 14, where `Mutex` is unavailable.
///
/// How requests are counted (the connection handler's hooks):
/// * `requested(_:fixedPartBytes:)` when a request's head arrives: `total_*_count` of its
///   operation, and for uploads, appends and modifies `total_*_bytes` (the announced content).
///   A request refused for any reason (bad name, missing file, a cut connection) is counted
///   here and nowhere else.
/// * `succeeded(_:bytes:)` just before a successful reply: `success_*_count`, `success_*_bytes`,
///   and `last_source_update` for operations that change files.
/// * `downloaded(bytes:complete:)` when a download ends: total and success bytes (what was
///   sent), and the success count when the whole range went out.
/// * `syncReceiving` / `syncReceived` around each storage -> storage request, `syncSent` by the
///   pushing side, and `fileOpened` / `fileRead` / `fileWritten` for data-file I/O.
public final class StorageStats: @unchecked Sendable {
    /// The counted operations (the count pairs of `storage_stat.dat`).
    public enum Operation: Hashable, Sendable, CaseIterable {
        case upload, append, modify, truncate, setMetadata, delete, download, getMetadata, createLink, deleteLink

        /// The operation a storage command counts as; nil for commands without counters
        /// (query file info, regenerate appender name, active test, quit). Upload, upload
        /// appender and upload slave all count as uploads, as in C.
        public init?(command: UInt8) {
            switch StorageCommand(rawValue: command) {
            case .uploadFile, .uploadAppenderFile, .uploadSlaveFile: self = .upload
            case .appendFile: self = .append
            case .modifyFile: self = .modify
            case .truncateFile: self = .truncate
            case .setMetadata: self = .setMetadata
            case .deleteFile: self = .delete
            case .downloadFile: self = .download
            case .getMetadata: self = .getMetadata
            case .createLink: self = .createLink
            default: return nil
            }
        }

        var total: WritableKeyPath<StorageCounters, Int64> {
            switch self {
            case .upload: \.totalUploadCount
            case .append: \.totalAppendCount
            case .modify: \.totalModifyCount
            case .truncate: \.totalTruncateCount
            case .setMetadata: \.totalSetMetaCount
            case .delete: \.totalDeleteCount
            case .download: \.totalDownloadCount
            case .getMetadata: \.totalGetMetaCount
            case .createLink: \.totalCreateLinkCount
            case .deleteLink: \.totalDeleteLinkCount
            }
        }

        var success: WritableKeyPath<StorageCounters, Int64> {
            switch self {
            case .upload: \.successUploadCount
            case .append: \.successAppendCount
            case .modify: \.successModifyCount
            case .truncate: \.successTruncateCount
            case .setMetadata: \.successSetMetaCount
            case .delete: \.successDeleteCount
            case .download: \.successDownloadCount
            case .getMetadata: \.successGetMetaCount
            case .createLink: \.successCreateLinkCount
            case .deleteLink: \.successDeleteLinkCount
            }
        }

        /// (total, success) byte counters, for the operations that have them.
        var bytes: (total: WritableKeyPath<StorageCounters, Int64>, success: WritableKeyPath<StorageCounters, Int64>)? {
            switch self {
            case .upload: (\.totalUploadBytes, \.successUploadBytes)
            case .append: (\.totalAppendBytes, \.successAppendBytes)
            case .modify: (\.totalModifyBytes, \.successModifyBytes)
            case .download: (\.totalDownloadBytes, \.successDownloadBytes)
            default: nil
            }
        }

        /// Operations that change files: their success sets `last_source_update`.
        var changesFiles: Bool {
            switch self {
            case .download, .getMetadata: false
            default: true
            }
        }
    }

    struct State {
        var counters: StorageCounters
        var changeCount: UInt64 = 0
        var currentConnections: Int32 = 0
        var maxConnections: Int32 = 0
    }

    private let lock = NSLock()
    private var state: State
    let now: @Sendable () -> Int64

    /// - Parameters:
    ///   - counters: where to continue from (`storage_stat.dat` of the last run).
    ///   - now: unix time in seconds, for `last_source_update` (default: the system clock).
    public init(counters: StorageCounters = StorageCounters(), now: (@Sendable () -> Int64)? = nil) {
        state = State(counters: counters)
        self.now = now ?? { Int64(Date().timeIntervalSince1970) }
    }

    private func update<T>(_ body: (inout State) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }

    // MARK: Counting

    /// One finished request whose outcome is known at once: total, success and bytes.
    public func record(_ op: Operation, success: Bool, bytes: Int64 = 0) {
        let time = success && op.changesFiles ? now() : nil
        update { s in
            s.counters[keyPath: op.total] += 1
            if let b = op.bytes { s.counters[keyPath: b.total] += bytes }
            if success {
                s.counters[keyPath: op.success] += 1
                if let b = op.bytes { s.counters[keyPath: b.success] += bytes }
                if let time { s.counters.lastSourceUpdate = time }
            }
            s.changeCount &+= 1
        }
    }

    /// A request's head arrived: its total count and, for streamed content, total bytes
    /// (the body length after the fixed part). Other commands are ignored. Downloads add their
    /// bytes when they end (``downloaded(bytes:complete:)``).
    public func requested(_ header: FDFSHeader, fixedPartBytes: Int) {
        guard let op = Operation(command: header.command) else { return }
        let content = op == .download ? 0 : max(0, header.bodyLength - Int64(fixedPartBytes))
        update { s in
            s.counters[keyPath: op.total] += 1
            if let b = op.bytes { s.counters[keyPath: b.total] += content }
            s.changeCount &+= 1
        }
    }

    /// A request counted by ``requested(_:fixedPartBytes:)`` succeeded.
    public func succeeded(_ op: Operation, bytes: Int64 = 0) {
        let time = op.changesFiles ? now() : nil
        update { s in
            s.counters[keyPath: op.success] += 1
            if let b = op.bytes { s.counters[keyPath: b.success] += bytes }
            if let time { s.counters.lastSourceUpdate = time }
            s.changeCount &+= 1
        }
    }

    /// A download ended after sending `bytes`; `complete` when that was the whole range.
    public func downloaded(bytes: Int64, complete: Bool) {
        update { s in
            s.counters.totalDownloadBytes += bytes
            if complete {
                s.counters.successDownloadCount += 1
                s.counters.successDownloadBytes += bytes
            }
            s.changeCount &+= 1
        }
    }

    /// A storage -> storage sync request arrived: `total_sync_in_bytes` grows by its packet
    /// (header and body), as the C storage counts it.
    public func syncReceiving(bytes: Int64) {
        update { s in
            s.counters.totalSyncInBytes += bytes
            s.changeCount &+= 1
        }
    }

    /// A sync request counted by ``syncReceiving(bytes:)`` was answered with success.
    public func syncReceived(bytes: Int64) {
        update { s in
            s.counters.successSyncInBytes += bytes
            s.changeCount &+= 1
        }
    }

    /// This storage pushed a sync request of `bytes` (header, body and content) to a peer;
    /// `success` when the peer accepted it. (The C storage leaves the sync-out pair at 0.)
    public func syncSent(bytes: Int64, success: Bool) {
        update { s in
            s.counters.totalSyncOutBytes += bytes
            if success { s.counters.successSyncOutBytes += bytes }
            s.changeCount &+= 1
        }
    }

    /// A data file was opened (for an upload, a download, an append, a modify or an incoming
    /// copy): `*_file_open_count`.
    public func fileOpened(success: Bool) { count(\.totalFileOpenCount, \.successFileOpenCount, success: success) }

    /// One read of a data file for a download (one read call, or one sendfile hand-over for a
    /// large range): `*_file_read_count`.
    public func fileRead(success: Bool) { count(\.totalFileReadCount, \.successFileReadCount, success: success) }

    /// One write of received content into a data file (one per received chunk):
    /// `*_file_write_count`.
    public func fileWritten(success: Bool) { count(\.totalFileWriteCount, \.successFileWriteCount, success: success) }

    /// One more in a total/success count pair.
    private func count(_ total: WritableKeyPath<StorageCounters, Int64>, _ succeeded: WritableKeyPath<StorageCounters, Int64>, success: Bool) {
        update { s in
            s.counters[keyPath: total] += 1
            if success { s.counters[keyPath: succeeded] += 1 }
            s.changeCount &+= 1
        }
    }

    /// A peer's sync record was applied here: `last_sync_update`.
    public func syncApplied() {
        let time = now()
        update { s in
            s.counters.lastSyncUpdate = time
            s.changeCount &+= 1
        }
    }

    public func connectionOpened() {
        update { s in
            s.currentConnections += 1
            s.maxConnections = max(s.maxConnections, s.currentConnections)
        }
    }

    public func connectionClosed() { update { s in s.currentConnections -= 1 } }

    // MARK: Reading

    /// The counters now.
    public var counters: StorageCounters { update { $0.counters } }

    /// Grows with every counted event (connections excluded); equal values mean nothing
    /// changed in between.
    public var changeCount: UInt64 { update { $0.changeCount } }

    /// The 348-byte BEAT block (cluster spec §1.4) and the change count it reflects. The
    /// connection alloc count is the highest number of simultaneous connections (our
    /// connections are allocated on demand, not from a pool); the last two fields are 0, as C
    /// sends them.
    public func snapshot() -> (changeCount: UInt64, statistics: StorageStatistics) {
        let s = update { $0 }
        return (s.changeCount, Self.statistics(s.counters, current: s.currentConnections, max: s.maxConnections))
    }

    /// The wire record of some counters, field by field through the C names.
    public static func statistics(_ counters: StorageCounters, current: Int32 = 0, max: Int32 = 0) -> StorageStatistics {
        var wire = StorageStatistics()
        wire.connectionAllocCount = max
        wire.connectionCurrentCount = current
        wire.connectionMaxCount = max
        wire.int64Fields = StorageStatistics.int64FieldNames.map { counters.value(forKey: $0) ?? 0 }
        return wire
    }
}

import FDFSFileSystem
public import FDFSModel
import FDFSStorageEngine
import Foundation
public import Logging
public import ServiceLifecycle

/// How far each peer is behind this storage's binlog: what the sync tasks publish, written to
/// `<base_path>/data/peer_sync.dat` and logged when a peer's state changes.
public final class SyncLagBoard: @unchecked Sendable {
    public enum State: String, Sendable, CustomStringConvertible {
        /// The peer is INIT, OFFLINE or ONLINE: nothing is pushed.
        case idle
        /// No old-data duty: waiting until the new member is ACTIVE.
        case waitingForActive = "waiting_for_active"
        /// Records are being pushed.
        case catchingUp = "catching_up"
        /// At the end of the binlog.
        case caughtUp = "caught_up"
        /// The last session failed; it is retried.
        case disconnected
        /// Outside `sync_start_time`..`sync_end_time`.
        case outsideWindow = "outside_sync_window"
        public var description: String { rawValue }
    }

    public struct Entry: Sendable, Hashable {
        public var state: State = .idle
        /// Binlog records after the peer's confirmed position.
        public var recordsBehind: Int64 = 0
        /// Age of the oldest record not yet confirmed (0 when caught up).
        public var secondsBehind: Int64 = 0
        /// Records pushed to the peer (the mark's `sync_row_count`).
        public var pushedRecords: Int64 = 0
    }

    // Guarded by `lock`.
    private let lock = NSLock()
    private var entries: [StorageID: Entry] = [:]
    private var changeCount: UInt64 = 0
    private var resyncs: Set<StorageID> = []

    /// RESYNC_PEER (our extension): the sync task of `id` pushes everything again from the
    /// start of the binlog. False when this storage has no sync task for `id`.
    public func requestResync(_ id: StorageID) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard entries[id] != nil else { return false }
        resyncs.insert(id)
        return true
    }

    /// Whether a resync of `id` waits to be started.
    func isResyncRequested(_ id: StorageID) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return resyncs.contains(id)
    }

    /// Takes the resync request of `id`, if any.
    func takeResync(_ id: StorageID) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return resyncs.remove(id) != nil
    }

    public init() {}

    @discardableResult
    func update<T>(_ id: StorageID, _ body: (inout Entry) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        var e = entries[id] ?? Entry()
        let result = body(&e)
        if entries[id] != e {
            entries[id] = e
            changeCount &+= 1
        }
        return result
    }

    func remove(_ id: StorageID) {
        lock.lock()
        defer { lock.unlock() }
        entries[id] = nil
        changeCount &+= 1
    }

    public func snapshot() -> (changeCount: UInt64, entries: [StorageID: Entry]) {
        lock.lock()
        defer { lock.unlock() }
        return (changeCount, entries)
    }

    /// `peer.<id>.<key>=<value>` lines, peers in id order.
    public static func format(_ entries: [StorageID: Entry]) -> String {
        var out = ""
        for (id, e) in entries.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            out += "peer.\(id).state=\(e.state)\n"
            out += "peer.\(id).records_behind=\(e.recordsBehind)\n"
            out += "peer.\(id).seconds_behind=\(e.secondsBehind)\n"
            out += "peer.\(id).pushed_records=\(e.pushedRecords)\n"
        }
        return out
    }

    public static func path(basePath: String) -> String { basePath + "/data/peer_sync.dat" }
}

/// Starts one `PeerSync` task for every peer the storage learns from the leader's lists
/// (checked every second, cluster spec §2.5) and rewrites `data/peer_sync.dat` when the
/// lag board changed. A task ends by itself when its peer is deleted.
public struct SyncService: Service {
    let node: StorageNode
    let store: StorageStore
    let settings: SyncSettings
    let calls: TrackerCalls
    public let board: SyncLagBoard
    let logger: Logger

    public init(node: StorageNode, store: StorageStore, settings: SyncSettings, calls: TrackerCalls, board: SyncLagBoard, logger: Logger) {
        self.node = node
        self.store = store
        self.settings = settings
        self.calls = calls
        self.board = board
        self.logger = logger
    }

    public func run() async {
        try? FileManager.default.createDirectory(atPath: SyncMark.directory(basePath: settings.basePath), withIntermediateDirectories: true)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { tasks in
                var started = Set<StorageID>()
                var written: UInt64? = nil
                while !Task.isCancelled {
                    for peer in await node.peers?.peers ?? [] where !started.contains(peer.id) {
                        guard ![StorageStatus.none, .deleted, .ipChanged].contains(peer.status) else { continue }
                        started.insert(peer.id)
                        logger.info("sync task started", metadata: ["fdfs.peer": "\(peer.id)", "fdfs.peer_address": "\(peer.ipAddress):\(peer.port)",
                                                                    "fdfs.status": "\(peer.status)"])
                        let task = PeerSync(peerID: peer.id, node: node, store: store, settings: settings, calls: calls, board: board, logger: logger)
                        tasks.addTask { await task.run() }
                    }
                    let (change, entries) = board.snapshot()
                    if change != written {
                        let text = SyncLagBoard.format(entries)
                        do {
                            try FileSystemCalls.replaceFile(SyncLagBoard.path(basePath: settings.basePath), with: Array(text.utf8), directory: settings.basePath + "/data")
                            written = change
                        } catch {
                            logger.warning("cannot write peer_sync.dat", metadata: ["fdfs.error": "\(error)"])
                        }
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }
}

import FDFSClient
import FDFSFileSystem
public import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
public import Logging
public import NIOCore
public import NIOPosix
import FDFSServerCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the sync tasks of one storage behave (storage.conf and tracker parameters).
public struct SyncSettings: Sendable {
    public var basePath: String
    /// This storage's own service port (mark file names without storage ids, §5.6).
    public var ownPort: Int
    /// The trackers' `use_storage_id`: mark files are named by peer id, else `<ip>_<port>`.
    public var useStorageID: Bool
    public var heartBeatInterval: Duration = .seconds(30)
    /// `sync_wait_msec`: the pause at the end of the binlog.
    public var syncWait: Duration = .milliseconds(100)
    /// `sync_interval`: the pause after each pushed record (0: none).
    public var syncInterval: Duration = .zero
    /// `write_mark_file_freq`: the mark is written after this many pushed records.
    public var markFrequency: Int = 500
    public var connectTimeout: Duration = .seconds(10)
    /// `file_sync_skip_invalid_record`.
    public var skipInvalidRecords = false
    /// The pause before a sync session that ended with an error starts again.
    public var retryDelay: Duration = .seconds(5)
    /// Outgoing connections leave from this address (`bind_addr` with `client_bind`).
    public var bindAddress: String?
    /// `network_timeout`: how long a peer may take to answer a record.
    public var networkTimeout: Duration = .seconds(30)
    /// `sync_start_time`..`sync_end_time` as seconds since local midnight; nil: all day.
    public var syncWindow: (start: Int, end: Int)?

    /// Whether records may be pushed at local time `secondsSinceMidnight` (a window may wrap
    /// past midnight, e.g. 22:00..06:00).
    public func inSyncWindow(secondsSinceMidnight t: Int) -> Bool {
        guard let (start, end) = syncWindow else { return true }
        return start <= end ? (start...end).contains(t) : (t >= start || t <= end)
    }

    /// Seconds since midnight, local time.
    static func localSecondsSinceMidnight() -> Int {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        return Int(parts.tm_hour) * 3600 + Int(parts.tm_min) * 60 + Int(parts.tm_sec)
    }

    var inSyncWindowNow: Bool { inSyncWindow(secondsSinceMidnight: Self.localSecondsSinceMidnight()) }

    public init(basePath: String, ownPort: Int, useStorageID: Bool) {
        self.basePath = basePath
        self.ownPort = ownPort
        self.useStorageID = useStorageID
    }
}

/// Why a sync session ended early.
struct SyncSessionError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One sync task per peer of the group (cluster spec §6.1): it idles while the peer is
/// INIT/OFFLINE/ONLINE, pushes while it is WAIT_SYNC/SYNCING/ACTIVE, and ends when it is
/// DELETED/IP_CHANGED. It reads the binlog from the peer's mark, pushes the records the
/// old-data rule selects (§6.2) one at a time on one connection, and advances the mark only
/// after the peer confirmed a record, so delivery is at least once and in binlog order.
public struct PeerSync: Sendable {
    public let peerID: StorageID
    let node: StorageNode
    let store: StorageStore
    let settings: SyncSettings
    let calls: TrackerCalls
    let board: SyncLagBoard
    let logger: Logger
    /// The loop the task runs on and its connection to the peer lives on: a push is a
    /// request and an answer on that connection, so the task never changes threads for it.
    let eventLoop: any EventLoop

    public init(peerID: StorageID, node: StorageNode, store: StorageStore, settings: SyncSettings, calls: TrackerCalls,
                board: SyncLagBoard, logger: Logger, eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()) {
        self.eventLoop = eventLoop
        self.peerID = peerID
        self.node = node
        self.store = store
        self.settings = settings
        self.calls = calls
        self.board = board
        var logger = logger
        logger[metadataKey: "fdfs.peer"] = "\(peerID)"
        self.logger = logger
    }

    var syncDirectory: String { BinlogIndex.syncDirectory(basePath: settings.basePath) }

    func current() async -> PeerTable.Peer? { await node.peers?.peer(peerID) }

    public func run() async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop)) { await runOnLoop() }
    }

    func runOnLoop() async {
        board.update(peerID) { $0.state = .idle }
        let clock = ContinuousClock()
        var failures = 0
        while !Task.isCancelled {
            guard let peer = await current() else { return }
            switch peer.status {
            case .deleted, .ipChanged, .none:
                retire(peer)
                return
            case .initial, .offline, .online:
                board.update(peerID) { $0.state = .idle }
                // A status read costs nothing; a peer that comes back is served at once.
                try? await Task.sleep(for: Self.statusPoll)
                continue
            default:
                break
            }
            if !settings.inSyncWindowNow {
                // Outside sync_start_time..sync_end_time: nothing is pushed (§6.1 step 2).
                board.update(peerID) { $0.state = .outsideWindow }
                try? await Task.sleep(for: .seconds(60))
                continue
            }
            if board.takeResync(peerID) { restartFromTheBeginning(peer) }
            let started = clock.now
            do {
                try await session(peer)
                failures = 0
                try? await Task.sleep(for: .seconds(1))
            } catch is CancellationError {
                return
            } catch {
                // A session that ran a while before it failed starts the backoff over.
                if clock.now - started >= settings.retryDelay { failures = 0 }
                let delay = Self.retryDelay(afterFailures: failures, limit: settings.retryDelay)
                failures += 1
                board.update(peerID) { $0.state = .disconnected }
                logger.warning("sync to the peer stopped; retrying", metadata: [
                    "fdfs.peer_address": "\(peer.ipAddress):\(peer.port)", "fdfs.error": "\(error)",
                    "fdfs.retry_after": "\(delay)",
                ])
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// How often an idle task (peer INIT, OFFLINE or ONLINE; waiting for ACTIVE) reads the
    /// peer's status.
    static let statusPoll: Duration = .milliseconds(200)

    /// The pause before the next session after `failures` failed ones in a row: 100 ms,
    /// doubling up to `limit`. A peer that restarted is reached again within a fraction of
    /// a second; one that stays down is tried every `limit`.
    static func retryDelay(afterFailures failures: Int, limit: Duration) -> Duration {
        let delay = Duration.milliseconds(100) * (1 << min(failures, 20))
        return min(delay, limit)
    }

    /// RESYNC_PEER: the peer's mark goes back to the start of the binlog with the old-data duty
    /// (every source record, and every replica record until now), so every file this storage
    /// holds is pushed again; files the peer already has are answered as present.
    func restartFromTheBeginning(_ peer: PeerTable.Peer) {
        let path = SyncMark.path(basePath: settings.basePath, fileName: markFileName(peer))
        let mark = SyncMark(needSyncOld: true, untilTimestamp: Int64(time(nil)))
        do {
            try mark.save(path: path)
            logger.notice("full resync requested: every file is pushed to the peer again", metadata: [
                "fdfs.peer_address": "\(peer.ipAddress):\(peer.port)", "fdfs.until": "\(mark.untilTimestamp)",
            ])
        } catch {
            logger.error("full resync requested, but the mark cannot be written", metadata: ["fdfs.error": "\(error)"])
        }
    }

    /// A deleted peer's mark is kept under a dated name (§5.6).
    func retire(_ peer: PeerTable.Peer) {
        let name = markFileName(peer)
        let path = SyncMark.path(basePath: settings.basePath, fileName: name)
        if (try? FileSystemCalls.fileSize(path)) != nil {
            let now = Int64(time(nil))
            _ = rename(path, SyncMark.path(basePath: settings.basePath, fileName: SyncMark.deletedFileName(name, unixTime: now)))
        }
        board.remove(peerID)
        logger.info("peer left the group; its sync task ends", metadata: ["fdfs.status": "\(peer.status)"])
    }

    func markFileName(_ peer: PeerTable.Peer) -> String {
        SyncMark.fileName(useStorageID: settings.useStorageID, peerID: peer.id, peerIPAddress: peer.ipAddress, ownPort: settings.ownPort)
    }

    // MARK: - One session

    /// Reader initialisation, connection, the status reports and the push loop (§6.1 steps 3-9).
    func session(_ peer: PeerTable.Peer) async throws {
        let markPath = SyncMark.path(basePath: settings.basePath, fileName: markFileName(peer))
        var mark = try await initialMark(peer, path: markPath)
        if !mark.needSyncOld {
            // No old-data duty: nothing is pushed before the peer is ACTIVE (§2.4 step 5).
            while true {
                guard let p = await current(), [StorageStatus.waitSync, .syncing, .active].contains(p.status) else { return }
                if p.status == .active { break }
                board.update(peerID) { $0.state = .waitingForActive }
                try await Task.sleep(for: Self.statusPoll)
            }
        }
        let link = try await FDFSClientConnection.connect(host: peer.ipAddress, port: peer.port, bindAddress: settings.bindAddress,
                                                          connectTimeout: TimeAmount(settings.connectTimeout),
                                                          clusterSecrets: node.settings.clusterSecrets, group: eventLoop)
        defer { Task { await link.close() } }
        let own = await node.peers!.selfID
        _ = try await link.request(ReportServerIDRequest(storageID: own))
        if let p = await current() {
            if p.status == .waitSync && mark.needSyncOld {
                await setPeerStatus(.syncing, p)
            } else if p.status == .syncing && mark.syncOldDone {
                await setPeerStatus(.offline, p)
            }
        }
        logger.info("sync connected", metadata: [
            "fdfs.peer_address": "\(peer.ipAddress):\(peer.port)", "fdfs.position": "\(mark.binlogIndex):\(mark.binlogOffset)",
            "fdfs.need_sync_old": "\(mark.needSyncOld)", "fdfs.sync_old_done": "\(mark.syncOldDone)", "fdfs.until": "\(mark.untilTimestamp)",
        ])
        let reader = try BinlogReader(syncDirectory: syncDirectory,
                                      position: BinlogPosition(fileIndex: mark.binlogIndex, offsetBytes: mark.binlogOffset),
                                      skipInvalidRecords: settings.skipInvalidRecords)
        var pusher = RecordPusher(link: link, store: store, group: store.group, storePaths: store.storePaths, timeout: settings.networkTimeout, stats: node.stats)
        var meter = LagMeter(position: reader.position)
        var written = mark
        let clock = ContinuousClock()
        var lastExchange = clock.now
        var lastMeter = clock.now - .seconds(10)
        defer { if written != mark { try? mark.save(path: markPath) } }
        // Records sent and not yet confirmed, in binlog order, with the position after each;
        // the mark only moves past a record once the peer confirmed it and all before it.
        var inFlight = CircularBuffer<(pending: RecordPusher.Pending, end: BinlogPosition, pushed: Bool)>()
        var inFlightBytes: Int64 = 0
        var unflushed = 0
        func confirm(end: BinlogPosition, pushed: Bool) throws {
            if pushed { mark.syncRowCount += 1 }
            meter.consumed(to: end)
            let movedFile = end.fileIndex != mark.binlogIndex
            mark.binlogIndex = end.fileIndex
            mark.binlogOffset = end.offsetBytes
            if movedFile || mark.syncRowCount - written.syncRowCount >= Int64(settings.markFrequency) {
                try mark.save(path: markPath)
                written = mark
            }
        }
        func settleOldest() async throws {
            if unflushed > 0 {
                link.flush()
                unflushed = 0
            }
            let first = inFlight.removeFirst()
            inFlightBytes -= first.pending.bytes
            try await pusher.settle(first.pending)
            if first.pending.response != nil { lastExchange = clock.now }
            try confirm(end: first.end, pushed: first.pushed)
        }
        board.update(peerID) { $0.state = .catchingUp }
        while !Task.isCancelled {
            guard let p = await current(), p.status == .active || p.status == .syncing else { break }
            // An operator asked for a full resync: the session ends here (the mark saved), and
            // the next one starts from the beginning.
            if board.isResyncRequested(peerID) { break }
            if settings.syncWindow != nil && !settings.inSyncWindowNow {
                logger.info("sync window closed; pushing resumes at sync_start_time")
                break
            }
            if clock.now - lastMeter >= .seconds(2) {
                meter.extend(syncDirectory: syncDirectory, end: store.binlogEnd)
                lastMeter = clock.now
            }
            let entry: BinlogEntry?
            do {
                entry = try reader.next(upTo: store.binlogEnd)
            } catch {
                logger.error("binlog record cannot be read; set file_sync_skip_invalid_record = true to skip such records",
                             metadata: ["fdfs.error": "\(error)"])
                try await Task.sleep(for: .seconds(5))
                throw error
            }
            for skipped in reader.takeSkippedLines() { logger.warning("binlog line skipped", metadata: ["fdfs.line": "\(skipped)"]) }
            guard let entry else {
                // End of the binlog.
                while !inFlight.isEmpty { try await settleOldest() }
                meter.caughtUp(at: reader.position)
                if mark.needSyncOld && !mark.syncOldDone {
                    mark.syncOldDone = true
                    try mark.save(path: markPath)
                    written = mark
                    logger.info("old data sent to the new member", metadata: ["fdfs.records": "\(mark.syncRowCount)"])
                    if let p = await current(), p.status == .syncing { await setPeerStatus(.offline, p) }
                }
                if written != mark {
                    try mark.save(path: markPath)
                    written = mark
                }
                publish(mark, meter, behindSince: nil, state: .caughtUp)
                if clock.now - lastExchange >= settings.heartBeatInterval {
                    _ = try await link.request(ActiveTestRequest())
                    lastExchange = clock.now
                }
                try await Task.sleep(for: settings.syncWait)
                continue
            }
            mark.scanRowCount += 1
            let flushNow = unflushed + 1 >= Self.flushEvery
            if !Self.shouldPush(entry.record, mark) {
                // Not for this peer: done once everything before it is.
                if inFlight.isEmpty {
                    try confirm(end: entry.end, pushed: false)
                } else {
                    inFlight.append((.done(entry.record), entry.end, false))
                }
                continue
            }
            publish(mark, meter, behindSince: entry.record.timestampSeconds, state: .catchingUp)
            if settings.syncInterval == .zero, let pending = try pusher.start(entry.record, flush: flushNow) {
                // Pipelined: the peer answers in order while the next records are on their way.
                if pending.response != nil { unflushed = flushNow ? 0 : unflushed + 1 }
                if pending.response == nil && inFlight.isEmpty {
                    // Nothing was sent and nothing is ahead of it: done now.
                    try confirm(end: entry.end, pushed: true)
                } else {
                    inFlight.append((pending, entry.end, true))
                    inFlightBytes += pending.bytes
                }
                while inFlight.count >= Self.windowRecords || inFlightBytes >= Self.windowBytes { try await settleOldest() }
            } else {
                while !inFlight.isEmpty { try await settleOldest() }
                try await pusher.push(entry.record, syncDirectory: syncDirectory)
                lastExchange = clock.now
                try confirm(end: entry.end, pushed: true)
            }
            if settings.syncInterval > .zero { try await Task.sleep(for: settings.syncInterval) }
        }
    }

    /// Records in flight to the peer at most (pipelined creates of small files and deletes).
    static let windowRecords = 32
    /// Bytes in flight to the peer at most.
    static let windowBytes: Int64 = 1 << 20
    /// Pipelined records written before a flush (fewer system calls, as the peer answers in
    /// order anyway); a flush also happens before waiting for an answer.
    static let flushEvery = 8

    /// The state and lag of this peer on the board; logged when the state changes.
    func publish(_ mark: SyncMark, _ meter: LagMeter, behindSince: Int64?, state: SyncLagBoard.State) {
        let now = Int64(time(nil))
        let previous = board.update(peerID) { e in
            let old = e.state
            e.state = state
            e.recordsBehind = meter.pendingRecords
            e.secondsBehind = behindSince.map { max(0, now - $0) } ?? 0
            e.pushedRecords = mark.syncRowCount
            return old
        }
        if previous != state {
            logger.info("sync state changed", metadata: [
                "fdfs.from": "\(previous)", "fdfs.to": "\(state)", "fdfs.records_behind": "\(meter.pendingRecords)",
                "fdfs.pushed": "\(mark.syncRowCount)", "fdfs.position": "\(mark.binlogIndex):\(mark.binlogOffset)",
            ])
        }
    }

    /// Local status of the peer and REPORT_STATUS to every tracker (§2.3).
    func setPeerStatus(_ status: StorageStatus, _ peer: PeerTable.Peer) async {
        await node.setPeerStatus(peerID, status)
        logger.info("reporting the new member's status to the trackers", metadata: ["fdfs.status": "\(status)"])
        let brief = StorageBrief(status: status, port: Int32(peer.port), id: peer.id.rawValue, ipAddress: peer.ipAddress)
        if !(await calls.reportStatus(group: store.group, brief: brief)) {
            logger.error("no tracker accepted REPORT_STATUS \(status) for the peer; it will be reported again at the next session")
        }
    }

    /// Which records go to the peer (§6.2): every source record; replica creates, deletes,
    /// updates, links and renames up to `until` only during the old-data pass of the
    /// designated source; never replica appends, modifies and truncates.
    static func shouldPush(_ record: BinlogRecord, _ mark: SyncMark) -> Bool {
        if record.operation.isSource { return true }
        switch record.operation.kind {
        case .create, .delete, .update, .link, .rename:
            return mark.needSyncOld && !mark.syncOldDone && record.timestampSeconds <= mark.untilTimestamp
        case .append, .modify, .truncate:
            return false
        }
    }

    // MARK: - Reader initialisation (§6.2)

    /// The mark to start from: the peer's mark file, or a new one from SYNC_SRC_REQ.
    func initialMark(_ peer: PeerTable.Peer, path: String) async throws -> SyncMark {
        var loaded: SyncMark? = nil
        if peer.status != .initial && peer.status != .waitSync {
            do {
                loaded = try SyncMark.load(path: path)
            } catch {
                logger.warning("the mark file is unreadable; rebuilding the position from the tracker's answer (records may be sent again, none is lost)", metadata: ["fdfs.mark": "\(path)", "fdfs.error": "\(error)"])
                _ = rename(path, path + ".corrupt")
            }
        }
        if var mark = loaded {
            if let aligned = Self.lineStart(syncDirectory: syncDirectory, index: mark.binlogIndex, offset: mark.binlogOffset),
               aligned != mark.binlogOffset {
                logger.warning("the mark points inside a binlog line (a C storage's mark); resuming at the next line",
                               metadata: ["fdfs.offset": "\(mark.binlogOffset)", "fdfs.next_line": "\(aligned)"])
                mark.binlogOffset = aligned
            }
            if peer.status == .syncing, !mark.needSyncOld, try await isDesignatedSource(peer).0 {
                logger.info("the tracker now names this storage as the peer's sync source; starting over from the binlog's start")
            } else {
                return mark
            }
        } else if (try? FileSystemCalls.fileSize(path)) == nil, peer.status != .initial, peer.status != .waitSync {
            logger.info("no mark file for the peer; starting from the tracker's sync source answer", metadata: ["fdfs.mark": "\(path)"])
        }
        // Our own old data must be complete before we can be anybody's source (§6.2).
        while !(await node.syncOldDone) { try await Task.sleep(for: .seconds(1)) }
        let (need, until) = try await isDesignatedSource(peer)
        var mark = SyncMark(needSyncOld: need, untilTimestamp: until)
        if !need && until > 0 {
            // Records before `until` reach the peer through its designated source.
            let reader = try BinlogReader(syncDirectory: syncDirectory, skipInvalidRecords: true)
            let end = store.binlogEnd
            var skipped: Int64 = 0
            while true {
                let before = reader.position
                guard let entry = try reader.next(upTo: end) else { break }
                if entry.record.timestampSeconds >= until {
                    mark.binlogIndex = before.fileIndex
                    mark.binlogOffset = before.offsetBytes
                    break
                }
                skipped += 1
                mark.binlogIndex = entry.end.fileIndex
                mark.binlogOffset = entry.end.offsetBytes
            }
            mark.scanRowCount = skipped
            logger.info("skipped the records older than the new member's until time", metadata: [
                "fdfs.until": "\(until)", "fdfs.skipped": "\(skipped)",
            ])
        }
        try mark.save(path: path)
        return mark
    }

    /// SYNC_SRC_REQ: (this storage must send the old data, until).
    func isDesignatedSource(_ peer: PeerTable.Peer) async throws -> (Bool, Int64) {
        let own = await node.peers!.selfID
        guard let info = try await calls.syncSource(group: store.group, destination: peer.id) else { return (false, 0) }
        return (info.sourceID == own, info.untilTimestamp)
    }

    /// The start of the line at or after `offset` in binlog file `index` (a C mark may point
    /// inside a line, docs/compatibility.md 26); nil when the file cannot be read.
    static func lineStart(syncDirectory: String, index: Int, offset: Int64) -> Int64? {
        guard offset > 0 else { return offset }
        let path = BinlogIndex.binlogPath(syncDirectory: syncDirectory, index: index)
        guard let fd = try? FileSystemCalls.open(path, O_RDONLY) else { return nil }
        defer { try? FileSystemCalls.close(fd, path: path) }
        var position = offset - 1
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(position)) }
            guard n > 0 else { return position }
            if let i = buffer[0..<n].firstIndex(of: UInt8(ascii: "\n")) { return position + Int64(i) + 1 }
            position += Int64(n)
        }
    }
}

/// Counts the binlog lines between the sync position and the end of the log, incrementally:
/// each extension reads only the bytes appended since the last one.
struct LagMeter {
    private(set) var pendingRecords: Int64 = 0
    private var counted: BinlogPosition

    init(position: BinlogPosition) { counted = position }

    mutating func consumed(to position: BinlogPosition) {
        if pendingRecords > 0 { pendingRecords -= 1 }
        if counted < position { counted = position }
    }

    mutating func caughtUp(at position: BinlogPosition) {
        pendingRecords = 0
        counted = position
    }

    /// Counts the lines from the last counted position to `end`.
    mutating func extend(syncDirectory: String, end: BinlogPosition) {
        while counted < end {
            let path = BinlogIndex.binlogPath(syncDirectory: syncDirectory, index: counted.fileIndex)
            let stop: Int64 = counted.fileIndex == end.fileIndex ? end.offsetBytes : ((try? FileSystemCalls.fileSize(path)) ?? nil) ?? 0
            pendingRecords += Self.lines(path: path, from: counted.offsetBytes, to: stop)
            if counted.fileIndex == end.fileIndex {
                counted = end
            } else {
                counted = BinlogPosition(fileIndex: counted.fileIndex + 1, offsetBytes: 0)
            }
        }
    }

    static func lines(path: String, from start: Int64, to end: Int64) -> Int64 {
        guard end > start, let fd = try? FileSystemCalls.open(path, O_RDONLY) else { return 0 }
        defer { try? FileSystemCalls.close(fd, path: path) }
        var count: Int64 = 0
        var position = start
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while position < end {
            let want = Int(min(Int64(buffer.count), end - position))
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(position)) }
            guard n > 0 else { break }
            for b in buffer[0..<n] where b == UInt8(ascii: "\n") { count += 1 }
            position += Int64(n)
        }
        return count
    }
}

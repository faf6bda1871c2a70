public import FDFSClient
public import FDFSModel
public import FDFSProtocol
public import Logging
public import ServiceLifecycle
import NIOCore

/// How a storage presents itself to trackers (storage.conf and `.data_init_flag`).
public struct ReporterSettings: Sendable {
    public var group: GroupName
    public var storagePort: Int
    public var storePathCount: Int
    public var subdirCountPerPath: Int = 256
    public var uploadPriority: Int64 = 10
    public var version: String = "6.16.1"
    /// Every tracker of storage.conf as (host, port), in tracker-index order.
    public var trackers: [(host: String, port: Int)]
    /// Outgoing connections leave from this address (`bind_addr` with `client_bind`).
    public var bindAddress: String?
    public var heartBeatInterval: Duration = .seconds(30)
    public var statReportInterval: Duration = .seconds(300)
    public var connectTimeout: Duration = .seconds(10)
    /// Own server id when the trackers use storage ids (`use_storage_id`): sent in JOIN and
    /// used as this storage's id in the peer table. nil: the id is the IP address.
    public var storageID: StorageID?
    /// `cluster_secret`: proven to each tracker before JOIN, and to peers before pushes.
    public var clusterSecrets: ClusterSecrets?

    public init(group: GroupName, storagePort: Int, storePathCount: Int, trackers: [(host: String, port: Int)]) {
        self.group = group
        self.storagePort = storagePort
        self.storePathCount = storePathCount
        self.trackers = trackers
    }
}

/// The state a storage's reporters share: its identity, its sync-source bookkeeping
/// (`.data_init_flag`), what each tracker says its status is, and the peer table.
public actor StorageNode {
    public nonisolated let settings: ReporterSettings
    public private(set) var joinTime: Int64
    public private(set) var upTime: Int64
    /// 0 until the sync-destination request has been answered (cluster spec §2.4).
    public private(set) var syncOldDone: Bool
    public private(set) var syncSource: SyncInfo
    public private(set) var ownIPAddress: String?
    public private(set) var statusByTracker: [Int: StorageStatus] = [:]
    public private(set) var peers: PeerTable?
    var destRequestInFlight = false
    let disk: @Sendable () -> [ReportDiskUsageRequest.PathUsage]
    let persist: @Sendable (Bool, SyncInfo) -> Void
    /// The live counters sent with heartbeats; nil: every BEAT is empty.
    public nonisolated let stats: StorageStats?
    /// What peers' syncs delivered here, sent in SYNC_REPORT; nil: no reports.
    public nonisolated let progress: SyncReceiveProgress?

    /// `persist(syncOldDone, source)` is called whenever the sync bookkeeping changes, to
    /// rewrite `.data_init_flag`.
    public init(settings: ReporterSettings, joinTime: Int64, upTime: Int64, syncOldDone: Bool, syncSource: SyncInfo,
                disk: @escaping @Sendable () -> [ReportDiskUsageRequest.PathUsage],
                persist: @escaping @Sendable (Bool, SyncInfo) -> Void = { _, _ in }, stats: StorageStats? = nil,
                progress: SyncReceiveProgress? = nil) {
        self.settings = settings
        self.stats = stats
        self.progress = progress
        self.joinTime = joinTime
        self.upTime = upTime
        self.syncOldDone = syncOldDone
        self.syncSource = syncSource
        self.disk = disk
        self.persist = persist
    }

    func learnIP(_ ip: String) {
        let first = ip.split(separator: ",").first.map(String.init) ?? ip
        if ownIPAddress == nil {
            ownIPAddress = first
            if let id = settings.storageID ?? (try? StorageID(first)) { peers = PeerTable(selfID: id) }
        }
    }

    /// The JOIN status byte (cluster spec §1.3): the status last learned, else -1 while some
    /// tracker never answered (several trackers), else INIT.
    func joinStatus() -> StorageStatus {
        if let known = statusByTracker.values.max() { return known }
        return settings.trackers.count > 1 && statusByTracker.count < settings.trackers.count ? .unknown : .initial
    }

    func recordStatus(_ status: StorageStatus, tracker: Int) { statusByTracker[tracker] = status }

    /// Step 4 of §1.2: the first reporter to get here asks for a sync source (true); the
    /// others notify what it got.
    func beginSyncDestRequest() -> Bool {
        guard !syncOldDone, !destRequestInFlight else { return false }
        destRequestInFlight = true
        return true
    }

    func syncDestAnswered(_ info: SyncInfo?) {
        destRequestInFlight = false
        syncSource = info ?? SyncInfo(sourceID: nil, untilTimestamp: 0)
        syncOldDone = true
        persist(true, syncSource)
    }

    func syncDestFailed() { destRequestInFlight = false }

    func apply(_ note: ChangeNotification, tracker: Int) -> PeerTable.MergeResult? {
        guard note.flags.contains(.groupServers) else { return nil }
        let result = peers?.merge(note.groupServers)
        if let own = result?.ownStatus { statusByTracker[tracker] = own }
        return result
    }

    func diskUsage() -> [ReportDiskUsageRequest.PathUsage] { disk() }

    /// See `PeerTable.setStatus`.
    public func setPeerStatus(_ id: StorageID, _ status: StorageStatus) { peers?.setStatus(id, status) }

    /// The SYNC_REPORT entries (cluster spec §1.7): every known peer in peer-table order with
    /// the newest source timestamp received from it (0: nothing yet); nil without peers.
    func syncReport(_ synced: [StorageID: Int64]) -> SyncReportRequest? {
        guard let peers, !peers.peers.isEmpty else { return nil }
        return SyncReportRequest(entries: peers.peers.prefix(PeerTable.maxPeers).map {
            SyncReportRequest.Entry(peerID: $0.id, syncedTimestamp: Int32(truncatingIfNeeded: synced[$0.id] ?? 0))
        })
    }
}

/// One reporter per tracker (cluster spec §1.2): connect (from `bind_addr`), GET_MY_IP once,
/// JOIN, the sync-source requests, then BEAT every `heart_beat_interval` (with the statistics
/// block when they changed since the last one sent on this connection) and
/// REPORT_DISK_USAGE every `stat_report_interval`, applying the change notifications. A tracker
/// that fails is retried after `heart_beat_interval` while the other reporters go on.
public struct TrackerReporter: Service {
    public let node: StorageNode
    public let trackerIndex: Int
    let logger: Logger

    public init(node: StorageNode, trackerIndex: Int, logger: Logger) {
        self.node = node
        self.trackerIndex = trackerIndex
        self.logger = logger
    }

    public func run() async {
        let settings = node.settings
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await session(settings)
                } catch FDFSClientError.status(.EACCES) {
                    logger.warning("the tracker refused this storage (EACCES): it requires the cluster secret; set the same cluster_secret in storage.conf",
                                   metadata: ["fdfs.tracker": "\(settings.trackers[trackerIndex].host):\(settings.trackers[trackerIndex].port)"])
                } catch let error as ClusterSecretError {
                    logger.warning("not joining: \(error)")
                } catch {
                    logger.info("tracker connection ended; retrying", metadata: [
                        "fdfs.tracker": "\(settings.trackers[trackerIndex].host):\(settings.trackers[trackerIndex].port)",
                        "fdfs.error": "\(error)",
                    ])
                }
                try? await Task.sleep(for: settings.heartBeatInterval)
            }
        }
    }

    /// One connection's life: join, then beat until an error.
    func session(_ s: ReporterSettings) async throws {
        let t = s.trackers[trackerIndex]
        let link = try await FDFSClientConnection.connect(host: t.host, port: t.port, bindAddress: s.bindAddress,
                                                          connectTimeout: TimeAmount(s.connectTimeout), clusterSecrets: s.clusterSecrets)
        do {
            try await serve(link, s)
        } catch {
            await link.close()
            throw error
        }
    }

    func serve(_ link: FDFSClientConnection, _ s: ReporterSettings) async throws {
        let t = s.trackers[trackerIndex]
        if await node.ownIPAddress == nil {
            await node.learnIP(try await link.request(GetMyIPRequest(group: s.group, port: Int32(s.storagePort))).text)
        }
        let join = try await link.request(StorageJoinRequest(
            group: s.group, storagePort: Int64(s.storagePort), storePathCount: Int64(s.storePathCount),
            subdirCountPerPath: Int64(s.subdirCountPerPath), uploadPriority: s.uploadPriority, joinTime: await node.joinTime,
            upTime: await node.upTime, version: s.version, initFlag: !(await node.syncOldDone), status: await node.joinStatus(),
            storageID: s.storageID, currentTrackerIP: t.host, trackers: s.trackers.map { "\($0.host):\($0.port)" }))
        await node.recordStatus(join.status, tracker: trackerIndex)
        // One reporter asks for the sync source; the others wait for its answer before they
        // notify it. (Notifying an empty source meanwhile made this storage ONLINE on those
        // trackers while the one that answered kept it WAIT_SYNC for good.)
        while true {
            if await node.beginSyncDestRequest() {
                do {
                    let answer = try await link.request(SyncDestRequest())
                    await node.syncDestAnswered(answer.info)
                } catch {
                    await node.syncDestFailed()
                    throw error
                }
                break
            }
            guard await node.destRequestInFlight else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        _ = try await link.request(SyncNotifyRequest(info: await node.syncSource))
        logger.info("joined tracker", metadata: ["fdfs.tracker": "\(t.host):\(t.port)", "fdfs.status": "\(join.status)"])
        let clock = ContinuousClock()
        var lastBeat: ContinuousClock.Instant? = nil
        var lastDisk: ContinuousClock.Instant? = nil
        // The change count of the statistics last sent on this connection (none yet).
        var sentStatistics: UInt64? = nil
        // The change count of the sync progress last reported on this connection.
        var sentProgress: UInt64? = nil
        while !Task.isCancelled {
            let now = clock.now
            if let progress = node.progress {
                // SYNC_REPORT as soon as something new arrived (reads of fresh files are routed by it).
                let (change, synced) = progress.snapshot()
                if change != sentProgress, let report = await node.syncReport(synced) {
                    try await applied(try await link.request(report), link)
                    sentProgress = change
                }
            }
            if lastBeat == nil || now - lastBeat! >= s.heartBeatInterval {
                let (beat, change) = Self.beat(node.stats, lastSent: sentStatistics)
                try await applied(try await link.request(beat), link)
                sentStatistics = change ?? sentStatistics
                lastBeat = now
            }
            if lastDisk == nil || now - lastDisk! >= s.statReportInterval {
                try await applied(try await link.request(ReportDiskUsageRequest(paths: await node.diskUsage())), link)
                lastDisk = now
            }
            try await Task.sleep(for: min(.seconds(1), s.heartBeatInterval))
        }
    }

    /// The BEAT to send (cluster spec §1.4): with the statistics block when they changed since
    /// the last block sent on this connection (the first beat of a connection always carries
    /// it), else empty. Returns the change count a block reflects, nil for an empty beat.
    static func beat(_ stats: StorageStats?, lastSent: UInt64?) -> (StorageBeatRequest, UInt64?) {
        guard let stats else { return (StorageBeatRequest(), nil) }
        let (change, statistics) = stats.snapshot()
        guard change != lastSent else { return (StorageBeatRequest(), nil) }
        return (StorageBeatRequest(statistics: statistics), change)
    }

    /// Merges a change notification; peers the tracker listed wrongly are pushed back.
    func applied(_ note: ChangeNotification, _ link: FDFSClientConnection) async throws {
        guard let result = await node.apply(note, tracker: trackerIndex), !result.pushBack.isEmpty else { return }
        _ = try await link.request(ReplicaChangeRequest(briefs: Array(result.pushBack.prefix(ReplicaChangeRequest.maxBriefs))))
    }
}

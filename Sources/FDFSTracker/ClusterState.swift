public import FDFSModel
public import FDFSProtocol

/// One group in memory: its persisted record, its storages in the order they were added,
/// and the bookkeeping the cluster rules need.
struct GroupState: Sendable {
    var info: TrackedGroup
    var storages: [TrackedStorage] = []
    /// Bumped on every membership or status change (cluster spec §1.5). Sessions start at 0,
    /// so the first notification on a connection always carries the list.
    var changeCounter: Int64 = 1
    /// Bumped when the trunk server changes; trunk servers are not supported, so it stays 0.
    var trunkChangeCounter: Int64 = 0
    var writeServerCursor = 0
    var readServerCursor = 0
    /// `[source][destination]` = newest source timestamp the destination reported (§1.7).
    var synced: [StorageID: [StorageID: Int64]] = [:]

    init(info: TrackedGroup) { self.info = info }

    func index(of id: StorageID) -> Int? { storages.firstIndex { $0.id == id } }

    /// Indices of the storages in id order (lists inside a group are sorted by id).
    var indicesByID: [Int] { storages.indices.sorted { storages[$0].id < storages[$1].id } }

    /// ACTIVE storages that may be read from, in id order.
    var readable: [Int] { indicesByID.filter { storages[$0].status == .active && storages[$0].rwMode.canRead } }

    /// ACTIVE storages that may be written to, in id order.
    var writable: [Int] { indicesByID.filter { storages[$0].status == .active && storages[$0].rwMode.canWrite } }

    /// The group's space is that of its writable storage with the least free space.
    var space: (totalMB: Int64, freeMB: Int64) {
        // A storage reporting no space at all lost its disks (our storages report a vanished
        // store path so): like an offline one, it does not hold the group's uploads back.
        guard let least = writable.filter({ storages[$0].totalMB > 0 }).min(by: { storages[$0].freeMB < storages[$1].freeMB })
        else { return (0, 0) }
        return (storages[least].totalMB, storages[least].freeMB)
    }

    mutating func changed() { changeCounter += 1 }
}

/// The tracker's view of the cluster as a pure state machine (cluster spec §1-§2, §4.5):
/// every request is a mutating call that takes `now` (Unix seconds) and returns its reply;
/// side effects on files come back as `TrackerAction`s. Nothing here does I/O or reads a
/// clock, so every transition is tested with plain values.
public struct ClusterState: Sendable {
    public var policy: TrackerPolicy
    var groups: [GroupName: GroupState] = [:]
    var actions: [TrackerAction] = []

    /// The trackers named in storages' JOIN bodies (cluster spec §4.1); empty until the first.
    public internal(set) var trackers: [TrackerEndpoint] = []
    /// Which of `trackers` is this tracker.
    public internal(set) var selfIndex: Int? = nil
    public internal(set) var isLeader = false
    public internal(set) var leader: TrackerEndpoint? = nil
    var leaderChangeCounter: Int64 = 0
    /// The tracker announced by NOTIFY_NEXT_LEADER, waiting for its COMMIT.
    var nextLeaderIndex: Int? = nil
    var statisticsBeats = 0
    var syncReports = 0
    var groupCursor = 0
    /// The current size of `storage_changelog.dat`; kept by the owner of the file.
    public var changelogSize: Int64 = 0
    /// When this tracker process started, and how long it had been stopped before
    /// (`.tracker_status`), for TRACKER_GET_STATUS.
    public var processStartTime: Int64 = 0
    public var restartIntervalSeconds: Int64 = 0

    public init(policy: TrackerPolicy) { self.policy = policy }

    /// Rebuilds the state from persisted files, applying the restart rule of §2.2: INIT,
    /// WAIT_SYNC and SYNCING are kept, every other status becomes OFFLINE.
    public init(policy: TrackerPolicy, snapshot: ClusterSnapshot) {
        self.policy = policy
        for g in snapshot.groups { groups[g.name] = GroupState(info: g) }
        for var s in snapshot.storages {
            guard groups[s.group] != nil else { continue }
            if ![StorageStatus.initial, .waitSync, .syncing].contains(s.status) { s.status = .offline }
            s.upTime = 0
            groups[s.group]!.storages.append(s)
        }
        for row in snapshot.syncTimestamps {
            guard var g = groups[row.group] else { continue }
            let destinations = g.storages.filter { $0.status != .deleted && $0.status != .ipChanged }.map(\.id)
            for (dst, ts) in zip(destinations, row.timestamps) where ts > 0 { g.synced[row.sourceID, default: [:]][dst] = ts }
            groups[row.group] = g
        }
        for name in groups.keys { recomputeLastSynced(name) }
    }

    /// What the data files must hold now.
    public var snapshot: ClusterSnapshot {
        var s = ClusterSnapshot()
        for name in groups.keys.sorted() {
            let g = groups[name]!
            s.groups.append(g.info)
            s.storages += g.storages
            let live = g.storages.filter { $0.status != .deleted && $0.status != .ipChanged }.map(\.id)
            for src in live {
                s.syncTimestamps.append(SyncTimestampRow(group: name, sourceID: src, timestamps: live.map { g.synced[src]?[$0] ?? 0 }))
            }
        }
        return s
    }

    /// The side effects accumulated since the last call.
    public mutating func takeActions() -> [TrackerAction] {
        defer { actions = [] }
        return actions
    }

    /// The storage a key names, if known.
    public func storage(_ key: StorageKey) -> TrackedStorage? {
        groups[key.group].flatMap { g in g.index(of: key.id).map { g.storages[$0] } }
    }

    public var groupNames: [GroupName] { groups.keys.sorted() }

    public func storages(in group: GroupName) -> [TrackedStorage] { groups[group]?.storages ?? [] }

    // MARK: - Shared rules

    /// Sets a storage's status, bumping the group's change counter when it changes.
    mutating func setStatus(_ status: StorageStatus, _ key: StorageKey) {
        guard var g = groups[key.group], let i = g.index(of: key.id), g.storages[i].status != status else { return }
        g.storages[i].status = status
        g.changed()
        groups[key.group] = g
    }

    /// BEAT and REPORT_DISK_USAGE make any status except INIT, WAIT_SYNC, SYNCING and
    /// IP_CHANGED ACTIVE (cluster spec §1.4; DELETED is not excluded in C, see §10.4 — we
    /// keep DELETED deleted, see docs/compatibility.md).
    mutating func activate(_ key: StorageKey) {
        guard let s = storage(key), ![StorageStatus.initial, .waitSync, .syncing, .ipChanged, .deleted].contains(s.status) else { return }
        setStatus(.active, key)
    }

    /// `last_synced_timestamp` of every storage of a group from the sync matrix (§3.4): the
    /// minimum of the non-zero reports with round-robin `store_server`, else the maximum.
    mutating func recomputeLastSynced(_ name: GroupName) {
        guard var g = groups[name] else { return }
        for i in g.storages.indices {
            let dst = g.storages[i].id
            let values = g.synced.compactMap { src, row in src == dst ? nil : row[dst] }.filter { $0 > 0 }
            guard !values.isEmpty else { continue }
            g.storages[i].statistics.lastSyncedTimestamp = policy.storeServer == .roundRobin ? values.min()! : values.max()!
        }
        groups[name] = g
    }

    /// The change notification for a reply to BEAT, REPORT_DISK_USAGE or SYNC_REPORT (§1.5).
    mutating func notification(_ session: inout TrackerSession) -> ChangeNotification {
        guard isLeader, let key = session.storage, let g = groups[key.group] else { return ChangeNotification() }
        var result = ChangeNotification()
        if session.sentLeaderChange != leaderChangeCounter, let leader {
            result.flags.insert(.trackerLeader)
            let ip = AddressClass.pick(leader.ipAddresses, for: session.peerIP)
            result.briefs.append(StorageBrief(status: .initial, port: Int32(leader.port), id: String(ip.utf8.prefix(15))!, ipAddress: ip))
            session.sentLeaderChange = leaderChangeCounter
        }
        if session.sentTrunkChange != g.trunkChangeCounter {
            result.flags.insert(.trunkServer)
            result.briefs.append(StorageBrief(status: .initial, port: 0, id: "", ipAddress: ""))
            session.sentTrunkChange = g.trunkChangeCounter
        }
        if session.sentGroupChange != g.changeCounter {
            result.flags.insert(.groupServers)
            for i in g.indicesByID { result.briefs.append(brief(g.storages[i], for: session.peerIP)) }
            session.sentGroupChange = g.changeCounter
        }
        return result
    }

    func brief(_ s: TrackedStorage, for requesterIP: String) -> StorageBrief {
        StorageBrief(status: s.status, port: Int32(s.port), id: s.id.rawValue, ipAddress: AddressClass.pick(s.ipAddresses, for: requesterIP))
    }

    /// The storage an address names in a group, by (ip, port).
    func find(_ group: GroupName, ip: String, port: Int) -> TrackedStorage? {
        groups[group]?.storages.first { $0.ipAddresses.contains(ip) && $0.port == port }
    }
}

public import FDFSModel
public import FDFSProtocol

// Storage-facing commands (cluster spec §1) and the status transitions they drive (§2.2).
extension ClusterState {
    /// The storage joined on this connection, or EACCES (commands marked "needs JOIN", §1.1).
    func joined(_ session: TrackerSession) throws(TrackerError) -> StorageKey {
        guard let key = session.storage, storage(key) != nil else {
            throw TrackerError(.EACCES, "this command needs a storage that joined on this connection")
        }
        return key
    }

    /// STORAGE_JOIN (81), cluster spec §1.3.
    public mutating func join(_ r: StorageJoinRequest, session: inout TrackerSession, now: Int64) throws(TrackerError) -> StorageJoinResponse {
        guard r.storagePort > 0, r.storagePort <= 65535 else { throw TrackerError(.EINVAL, "storage port \(r.storagePort) is invalid") }
        guard (1...256).contains(r.storePathCount), (1...256).contains(r.subdirCountPerPath) else {
            throw TrackerError(.EINVAL, "store path count \(r.storePathCount) / subdir count \(r.subdirCountPerPath) outside 1...256")
        }
        try learnTrackers(r, session: session)
        let port = Int(r.storagePort)

        // Identity (step 5).
        let id: StorageID
        if policy.useStorageID {
            guard let ids = policy.storageIDs else { throw TrackerError(.ENOENT, "storage ids are enabled but none are loaded") }
            if policy.trustStorageServerID, let claimed = r.storageID {
                guard let e = ids.entry(id: claimed), e.groupName == r.group else {
                    throw TrackerError(.ENOENT, "storage id \(claimed) is not in storage_ids.conf for group \(r.group)")
                }
                id = e.id
            } else {
                guard let e = ids.entry(groupName: r.group, ipAddress: session.peerIP, port: port) else {
                    throw TrackerError(.ENOENT, "no storage_ids.conf entry for \(r.group) \(session.peerIP):\(port)")
                }
                id = e.id
            }
        } else {
            guard !session.peerIP.contains(":"), let plain = try? StorageID(session.peerIP) else {
                throw TrackerError(.EINVAL, "IPv6 storages need use_storage_id = true")
            }
            id = plain
        }
        let key = StorageKey(group: r.group, id: id)

        // Group (step 4) and port consistency (step 6).
        var g = groups[r.group] ?? GroupState(info: TrackedGroup(name: r.group))
        let newGroup = groups[r.group] == nil
        if g.info.storagePort == 0 {
            g.info.storagePort = port
        } else if g.info.storagePort != port && g.info.storagePort != -1 {
            if policy.useStorageID && policy.idTypeInFilename == .id {
                g.info.storagePort = -1
            } else if g.storages.allSatisfy({ $0.id == id || $0.status == .deleted }) {
                g.info.storagePort = port
            } else {
                throw TrackerError(.EINVAL, "group \(r.group) uses port \(g.info.storagePort), storage \(id) joined with \(port)")
            }
        }

        // Record (steps 7-8).
        var created = false
        var index = g.index(of: id)
        if index == nil {
            if !r.initFlag && (r.status.rawValue < 0 || [StorageStatus.deleted, .ipChanged, .none].contains(r.status)) {
                throw TrackerError(.EFAULT, "unknown storage \(id) claims status \(r.status)")
            }
            var ips = [session.peerIP]
            if policy.useStorageID, let e = policy.storageIDs?.entry(id: id) { ips = e.addresses.map(\.description) }
            g.storages.append(TrackedStorage(id: id, group: r.group, ipAddresses: ips, port: port, status: .initial))
            index = g.storages.count - 1
            created = true
            g.changed()
        }
        let i = index!
        if g.storages[i].status == .deleted || g.storages[i].status == .ipChanged {
            g.storages[i].status = .initial
            g.changed()
        }
        g.storages[i].storePathCount = Int(r.storePathCount)
        g.storages[i].subdirCountPerPath = Int(r.subdirCountPerPath)
        g.storages[i].uploadPriority = r.uploadPriority
        g.storages[i].joinTime = r.joinTime
        g.storages[i].upTime = r.upTime
        g.storages[i].version = r.version
        g.storages[i].port = port
        if let e = policy.storageIDs?.entry(id: id), policy.useStorageID { g.storages[i].rwMode = e.rwMode }

        // Store path and subdir counts (step 9).
        let live = g.storages.filter { $0.status != .deleted }
        if g.info.storePathCount == 0 {
            g.info.storePathCount = Int(r.storePathCount)
        } else if g.info.storePathCount != Int(r.storePathCount) {
            if live.allSatisfy({ $0.storePathCount == Int(r.storePathCount) }) {
                g.info.storePathCount = Int(r.storePathCount)
            } else if Int(r.storePathCount) < g.info.storePathCount {
                throw TrackerError(.EINVAL, "store path count \(r.storePathCount) is smaller than the group's \(g.info.storePathCount)")
            }
        }
        if g.info.subdirCountPerPath == 0 {
            g.info.subdirCountPerPath = Int(r.subdirCountPerPath)
        } else if g.info.subdirCountPerPath != Int(r.subdirCountPerPath) {
            guard live.allSatisfy({ $0.subdirCountPerPath == Int(r.subdirCountPerPath) }) else {
                throw TrackerError(.EINVAL, "subdir count \(r.subdirCountPerPath) differs from the group's \(g.info.subdirCountPerPath)")
            }
            g.info.subdirCountPerPath = Int(r.subdirCountPerPath)
        }

        // Statuses (steps 10-11).
        if created && !r.initFlag && r.status.rawValue > 0 {
            g.storages[i].status = r.status == .active ? .online : r.status
        }
        switch g.storages[i].status {
        case .offline, .recovery:
            g.storages[i].status = .online
            g.changed()
        case .initial:
            g.storages[i].changelogOffset = changelogSize
        default:
            break
        }
        groups[r.group] = g
        if newGroup || created { actions += [.saveGroups, .saveStorages, .saveSyncTimestamps] }
        session.storage = key
        session.resetNotifications()
        let s = g.storages[i]
        return StorageJoinResponse(status: s.status, syncSourceID: s.syncSourceID)
    }

    /// Tracker-list bookkeeping of a JOIN (cluster spec §4.1): the list comes from the storages;
    /// this tracker must find itself in it. With a single tracker it is the leader.
    mutating func learnTrackers(_ r: StorageJoinRequest, session: TrackerSession) throws(TrackerError) {
        let listed = r.trackers.compactMap(TrackerEndpoint.init(line:))
        guard listed.count == r.trackers.count else { throw TrackerError(.EINVAL, "malformed tracker list line") }
        // Every JOIN's own list must name this tracker (the C tracker stops checking after the
        // first JOIN, cluster spec §4.1; a storage that does not list us is misconfigured).
        let mine = Set([session.localIP, r.currentTrackerIP])
        let isMe = { (t: TrackerEndpoint) in t.port == policy.port && !mine.isDisjoint(with: t.ipAddresses) }
        guard listed.contains(where: isMe) else {
            throw TrackerError(.ENOENT, "this tracker (\(session.localIP):\(policy.port)) is not in the storage's tracker list")
        }
        for t in listed where !trackers.contains(where: { !Set($0.ipAddresses).isDisjoint(with: t.ipAddresses) && $0.port == t.port }) {
            guard trackers.count < 16 else { throw TrackerError(.ENOSPC, "more than 16 trackers") }
            trackers.append(t)
        }
        selfIndex = trackers.firstIndex(where: isMe)
        if trackers.count == 1 && !isLeader { becomeLeader() }
    }

    /// Makes this tracker the leader (single tracker, or an election won).
    public mutating func becomeLeader() {
        guard let selfIndex else { return }
        isLeader = true
        leader = trackers[selfIndex]
        leaderChangeCounter += 1
    }

    /// STORAGE_BEAT (83): copy the statistics, activate, note the heartbeat (§1.4).
    public mutating func beat(_ r: StorageBeatRequest, session: inout TrackerSession, now: Int64) throws(TrackerError) -> ChangeNotification {
        let key = try joined(session)
        var g = groups[key.group]!
        let i = g.index(of: key.id)!
        if let stats = r.statistics {
            var copy = stats
            copy.lastSyncedTimestamp = g.storages[i].statistics.lastSyncedTimestamp
            g.storages[i].statistics = copy
            statisticsBeats += 1
            if statisticsBeats % 1000 == 0 { actions.append(.saveStorages) }
        }
        g.storages[i].statistics.lastHeartBeatTime = now
        groups[key.group] = g
        activate(key)
        return notification(&session)
    }

    /// STORAGE_REPORT_DISK_USAGE (84): per-path space, totals, write path, activation (§1.6).
    public mutating func reportDiskUsage(_ r: ReportDiskUsageRequest, session: inout TrackerSession) throws(TrackerError) -> ChangeNotification {
        let key = try joined(session)
        var g = groups[key.group]!
        guard r.paths.count == g.info.storePathCount else {
            throw TrackerError(.EINVAL, "\(r.paths.count) paths reported, the group has \(g.info.storePathCount)")
        }
        let i = g.index(of: key.id)!
        g.storages[i].pathUsage = r.paths
        g.storages[i].totalMB = r.paths.reduce(0) { $0 + $1.totalMB }
        g.storages[i].freeMB = r.paths.reduce(0) { $0 + $1.freeMB }
        if policy.storePath == .loadBalance, let best = r.paths.indices.max(by: { r.paths[$0].freeMB < r.paths[$1].freeMB }) {
            g.storages[i].currentWritePath = best
        }
        groups[key.group] = g
        activate(key)
        return notification(&session)
    }

    /// STORAGE_SYNC_REPORT (89): what each peer's data this storage has received (§1.7).
    public mutating func syncReport(_ r: SyncReportRequest, session: inout TrackerSession) throws(TrackerError) -> ChangeNotification {
        let key = try joined(session)
        var g = groups[key.group]!
        for e in r.entries where e.syncedTimestamp > 0 {
            guard let peer = e.peerID, peer != key.id, let p = g.index(of: peer), g.storages[p].status == .active else { continue }
            g.synced[peer, default: [:]][key.id] = Int64(e.syncedTimestamp)
        }
        groups[key.group] = g
        recomputeLastSynced(key.group)
        syncReports += 1
        if syncReports % 1000 == 0 { actions.append(.saveSyncTimestamps) }
        return notification(&session)
    }

    /// STORAGE_SYNC_DEST_REQ (87): a new storage asks where its old data comes from (§1.8, §2.4).
    public mutating func syncDestRequest(session: TrackerSession, now: Int64) throws(TrackerError) -> OptionalSyncInfo {
        let key = try joined(session)
        var g = groups[key.group]!
        let i = g.index(of: key.id)!
        let others = g.storages.filter { $0.id != key.id && $0.status.isAvailable }
        if others.isEmpty {
            g.storages[i].status = .online
            g.changed()
            groups[key.group] = g
            return OptionalSyncInfo(nil)
        }
        guard let source = g.writable.map({ g.storages[$0] }).first(where: { $0.id != key.id }) else {
            throw TrackerError(.ENOENT, "group \(key.group) has no active writable storage to copy from")
        }
        g.storages[i].syncSourceID = source.id
        g.storages[i].syncUntilTimestamp = now
        g.storages[i].status = .waitSync
        g.changed()
        groups[key.group] = g
        actions.append(.saveStorages)
        return OptionalSyncInfo(SyncInfo(sourceID: source.id, untilTimestamp: now))
    }

    /// STORAGE_SYNC_NOTIFY (88): the storage tells this tracker its source and until (§1.8).
    public mutating func syncNotify(_ r: SyncNotifyRequest, session: TrackerSession) throws(TrackerError) {
        let key = try joined(session)
        var g = groups[key.group]!
        let i = g.index(of: key.id)!
        guard let source = r.info.sourceID else {
            if [StorageStatus.initial, .waitSync, .syncing].contains(g.storages[i].status) {
                g.storages[i].status = .online
                g.changed()
                groups[key.group] = g
                actions.append(.saveStorages)
            }
            return
        }
        if g.storages[i].status == .initial {
            g.storages[i].status = .waitSync
            g.changed()
        }
        if g.storages[i].syncSourceID == nil {
            guard let s = g.index(of: source), ![StorageStatus.deleted, .ipChanged].contains(g.storages[s].status) else {
                groups[key.group] = g
                throw TrackerError(.ENOENT, "sync source \(source) is unknown or deleted")
            }
            g.storages[i].syncSourceID = source
            g.storages[i].syncUntilTimestamp = r.info.untilTimestamp
        }
        groups[key.group] = g
        actions.append(.saveStorages)
    }

    /// STORAGE_SYNC_SRC_REQ (86): a peer asks who copies old data to `destination` (§1.8).
    public mutating func syncSourceRequest(_ r: SyncSourceRequest) throws(TrackerError) -> OptionalSyncInfo {
        guard var g = groups[r.group], let d = g.index(of: r.destinationID) else {
            throw TrackerError(.ENOENT, "unknown storage \(r.group)/\(r.destinationID)")
        }
        guard ![StorageStatus.initial, .deleted, .ipChanged].contains(g.storages[d].status) else {
            throw TrackerError(.ENOENT, "storage \(r.destinationID) is \(g.storages[d].status.name)")
        }
        guard let source = g.storages[d].syncSourceID else { return OptionalSyncInfo(nil) }
        if let s = g.index(of: source), [StorageStatus.offline, .online, .active, .recovery].contains(g.storages[s].status) {
            return OptionalSyncInfo(SyncInfo(sourceID: source, untilTimestamp: g.storages[d].syncUntilTimestamp))
        }
        g.storages[d].syncSourceID = nil
        g.storages[d].syncUntilTimestamp = 0
        groups[r.group] = g
        actions.append(.saveStorages)
        return OptionalSyncInfo(nil)
    }

    /// STORAGE_SYNC_DEST_QUERY (79): the storage's recorded source and until.
    public func syncDestQuery(session: TrackerSession) throws(TrackerError) -> OptionalSyncInfo {
        let s = storage(try joined(session))!
        guard let source = s.syncSourceID else { return OptionalSyncInfo(nil) }
        return OptionalSyncInfo(SyncInfo(sourceID: source, untilTimestamp: s.syncUntilTimestamp))
    }

    /// The status rule shared by REPORT_STATUS (76) and REPLICA_CHG (85), cluster spec §1.9.
    mutating func applyReportedStatus(_ group: GroupName, _ brief: StorageBrief) {
        guard brief.status != .none, var g = groups[group] else { return }
        guard let id = try? StorageID(brief.id) else { return }
        if let i = g.index(of: id) {
            let current = g.storages[i].status
            if current == brief.status || [StorageStatus.initial, .online, .active, .recovery].contains(current) { return }
            if brief.status == .deleted || brief.status == .ipChanged || brief.status > current {
                g.storages[i].status = brief.status
                g.changed()
                groups[group] = g
            }
        } else if ![StorageStatus.deleted, .ipChanged, .online, .active].contains(brief.status) {
            g.storages.append(TrackedStorage(id: id, group: group, ipAddresses: [brief.ipAddress], port: Int(brief.port), status: brief.status))
            g.changed()
            groups[group] = g
        }
    }

    /// STORAGE_REPORT_STATUS (76): a storage sets its own or a peer's status.
    public mutating func reportStatus(_ r: ReportStatusRequest) throws(TrackerError) {
        guard groups[r.group] != nil else { throw TrackerError(.ENOENT, "unknown group \(r.group)") }
        applyReportedStatus(r.group, r.brief)
    }

    /// STORAGE_REPLICA_CHG (85): ignored by the leader (cluster spec §1.10, §10.2).
    public mutating func replicaChange(_ r: ReplicaChangeRequest, session: TrackerSession) throws(TrackerError) {
        let key = try joined(session)
        guard !isLeader else { return }
        for b in r.briefs { applyReportedStatus(key.group, b) }
    }

    /// STORAGE_CHANGE_STATUS (59): adopt the status the leader reports (§1.11).
    public mutating func changeStatus(_ r: ChangeStatusRequest, session: TrackerSession) throws(TrackerError) {
        let key = try joined(session)
        let current = storage(key)!.status
        if current == r.status || (current.isAvailable && r.status.isAvailable) { return }
        setStatus(r.status == .online || r.status == .active ? .offline : r.status, key)
        actions.append(.saveStorages)
    }

    /// The connection of a joined storage closed (QUIT, error, peer close): ACTIVE, ONLINE and
    /// OFFLINE become OFFLINE and the up time is cleared (§2.2).
    public mutating func disconnect(session: TrackerSession) {
        guard let key = session.storage, var g = groups[key.group], let i = g.index(of: key.id) else { return }
        g.storages[i].upTime = 0
        if g.storages[i].status.isAvailable && g.storages[i].status != .offline {
            g.storages[i].status = .offline
            g.changed()
        }
        groups[key.group] = g
    }

    /// The liveness check (§2.2): ACTIVE storages silent for more than
    /// `check_active_interval` become OFFLINE. Returns the storages it took offline.
    public mutating func checkLiveness(now: Int64) -> [StorageKey] {
        var expired: [StorageKey] = []
        for name in groups.keys {
            for s in groups[name]!.storages where s.status == .active && now - s.statistics.lastHeartBeatTime > policy.checkActiveIntervalSeconds {
                let key = StorageKey(group: name, id: s.id)
                setStatus(.offline, key)
                expired.append(key)
            }
        }
        return expired
    }

    /// STORAGE_CHANGELOG_REQ (77): the requester and its offset in the changelog (§1.12). The
    /// caller reads the file from that offset and reports back with `advanceChangelog`.
    public func changelogRequester(_ r: ChangelogRequest, session: TrackerSession) throws(TrackerError) -> (StorageKey, Int64) {
        let key: StorageKey
        if let who = r.requester {
            key = StorageKey(group: who.group, id: who.storageID)
        } else {
            key = try joined(session)
        }
        guard let s = storage(key) else { throw TrackerError(.ENOENT, "unknown storage \(key)") }
        return (key, s.changelogOffset)
    }

    public mutating func advanceChangelog(_ key: StorageKey, to offset: Int64) {
        guard var g = groups[key.group], let i = g.index(of: key.id), g.storages[i].changelogOffset != offset else { return }
        g.storages[i].changelogOffset = offset
        groups[key.group] = g
        actions.append(.saveStorages)
    }

    /// STORAGE_REPORT_IP_CHANGED (78), cluster spec §1.12: without storage ids a storage that
    /// restarts on a new address moves its record to the new IP; the old IP stays as an
    /// IP_CHANGED record and the change goes to the changelog for the peers.
    public mutating func reportIPChanged(_ r: ReportIPChangedRequest, session: TrackerSession, now: Int64) throws(TrackerError) {
        guard !policy.useStorageID else { throw TrackerError(.EOPNOTSUPP, "IP changes are not reported when storage ids are used") }
        guard r.newIP == session.peerIP else { throw TrackerError(.EINVAL, "new IP \(r.newIP) is not the reporter's address \(session.peerIP)") }
        guard var g = groups[r.group] else { throw TrackerError(.ENOENT, "unknown group \(r.group)") }
        guard let oldID = try? StorageID(r.oldIP), let newID = try? StorageID(r.newIP),
              let old = g.index(of: oldID), g.storages[old].status != .deleted else {
            throw TrackerError(.ENOENT, "no storage \(r.oldIP) in group \(r.group)")
        }
        switch g.storages[old].status {
        case .online, .active, .recovery: throw TrackerError(.EBUSY, "storage \(r.oldIP) is \(g.storages[old].status.name)")
        case .ipChanged: throw TrackerError(.EALREADY, "storage \(r.oldIP) already changed its IP")
        default: break
        }
        if let existing = g.index(of: newID) {
            guard g.storages[existing].status == .deleted else { throw TrackerError(.EEXIST, "storage \(r.newIP) already exists") }
            g.storages.remove(at: existing)
        }
        let oldIndex = g.index(of: oldID)!
        var moved = g.storages[oldIndex]
        moved.id = newID
        moved.ipAddresses = [r.newIP]
        g.storages[oldIndex].status = .ipChanged
        g.storages.append(moved)
        for i in g.storages.indices where g.storages[i].syncSourceID == oldID { g.storages[i].syncSourceID = newID }
        if let row = g.synced.removeValue(forKey: oldID) { g.synced[newID] = row }
        for src in g.synced.keys {
            if let ts = g.synced[src]?.removeValue(forKey: oldID) { g.synced[src]?[newID] = ts }
        }
        g.changed()
        groups[r.group] = g
        actions += [.appendChangelog("\(now) \(r.group) \(r.oldIP) \(StorageStatus.ipChanged.rawValue) \(r.newIP)"),
                    .saveGroups, .saveStorages, .saveSyncTimestamps]
    }
}

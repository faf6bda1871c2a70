public import FDFSModel
public import FDFSProtocol

/// What the tracker answers to one request.
public enum TrackerReply: Sendable {
    /// Status 0 with this body.
    case body(any FDFSBody)
    /// An error status, no body.
    case error(TrackerError)
    /// No reply; close the connection (QUIT).
    case close
}

extension ClusterState {
    /// The tracker's one seam between network and logic (DESIGN.md principle 3): a decoded
    /// request in, the reply out. CHANGELOG_REQ needs the changelog file and is answered by
    /// the owner of that file (`changelogRequester` / `advanceChangelog`).
    public mutating func handle(_ request: any FDFSRequest, session: inout TrackerSession, now: Int64) -> TrackerReply {
        do throws(TrackerError) {
            return .body(try dispatch(request, session: &session, now: now))
        } catch {
            return .error(error)
        }
    }

    mutating func dispatch(_ request: any FDFSRequest, session: inout TrackerSession, now: Int64) throws(TrackerError) -> any FDFSBody {
        let peer = session.peerIP
        switch request {
        // Clients (protocol spec §4).
        case is QueryStoreWithoutGroupOneRequest: return try queryStore(group: nil, requesterIP: peer)
        case let r as QueryStoreWithGroupOneRequest: return try queryStore(group: r.group, requesterIP: peer)
        case is QueryStoreWithoutGroupAllRequest: return try queryStoreAll(group: nil, requesterIP: peer)
        case let r as QueryStoreWithGroupAllRequest: return try queryStoreAll(group: r.group, requesterIP: peer)
        case let r as QueryFetchOneRequest: return try queryFetch(group: r.file.group, filename: r.file.filename, all: false, requesterIP: peer)
        case let r as QueryFetchAllRequest: return try queryFetch(group: r.file.group, filename: r.file.filename, all: true, requesterIP: peer)
        case let r as QueryUpdateRequest: return try queryUpdate(group: r.file.group, filename: r.file.filename, requesterIP: peer)
        case is ListAllGroupsRequest: return listGroups()
        case let r as ListOneGroupRequest: return try listGroup(r.group)
        case let r as ListStorageRequest: return try listStorages(r.group, id: r.storageID, requesterIP: peer)
        case let r as DeleteStorageRequest:
            try deleteStorage(r.group, id: r.storageID, now: now)
            return EmptyBody()
        case let r as DeleteGroupRequest:
            try deleteGroup(r.group)
            return EmptyBody()
        case is SetTrunkServerRequest:
            throw TrackerError(.EOPNOTSUPP, "trunk files are not supported by this tracker")
        case is GetLeaderRequest:
            guard let leader else { throw TrackerError(.ENOENT, "no leader known yet") }
            return IPPortBody(IPPort(ip: AddressClass.pick(leader.ipAddresses, for: peer), port: leader.port))
        case let r as TrackerClusterStatRequest: return try trackerClusterStat(r, now: now)
        case let r as StorageClusterStatRequest: return storageClusterStat(r, requesterIP: peer)
        case let r as StorageVolumeStatRequest: return volumeStat(r)
        case let r as GetStorageStatusRequest: return StorageBriefBody(try storageStatus(r.group, address: r.address))
        case let r as GetServerIDRequest: return TextBody(try serverID(r.group, address: r.address))
        case let r as GetMyIPRequest: return TextBody(myIP(r, peerIP: peer))
        case let r as GetGroupNameRequest: return GroupNameBody(try groupName(r, peerIP: peer))
        case let r as FetchStorageIDsRequest: return try fetchStorageIDs(r)
        case is TrackerGetStatusRequest: return try runningStatus(now: now)
        case is ParameterRequest: return policy.parameters
        case is ActiveTestRequest: return EmptyBody()

        // Storages (cluster spec §1).
        case let r as StorageJoinRequest: return try join(r, session: &session, now: now)
        case let r as StorageBeatRequest: return try beat(r, session: &session, now: now)
        case let r as ReportDiskUsageRequest: return try reportDiskUsage(r, session: &session)
        case let r as SyncReportRequest: return try syncReport(r, session: &session)
        case is SyncDestRequest: return try syncDestRequest(session: session, now: now)
        case let r as SyncNotifyRequest:
            try syncNotify(r, session: session)
            return EmptyBody()
        case let r as SyncSourceRequest: return try syncSourceRequest(r)
        case is SyncDestQueryRequest: return try syncDestQuery(session: session)
        case let r as ReportStatusRequest:
            try reportStatus(r)
            return EmptyBody()
        case let r as ReplicaChangeRequest:
            try replicaChange(r, session: session)
            return EmptyBody()
        case let r as ChangeStatusRequest:
            try changeStatus(r, session: session)
            return EmptyBody()
        case let r as ReportIPChangedRequest:
            try reportIPChanged(r, session: session, now: now)
            return EmptyBody()
        case is ReportTrunkFreeRequest, is ReportTrunkFileIDRequest, is FetchTrunkFileIDRequest:
            _ = try joined(session)
            throw TrackerError(.EOPNOTSUPP, "trunk files are not supported by this tracker")
        case is NotifyReselectLeaderRequest:
            try reselectLeader()
            return EmptyBody()
        case let r as NotifyNextLeaderRequest:
            try notifyNextLeader(r.leader)
            return EmptyBody()
        case let r as CommitNextLeaderRequest:
            try commitNextLeader(r.leader)
            return EmptyBody()
        case let r as JoinLeaderRequest:
            try joinLeader(r, session: &session.peer)
            return EmptyBody()
        case is PingLeaderRequest:
            return try pingLeader(session: &session.peer)
        default:
            throw TrackerError(.EOPNOTSUPP, "command \(type(of: request).command) is not handled by this tracker yet")
        }
    }

    /// TRACKER_GET_STATUS (64): leader flag, running time and restart interval rounded down to
    /// multiples of 300 s; ENOENT without groups (so an empty tracker is never chosen).
    func runningStatus(now: Int64) throws(TrackerError) -> TrackerRunningStatus {
        guard !groups.isEmpty else { throw TrackerError(.ENOENT, "this tracker knows no groups") }
        return ownStatus(now: now)
    }

    /// SERVER_TRACKER_CLUSTER_STAT (96), leader only.
    func trackerClusterStat(_ r: TrackerClusterStatRequest, now: Int64) throws(TrackerError) -> TrackerClusterStatResponse {
        guard isLeader, let selfIndex else { throw TrackerError(.EOPNOTSUPP, "this tracker is not the leader") }
        var records: [TrackerStatRecord] = []
        for (i, t) in trackers.enumerated() {
            let isMe = i == selfIndex
            let record = TrackerStatRecord(host: "\(t.ipAddresses[0]):\(t.port)", isLeader: isMe, isActive: isMe,
                                           version: FDFSVersion.string, upTime: isMe ? processStartTime : 0, lastHeartbeatTime: 0)
            if r.filterBy & 0x01 != 0 && record.isActive != r.isActive { continue }
            if r.filterBy & 0x02 != 0 && record.isLeader != r.isLeader { continue }
            records.append(record)
        }
        return TrackerClusterStatResponse(trackers: records)
    }

    /// SERVER_STORAGE_CLUSTER_STAT (97).
    func storageClusterStat(_ r: StorageClusterStatRequest, requesterIP: String) -> StorageClusterStatResponse {
        var list: [StorageClusterStatRecord] = []
        for name in groups.keys.sorted() {
            let g = groups[name]!
            for i in g.indicesByID {
                let s = g.storages[i]
                if r.filterBy & 0x02 != 0 {
                    let equal = s.status == r.status
                    guard (r.operation == UInt8(ascii: "=") && equal) || (r.operation == UInt8(ascii: "!") && !equal) else { continue }
                }
                let ip = AddressClass.pick(s.ipAddresses, for: requesterIP)
                list.append(StorageClusterStatRecord(
                    id: s.id.rawValue, host: IPPort(ip: ip, port: s.port).description, isTrunkServer: false, status: s.status,
                    connectionAllocCount: s.statistics.connectionAllocCount, connectionCurrentCount: s.statistics.connectionCurrentCount,
                    connectionMaxCount: s.statistics.connectionMaxCount, version: s.version, upTime: s.upTime,
                    lastHeartbeatTime: s.statistics.lastHeartBeatTime))
            }
        }
        return StorageClusterStatResponse(useStorageID: policy.useStorageID, useTrunkFile: false, storages: list)
    }

    /// SERVER_STORAGE_VOLUMN_STAT (98).
    func volumeStat(_ r: StorageVolumeStatRequest) -> StorageVolumeStatResponse {
        var list: [VolumeStatRecord] = []
        for name in groups.keys.sorted() {
            let stat = groupStat(groups[name]!)
            let diskAvailable = canUpload(groups[name]!)
            if r.filterBy & 0x01 != 0 && diskAvailable != r.isDiskAvailable { continue }
            if r.filterBy & 0x02 != 0 && r.isTrunkAvailable { continue }
            if r.filterBy & 0x04 != 0 && diskAvailable != r.isSpaceAvailable { continue }
            list.append(VolumeStatRecord(groupName: name.rawValue, totalMB: stat.totalMB, freeMB: stat.freeMB, reservedMB: stat.reservedMB,
                                         availableMB: diskAvailable ? stat.availableMB : 0, trunkFreeMB: 0,
                                         isDiskAvailable: diskAvailable, isTrunkAvailable: false))
        }
        return StorageVolumeStatResponse(useTrunkFile: false, groups: list)
    }
}

/// The version this implementation reports where FastDFS puts its version (8 bytes).
public enum FDFSVersion {
    public static let string = "6.16.1"
}

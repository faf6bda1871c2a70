public import FDFSModel
public import FDFSProtocol

/// The status of one tracker as the leader election compares them (cluster spec §4.2).
public struct TrackerCandidate: Hashable, Sendable {
    public var endpoint: TrackerEndpoint
    public var status: TrackerRunningStatus

    public init(endpoint: TrackerEndpoint, status: TrackerRunningStatus) {
        self.endpoint = endpoint
        self.status = status
    }

    /// The election order: ascending by leader flag, running time, restart interval
    /// (descending: a smaller interval ranks higher), IP text, port. The last one wins.
    static func ranksBelow(_ a: TrackerCandidate, _ b: TrackerCandidate) -> Bool {
        if a.status.isLeader != b.status.isLeader { return !a.status.isLeader }
        if a.status.runningTimeSeconds != b.status.runningTimeSeconds { return a.status.runningTimeSeconds < b.status.runningTimeSeconds }
        if a.status.restartIntervalSeconds != b.status.restartIntervalSeconds {
            return a.status.restartIntervalSeconds > b.status.restartIntervalSeconds
        }
        let ipOrder = ASCII.compare(a.endpoint.ipAddresses.first ?? "", b.endpoint.ipAddresses.first ?? "")
        if ipOrder != 0 { return ipOrder < 0 }
        return a.endpoint.port < b.endpoint.port
    }

    /// The tracker to become leader among those that answered: an existing leader, else the
    /// longest-running, most stable one, ties broken by the greatest address.
    public static func choose(_ candidates: [TrackerCandidate]) -> TrackerCandidate? {
        candidates.max(by: ranksBelow)
    }
}

/// Per-connection state of the tracker-to-tracker commands.
public struct PeerTrackerSession: Sendable {
    public var peerIP: String
    var joinedLeader = false
    var sentTrunkChange: Int64 = 0

    public init(peerIP: String) { self.peerIP = peerIP }
}

extension ClusterState {
    func trackerIndex(_ address: IPPort) -> Int? {
        trackers.firstIndex { $0.port == address.port && $0.ipAddresses.contains(address.ip) }
    }

    /// This tracker's own status for TRACKER_GET_STATUS and for its own election round.
    public func ownStatus(now: Int64) -> TrackerRunningStatus {
        TrackerRunningStatus(isLeader: isLeader, runningTimeSeconds: max(0, now - processStartTime) / 300 * 300,
                             restartIntervalSeconds: restartIntervalSeconds / 300 * 300)
    }

    /// Steps down (another tracker leads, or storages saw two leaders).
    public mutating func resignLeadership() {
        guard isLeader || leader != nil else { return }
        isLeader = false
        leader = nil
        leaderChangeCounter += 1
    }

    /// Adopts `endpoint` (another tracker) as the leader.
    public mutating func followLeader(_ endpoint: TrackerEndpoint) {
        guard leader != endpoint || isLeader else { return }
        isLeader = false
        leader = endpoint
        leaderChangeCounter += 1
    }

    /// The leader stopped answering: forget it and elect again.
    public mutating func forgetLeader() {
        guard leader != nil, !isLeader else { return }
        leader = nil
    }

    /// TRACKER_NOTIFY_NEXT_LEADER (66): a candidate announces itself.
    public mutating func notifyNextLeader(_ candidate: IPPort) throws(TrackerError) {
        guard let index = trackerIndex(candidate) else { throw TrackerError(.ENOENT, "\(candidate) is not a known tracker") }
        if isLeader && index != selfIndex {
            resignLeadership()
            throw TrackerError(.EINVAL, "this tracker was the leader; it steps down for a new election")
        }
        nextLeaderIndex = index
    }

    /// TRACKER_COMMIT_NEXT_LEADER (67): the announced candidate takes over.
    public mutating func commitNextLeader(_ candidate: IPPort) throws(TrackerError) {
        guard let index = trackerIndex(candidate) else { throw TrackerError(.ENOENT, "\(candidate) is not a known tracker") }
        guard index == nextLeaderIndex else { throw TrackerError(.EINVAL, "\(candidate) was not announced as the next leader") }
        nextLeaderIndex = nil
        if index == selfIndex {
            becomeLeader()
        } else {
            followLeader(trackers[index])
        }
    }

    /// TRACKER_JOIN_LEADER (58): a follower starts pinging this leader.
    public func joinLeader(_ r: JoinLeaderRequest, session: inout PeerTrackerSession) throws(TrackerError) {
        guard isLeader else { throw TrackerError(.EOPNOTSUPP, "this tracker is not the leader") }
        guard !session.joinedLeader else { throw TrackerError(.EEXIST, "this connection already joined") }
        guard trackerIndex(IPPort(ip: session.peerIP, port: Int(r.port))) != nil else {
            throw TrackerError(.ENOENT, "\(session.peerIP):\(r.port) is not a known tracker")
        }
        session.joinedLeader = true
    }

    /// TRACKER_PING_LEADER (65): a follower's heartbeat; the reply carries the trunk servers
    /// when they changed since the last ping (none: trunk files are not supported).
    public func pingLeader(session: inout PeerTrackerSession) throws(TrackerError) -> PingLeaderResponse {
        guard isLeader else { throw TrackerError(.EOPNOTSUPP, "this tracker is not the leader") }
        guard session.joinedLeader else { throw TrackerError(.EINVAL, "TRACKER_JOIN_LEADER first") }
        guard session.sentTrunkChange == 0 else { return PingLeaderResponse() }
        session.sentTrunkChange = 1
        return PingLeaderResponse(entries: groups.keys.sorted().map { .init(group: $0, trunkServerID: nil) })
    }

    /// NOTIFY_RESELECT_LEADER (68): storages saw two leaders; the leader steps down.
    public mutating func reselectLeader() throws(TrackerError) {
        guard isLeader else { throw TrackerError(.EOPNOTSUPP, "this tracker is not the leader") }
        resignLeadership()
    }
}

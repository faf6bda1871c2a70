import FDFSModel
import FDFSProtocol
import Testing
@testable import FDFSTracker

@Suite struct LeaderElectionTests {
    static func candidate(_ ip: String, leader: Bool = false, running: Int64 = 0, restart: Int64 = 0) -> TrackerCandidate {
        TrackerCandidate(endpoint: TrackerEndpoint(ipAddresses: [ip], port: 22122),
                         status: TrackerRunningStatus(isLeader: leader, runningTimeSeconds: running, restartIntervalSeconds: restart))
    }

    @Test func selectionOrder() {
        // An existing leader wins whatever the rest says.
        #expect(TrackerCandidate.choose([Self.candidate("10.0.0.1", running: 900), Self.candidate("10.0.0.2", leader: true)])?.endpoint.ipAddresses == ["10.0.0.2"])
        // Else the longest running.
        #expect(TrackerCandidate.choose([Self.candidate("10.0.0.1", running: 900), Self.candidate("10.0.0.2", running: 600)])?.endpoint.ipAddresses == ["10.0.0.1"])
        // Then the smaller restart interval.
        #expect(TrackerCandidate.choose([Self.candidate("10.0.0.1", running: 600, restart: 300), Self.candidate("10.0.0.2", running: 600, restart: 0)])?.endpoint.ipAddresses == ["10.0.0.2"])
        // Then the greatest address.
        #expect(TrackerCandidate.choose([Self.candidate("10.0.0.9"), Self.candidate("10.0.0.10")])?.endpoint.ipAddresses == ["10.0.0.9"])
        #expect(TrackerCandidate.choose([]) == nil)
    }

    /// Two trackers known from a storage's JOIN; the state of the one at 10.0.0.100.
    static func twoTrackers() -> (Harness, IPPort, IPPort) {
        let h = Harness(policy: Harness.policy())
        var session = TrackerSession(peerIP: "10.0.0.1", localIP: "127.0.0.1")
        let join = Harness.join(trackers: ["127.0.0.1:22122", "127.0.0.2:22122"])
        if case .error(let e) = h.state.handle(join, session: &session, now: 1000) { Issue.record("join: \(e)") }
        return (h, IPPort(ip: "127.0.0.1", port: 22122), IPPort(ip: "127.0.0.2", port: 22122))
    }

    @Test func withSeveralTrackersNobodyLeadsUntilElected() {
        let (h, me, other) = Self.twoTrackers()
        #expect(!h.state.isLeader && h.state.leader == nil)
        #expect(h.status("x", GetLeaderRequest()) == .ENOENT)
        // Commit without notify is refused; an unknown candidate is ENOENT.
        #expect(h.status("x", CommitNextLeaderRequest(leader: other)) == .EINVAL)
        #expect(h.status("x", NotifyNextLeaderRequest(leader: IPPort(ip: "10.9.9.9", port: 22122))) == .ENOENT)
        // The other tracker announces and commits itself.
        #expect(h.status("x", NotifyNextLeaderRequest(leader: other)) == .success)
        #expect(h.status("x", CommitNextLeaderRequest(leader: other)) == .success)
        #expect(!h.state.isLeader && h.state.leader?.ipAddresses == ["127.0.0.2"])
        #expect(h.ok("x", GetLeaderRequest(), as: IPPortBody.self)?.address == other)
        // Then this tracker wins a later round.
        #expect(h.status("x", NotifyNextLeaderRequest(leader: me)) == .success)
        #expect(h.status("x", CommitNextLeaderRequest(leader: me)) == .success)
        #expect(h.state.isLeader)
    }

    @Test func aLeaderStepsDownWhenAnotherIsAnnounced() {
        let (h, me, other) = Self.twoTrackers()
        _ = h.status("x", NotifyNextLeaderRequest(leader: me))
        _ = h.status("x", CommitNextLeaderRequest(leader: me))
        #expect(h.state.isLeader)
        #expect(h.status("x", NotifyNextLeaderRequest(leader: other)) == .EINVAL)
        #expect(!h.state.isLeader && h.state.leader == nil)
    }

    @Test func reselectAndFollowerCommands() throws {
        let (h, me, _) = Self.twoTrackers()
        #expect(h.status("x", NotifyReselectLeaderRequest()) == .EOPNOTSUPP)
        var peer = PeerTrackerSession(peerIP: "127.0.0.2")
        #expect(throws: TrackerError.self) { try h.state.joinLeader(JoinLeaderRequest(startTime: 1, version: "6.16.1", port: 22122), session: &peer) }
        _ = h.status("x", NotifyNextLeaderRequest(leader: me))
        _ = h.status("x", CommitNextLeaderRequest(leader: me))
        #expect(throws: TrackerError(.EINVAL, "TRACKER_JOIN_LEADER first")) { try h.state.pingLeader(session: &peer) }
        #expect(throws: Never.self) { try h.state.joinLeader(JoinLeaderRequest(startTime: 1, version: "6.16.1", port: 22122), session: &peer) }
        #expect(throws: TrackerError.self) { try h.state.joinLeader(JoinLeaderRequest(startTime: 1, version: "6.16.1", port: 22122), session: &peer) }
        #expect(try h.state.pingLeader(session: &peer).entries.map(\.group) == [Harness.group])
        #expect(try h.state.pingLeader(session: &peer).entries.isEmpty)
        var stranger = PeerTrackerSession(peerIP: "10.9.9.9")
        #expect(throws: TrackerError.self) { try h.state.joinLeader(JoinLeaderRequest(startTime: 1, version: "6.16.1", port: 22122), session: &stranger) }
        #expect(h.status("x", NotifyReselectLeaderRequest()) == .success)
        #expect(!h.state.isLeader)
    }
}

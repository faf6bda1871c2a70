public import Logging
public import ServiceLifecycle
import FDFSClient
import FDFSModel
import FDFSProtocol

/// What the relationship loop needs to know of the tracker's state.
struct RelationshipView: Sendable {
    var trackers: [TrackerEndpoint]
    var selfIndex: Int?
    var isLeader: Bool
    var leader: TrackerEndpoint?
    var ownStatus: TrackerRunningStatus
    var startTime: Int64
}

extension TrackerCore {
    func relationshipView() -> RelationshipView {
        RelationshipView(trackers: state.trackers, selfIndex: state.selfIndex, isLeader: state.isLeader, leader: state.leader,
                         ownStatus: state.ownStatus(now: now()), startTime: state.processStartTime)
    }

    /// This tracker won the election: it announces and commits itself locally too.
    func electSelf() {
        guard let me = state.selfIndex else { return }
        let address = IPPort(ip: state.trackers[me].ipAddresses[0], port: state.trackers[me].port)
        try? state.notifyNextLeader(address)
        try? state.commitNextLeader(address)
        logger.info("this tracker is the leader now", metadata: ["fdfs.leader": "\(address)"])
    }

    func follow(_ endpoint: TrackerEndpoint) {
        state.followLeader(endpoint)
        logger.info("following the leader", metadata: ["fdfs.leader": "\(endpoint)"])
    }

    func leaderLost() {
        logger.warning("the leader stopped answering; electing again", metadata: ["fdfs.leader": "\(String(describing: state.leader))"])
        state.forgetLeader()
    }
}

/// The tracker-to-tracker relationship of cluster spec §4.2: while several trackers are known
/// and none leads, elect one (TRACKER_GET_STATUS to all, the best candidate announces itself
/// with NOTIFY_NEXT_LEADER and COMMIT_NEXT_LEADER); a follower pings the leader every
/// `pingInterval` and elects again after three failed pings in a row.
public struct TrackerRelationship: Service {
    public struct Timing: Sendable {
        public var pingInterval: Duration = .seconds(1)
        /// Pause after a failed election round: a random duration in this range.
        public var retryRange: ClosedRange<Int> = 1_000...10_000
        public var connectTimeoutSeconds: Int64 = 10
        public init() {}
    }

    let core: TrackerCore
    let timing: Timing
    let logger: Logger

    public init(core: TrackerCore, timing: Timing = Timing(), logger: Logger) {
        self.core = core
        self.timing = timing
        self.logger = logger
    }

    public func run() async {
        await cancelWhenGracefulShutdown {
            var leaderLink: FDFSClientConnection? = nil
            var failures = 0
            while !Task.isCancelled {
                let view = await core.relationshipView()
                guard view.trackers.count > 1, let me = view.selfIndex, !view.isLeader else {
                    if let link = leaderLink { await link.close(); leaderLink = nil }
                    try? await Task.sleep(for: timing.pingInterval)
                    continue
                }
                if let leader = view.leader {
                    do {
                        if leaderLink == nil {
                            let link = try await connect(leader)
                            leaderLink = link
                            _ = try await link.request(JoinLeaderRequest(startTime: view.startTime, version: FDFSVersion.string,
                                                                         port: Int64(view.trackers[me].port)))
                        }
                        _ = try await leaderLink!.request(PingLeaderRequest(connectionAllocCount: 0, connectionCurrentCount: 0, connectionMaxCount: 0))
                        failures = 0
                        try? await Task.sleep(for: timing.pingInterval)
                    } catch {
                        if let link = leaderLink { await link.close() }
                        leaderLink = nil
                        failures += 1
                        if failures >= 3 {
                            failures = 0
                            await core.leaderLost()
                        }
                        try? await Task.sleep(for: timing.pingInterval * (1 << min(failures, 4)))
                    }
                    continue
                }
                if await !electionRound(view, me: me) {
                    try? await Task.sleep(for: .milliseconds(Int.random(in: timing.retryRange)))
                }
            }
            if let link = leaderLink { await link.close() }
        }
    }

    func connect(_ endpoint: TrackerEndpoint) async throws -> FDFSClientConnection {
        try await FDFSClientConnection.connect(host: endpoint.ipAddresses[0], port: endpoint.port, connectTimeout: .seconds(timing.connectTimeoutSeconds),
                                           clusterSecrets: core.clusterSecrets)
    }

    /// One selection round; false when it must be retried after a pause.
    func electionRound(_ view: RelationshipView, me: Int) async -> Bool {
        var candidates = [TrackerCandidate(endpoint: view.trackers[me], status: view.ownStatus)]
        for (i, t) in view.trackers.enumerated() where i != me {
            guard let link = try? await connect(t) else { continue }
            if let status = try? await link.request(TrackerGetStatusRequest()) {
                candidates.append(TrackerCandidate(endpoint: t, status: status))
            }
            await link.close()
        }
        // Only trackers that answered count; alone, this tracker does not elect itself.
        guard candidates.count > 1, let best = TrackerCandidate.choose(candidates) else { return false }
        if best.endpoint == view.trackers[me] {
            let me = IPPort(ip: view.trackers[me].ipAddresses[0], port: view.trackers[me].port)
            for step in [0, 1] {
                for (i, t) in view.trackers.enumerated() where i != view.selfIndex {
                    guard let link = try? await connect(t) else { continue }  // unreachable trackers are tolerated
                    var refusal: (any Error)? = nil
                    do {
                        if step == 0 {
                            _ = try await link.request(NotifyNextLeaderRequest(leader: me))
                        } else {
                            _ = try await link.request(CommitNextLeaderRequest(leader: me))
                        }
                    } catch {
                        refusal = error
                    }
                    await link.close()
                    if let refusal {
                        logger.info("election round aborted", metadata: ["fdfs.tracker": "\(t)", "fdfs.error": "\(refusal)"])
                        return false
                    }
                }
            }
            await core.electSelf()
            return true
        }
        if best.status.isLeader {
            await core.follow(best.endpoint)
            return true
        }
        return false  // wait for that candidate to announce itself
    }
}

import FDFSModel
import FDFSTesting
import Foundation
import Testing
@testable import FDFSTracker

/// The tracker's `/healthz` rule: serving alone; with other trackers known, only once a leader
/// is known (itself or another).
@Suite struct TrackerHealthTests {
    @Test func aLeaderIsNeededOnlyAmongSeveralTrackers() async throws {
        let core = try TrackerCore(policy: Harness.policy(), basePath: try temporaryDirectory(), logger: .init(label: "test"), now: { 5000 })
        let health = TrackerHealth(core: core, metrics: .tracker())
        #expect(await health.healthProblem() == nil)  // no other tracker known
        let a = TrackerEndpoint(ipAddresses: ["10.0.0.21"], port: 22122), b = TrackerEndpoint(ipAddresses: ["10.0.0.22"], port: 22122)
        core.shared.lock.withLock { core.shared.value.trackers = [a, b] }
        #expect(await health.healthProblem() == "no leader known among 2 trackers yet")
        core.shared.lock.withLock { core.shared.value.leader = b }
        #expect(await health.healthProblem() == nil)
        core.shared.lock.withLock {
            core.shared.value.leader = nil
            core.shared.value.isLeader = true
        }
        #expect(await health.healthProblem() == nil)
    }
}

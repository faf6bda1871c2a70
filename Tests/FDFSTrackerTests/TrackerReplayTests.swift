import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import NIOCore
import Testing
@testable import FDFSTracker

/// Requests a real storage sent to the real tracker, replayed against our state machine with
/// the same tracker.conf: our replies must be the captured bytes.
@Suite struct TrackerReplayTests {
    @Test func storageAStartupExchangesMatchTheCapture() throws {
        let config = try TrackerConfiguration.load(path: try SharedVectors.url("conf/tracker.conf").path)
        var state = ClusterState(policy: TrackerPolicy(configuration: config, storageIDs: nil))
        // Storage A (127.0.0.62) dialled the tracker (127.0.0.60) through 127.0.0.61.
        var session = TrackerSession(peerIP: "127.0.0.62", localIP: "127.0.0.60")
        let wanted: Set<Int> = [60, 75, 81, 87, 88]
        let vectors = try WireVectorFile.all().filter {
            $0.profile == "main" && $0.family == "storage->tracker" && wanted.contains($0.cmd)
                && ($0.cmd != 87 || $0.response_hex == "00000000000000006400")
        }
        var replayed = Set<Int>()
        for v in vectors where !replayed.contains(v.cmd) {
            var request = ByteBuffer(bytes: Hex.decode(try #require(v.request_hex)))
            let header = try #require(FDFSHeader.decode(from: &request))
            let decoded = try CommandRegistry.decodeRequest(header: header, body: request, role: .tracker)
            guard case .body(let body) = state.handle(decoded, session: &session, now: 1_795_260_727) else {
                Issue.record("command \(v.cmd) failed")
                continue
            }
            #expect(Hex.encode(body.responsePacket().readableBytesView) == v.response_hex, "command \(v.cmd)")
            replayed.insert(v.cmd)
        }
        #expect(replayed == wanted)
    }
}

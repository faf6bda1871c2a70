import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSTesting
import Foundation
import NIOCore
import Testing
@testable import FDFSTracker

/// The cluster secret on a real tracker (docs/security.md): storages join only after the
/// HMAC challenge-response, clients are unaffected, the secret rolls without downtime; and
/// `admin_hosts`.
@Suite(.serialized) struct ClusterSecretTests {
    static let group = try! GroupName("group1")
    static let secret = ClusterSecrets(current: "correct horse battery staple")!
    static let wrong = ClusterSecrets(current: "incorrect horse battery staple")!

    /// A packet of `command` with an empty body.
    static func bare(_ command: UInt8) -> ByteBuffer {
        var b = ByteBuffer()
        FDFSHeader(bodyLength: 0, command: command, status: 0).encode(into: &b)
        return b
    }

    @Test("the handshake messages round-trip; wrong lengths are refused")
    func codecs() throws {
        let challenge = ClusterChallengeRequest(clientNonce: Array(0..<32))
        #expect(try ClusterChallengeRequest.decode(body: challenge.encodedBody(), command: 252) == challenge)
        for proofs in 1...2 {
            let answer = ClusterChallengeResponse(serverNonce: Array(repeating: 7, count: 32),
                                                  serverProofs: (0..<proofs).map { Array(repeating: UInt8($0), count: 32) })
            #expect(try ClusterChallengeResponse.decode(body: answer.encodedBody(), command: 252) == answer)
        }
        let proof = ClusterProofRequest(proof: Array(repeating: 9, count: 32))
        #expect(try ClusterProofRequest.decode(body: proof.encodedBody(), command: 253) == proof)
        for size in [0, 31, 33] {
            #expect(throws: FDFSProtocolError.self) { try ClusterChallengeRequest.decode(body: ByteBuffer(repeating: 1, count: size), command: 252) }
            #expect(throws: FDFSProtocolError.self) { try ClusterProofRequest.decode(body: ByteBuffer(repeating: 1, count: size), command: 253) }
        }
        for size in [32, 63, 65, 128] {
            #expect(throws: FDFSProtocolError.self) { try ClusterChallengeResponse.decode(body: ByteBuffer(repeating: 1, count: size), command: 252) }
        }
    }

    @Test("the guarded commands are the cluster's own, not those clients share")
    func guardedCommands() {
        let tracker = ClusterAuthCommand.guardedCommands(for: .tracker)
        #expect(tracker.isSuperset(of: [81, 83, 84, 85, 86, 87, 88, 89, 79, 78, 77, 76, 59, 58, 61, 62, 63, 65, 66, 67, 68]))
        #expect(tracker.isDisjoint(with: TrackerCommand.allCases.map(\.rawValue)))
        let storage = ClusterAuthCommand.guardedCommands(for: .storage)
        #expect(storage.isSuperset(of: [9, 16, 17, 18, 19, 25, 26, 35, 37, 40]))
        #expect(storage.isDisjoint(with: StorageCommand.allCases.map(\.rawValue)))
    }

    @Test("a refusal is logged once per address per minute")
    func refusalLogIsRateLimited() {
        let gate = ClusterGate(secrets: Self.secret, role: .tracker)
        let t0 = ContinuousClock.now
        #expect(gate.shouldLogRefusal(of: "127.0.0.9", now: t0))
        #expect(!gate.shouldLogRefusal(of: "127.0.0.9", now: t0 + .seconds(59)))
        #expect(gate.shouldLogRefusal(of: "127.0.0.8", now: t0 + .seconds(1)))
        #expect(gate.shouldLogRefusal(of: "127.0.0.9", now: t0 + .seconds(61)))
    }

    @Test("with cluster_secret: JOIN only after the proof; a wrong secret, a forged or replayed proof are refused; clients are served")
    func trackerRequiresTheProof() async throws {
        try await withTracker(basePath: try temporaryDirectory(), clusterSecrets: Self.secret) { tracker in
            let endpoints = [tracker.endpoint]
            // No proof: EACCES, and the connection is closed.
            let bare = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: endpoints)
            await #expect(throws: FDFSClientError.status(.EACCES)) { try await bare.join() }
            await #expect(throws: FDFSClientError.self) { try await bare.connection.request(ActiveTestRequest()) }
            // A beat before anything, with any body: refused before it is decoded.
            let beat = try await tracker.client()
            #expect(try await beat.send(Self.bare(StorageToTrackerCommand.beat.rawValue)).header.status == FDFSStatus.EACCES.rawValue)
            // A wrong secret: the tracker's proof does not verify, the dialer gives up.
            await #expect(throws: ClusterSecretError.serverProvedNoSecret("127.0.0.1:\(tracker.port)")) {
                _ = try await ScriptedStorage.connect(ipAddress: "127.0.0.3", group: Self.group, trackers: endpoints, clusterSecrets: Self.wrong)
            }
            // A forged proof after a genuine challenge.
            let forger = try await tracker.client()
            _ = try await forger.request(ClusterChallengeRequest(clientNonce: Array(repeating: 1, count: 32)))
            await #expect(throws: FDFSClientError.status(.EACCES)) {
                try await forger.request(ClusterProofRequest(proof: Array(repeating: 2, count: 32)))
            }
            // A proof with no challenge on its connection (a replay).
            let replay = try await tracker.client()
            await #expect(throws: FDFSClientError.status(.EACCES)) {
                try await replay.request(ClusterProofRequest(proof: Array(repeating: 3, count: 32)))
            }
            // The right secret joins.
            let member = try await ScriptedStorage.connect(ipAddress: "127.0.0.4", group: Self.group, trackers: endpoints, clusterSecrets: Self.secret)
            #expect(try await member.join().status == .initial)
            #expect(try await member.syncDestRequest() == nil)
            try await member.beat()
            try await member.reportDiskUsage()
            // Clients need no secret.
            let client = try await tracker.client()
            let list = try await client.request(ListStorageRequest(group: Self.group))
            #expect(list.storages.map(\.id) == ["127.0.0.4"])
            #expect(try await client.request(QueryStoreWithoutGroupOneRequest()).storage.ipAddress == "127.0.0.4")
        }
    }

    @Test("rolling the secret: old and new members prove to each other during the roll")
    func rolling() async throws {
        let new = "a new secret for the whole cluster"
        let rolled = ClusterSecrets(current: new, previous: "correct horse battery staple")!
        let newOnly = ClusterSecrets(current: new)!
        // A tracker not yet rolled: a rolled storage proves with the old secret.
        try await withTracker(basePath: try temporaryDirectory(), clusterSecrets: Self.secret) { tracker in
            let s = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [tracker.endpoint], clusterSecrets: rolled)
            #expect(try await s.join().status == .initial)
        }
        // A rolled tracker: storages with the old or the new secret join.
        try await withTracker(basePath: try temporaryDirectory(), clusterSecrets: rolled) { tracker in
            for (i, secrets) in [Self.secret, newOnly, rolled].enumerated() {
                let s = try await ScriptedStorage.connect(ipAddress: "127.0.0.\(2 + i)", group: Self.group, trackers: [tracker.endpoint],
                                                          clusterSecrets: secrets)
                #expect(try await s.join().status == .initial)
            }
        }
    }

    @Test("a dialer with a secret refuses a tracker without one")
    func trackerWithoutSecret() async throws {
        try await withTracker(basePath: try temporaryDirectory()) { tracker in
            await #expect(throws: ClusterSecretError.serverHasNoSecret("127.0.0.1:\(tracker.port)")) {
                _ = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [tracker.endpoint], clusterSecrets: Self.secret)
            }
            // Without a secret on either side, JOIN works as in FastDFS.
            let s = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [tracker.endpoint])
            #expect(try await s.join().status == .initial)
        }
    }

    @Test("admin_hosts: delete-storage and delete-group from a host outside it get EACCES")
    func adminHosts() async throws {
        try await withTracker(basePath: try temporaryDirectory(), adminHosts: try AllowedHosts(["127.0.0.1"])) { tracker in
            let outsider = try await FDFSClientConnection.connect(host: "127.0.0.1", port: tracker.port, bindAddress: "127.0.0.7")
            await #expect(throws: FDFSClientError.status(.EACCES)) {
                try await outsider.request(DeleteStorageRequest(group: Self.group, storageID: "127.0.0.9"))
            }
            await #expect(throws: FDFSClientError.status(.EACCES)) { try await outsider.request(DeleteGroupRequest(group: Self.group)) }
            // The connection stays open for everything else.
            _ = try await outsider.request(ListAllGroupsRequest())
            // From the admin host the request is served (no such group here).
            let admin = try await tracker.client()
            await #expect(throws: FDFSClientError.status(.ENOENT)) {
                try await admin.request(DeleteStorageRequest(group: Self.group, storageID: "127.0.0.9"))
            }
        }
    }

    @Test("admin_hosts defaults to loopback; its values are checked like allow_hosts")
    func adminHostsConfiguration() throws {
        #expect(AllowedHosts.loopback.allows(try SocketAddress(ipAddress: "127.0.0.5", port: 1)))
        #expect(AllowedHosts.loopback.allows(try SocketAddress(ipAddress: "::1", port: 1)))
        #expect(!AllowedHosts.loopback.allows(try SocketAddress(ipAddress: "10.0.0.1", port: 1)))
        #expect(throws: FDFSServerError.self) { try AllowedHosts(["admin.example.com"], key: "admin_hosts") }
    }
}

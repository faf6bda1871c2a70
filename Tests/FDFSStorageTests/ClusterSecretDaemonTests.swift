import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import NIOCore
import Testing

/// `cluster_secret` between real daemons (docs/security.md): members that share it join and
/// sync; a storage with a wrong secret or none is refused by the tracker, gets no file, and
/// cannot push files into a member or read its binlog.
@Suite(.serialized) struct ClusterSecretDaemonTests {
    static let secret = "a cluster secret for the test suite"
    static let group = GroupCluster.group

    /// Every regular file under a store path's data/ but `.fastdfs_vars` (written at start).
    static func storedFiles(_ path: String) -> Set<String> {
        let data = path + "/data"
        guard let e = FileManager.default.enumerator(atPath: data) else { return [] }
        var files: Set<String> = []
        while let name = e.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: data + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue, name != ".fastdfs_vars" { files.insert(name) }
        }
        return files
    }

    static func count(_ text: String, in log: String) -> Int { log.components(separatedBy: text).count - 1 }

    @Test("members with the secret join and sync; a wrong or missing secret is refused by the tracker and the members, with no file bytes")
    func secretGuardsTheGroup() async throws {
        try await ReplicationTests.withCluster(4, trackerSettings: ["cluster_secret": Self.secret], storageSettings: { i in
            switch i {
            case 0, 1: ["cluster_secret": Self.secret]
            case 2: ["cluster_secret": "not the secret of this cluster"]
            default: [:]
            }
        }) { try await run($0) }
    }

    func run(_ cluster: GroupCluster) async throws {
        try cluster.start(0)
        try cluster.start(1)
        try await cluster.waitUntilActive([0, 1])
        let (files, _, _) = try await ReplicationTests.upload(20, to: 0, in: cluster, seed: 17)
        try await cluster.waitForFiles(files, on: 1)

        // The rogues: 100003 with a wrong secret, 100004 with none. Each retries every second.
        try cluster.start(2)
        try cluster.start(3)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            try cluster.checkRunning()
            if Self.count("proved a different cluster secret", in: cluster.log(2)) >= 3
                && Self.count("the tracker refused this storage (EACCES)", in: cluster.log(3)) >= 3 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(Self.count("proved a different cluster secret", in: cluster.log(2)) >= 3, "\(cluster.logs())")
        #expect(Self.count("the tracker refused this storage (EACCES)", in: cluster.log(3)) >= 3, "\(cluster.logs())")
        // The tracker logged the refusals of 127.0.0.1 once, not once per attempt.
        let trackerLog = (try? String(contentsOfFile: cluster.directory + "/tracker.log", encoding: .utf8)) ?? ""
        #expect(Self.count("before proving the cluster secret", in: trackerLog) == 1, "\(trackerLog)")
        // Neither joined, neither holds a file.
        let statuses = await cluster.statuses()
        #expect(Set(statuses.keys) == ["100001", "100002"], "\(statuses)")
        #expect(Self.storedFiles(cluster.storePath(2)).isEmpty && Self.storedFiles(cluster.storePath(3)).isEmpty)

        // A rogue dialing a member directly.
        let port = cluster.storagePorts[0]
        let before = Self.storedFiles(cluster.storePath(0))
        let name = try #require(files.keys.sorted().first)
        let forged = String(name.dropLast(8)) + "rogue" + String(name.suffix(3))
        let content = ByteBuffer(repeating: 0x41, count: 1000)
        var push = SyncCreateFileRequest(timestamp: 1_800_000_000, group: Self.group, filename: forged, fileSize: 1000, hasContent: true).requestPacket()
        push.writeImmutableBuffer(content)
        // Without the handshake: EACCES before any content is read, and the connection closes.
        let bare = try await FDFSClientConnection.connect(host: "127.0.0.1", port: port)
        #expect(try await bare.send(push).header.status == FDFSStatus.EACCES.rawValue)
        await #expect(throws: (any Error).self) { try await bare.request(ActiveTestRequest()) }
        let binlog = try await FDFSClientConnection.connect(host: "127.0.0.1", port: port)
        await #expect(throws: FDFSClientError.status(.EACCES)) {
            try await binlog.request(FetchOnePathBinlogRequest(group: Self.group, storePathIndex: 0))
        }
        let delete = try await FDFSClientConnection.connect(host: "127.0.0.1", port: port)
        await #expect(throws: FDFSClientError.status(.EACCES)) {
            try await delete.request(SyncDeleteFileRequest(timestamp: 1_800_000_000, group: Self.group, filename: name))
        }
        // With the wrong secret: the member's proof does not verify; a forged proof is refused.
        await #expect(throws: ClusterSecretError.serverProvedNoSecret("127.0.0.1:\(port)")) {
            _ = try await FDFSClientConnection.connect(host: "127.0.0.1", port: port,
                                                       clusterSecrets: ClusterSecrets(current: "not the secret of this cluster"))
        }
        let forger = try await FDFSClientConnection.connect(host: "127.0.0.1", port: port)
        _ = try await forger.request(ClusterChallengeRequest(clientNonce: Array(repeating: 5, count: 32)))
        await #expect(throws: FDFSClientError.status(.EACCES)) { try await forger.request(ClusterProofRequest(proof: Array(repeating: 6, count: 32))) }
        // Nothing changed on the member, and its files are all still there.
        #expect(Self.storedFiles(cluster.storePath(0)) == before)
        try await cluster.waitForFiles(files, on: 0, timeout: .seconds(10))
        // Clients need no secret: a download from the member.
        let client = try await cluster.client(0)
        let info = try await client.queryFileInfo(FileID(group: Self.group, remoteFilename: try RemoteFilename(parsing: name)))
        #expect(info.fileSize == files[name]!.size)
        await client.close()
        // With the secret, a dialer is served the cluster commands (REPORT_SERVER_ID).
        let member = try await FDFSClientConnection.connect(host: "127.0.0.1", port: port, clusterSecrets: ClusterSecrets(current: Self.secret))
        _ = try await member.request(ReportServerIDRequest(storageID: try StorageID("100002")))
        await member.close()
    }
}

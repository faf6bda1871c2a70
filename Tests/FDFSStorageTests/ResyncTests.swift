import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import Testing

/// `fdfs resync` (RESYNC_PEER, our extension): a member that lost files behind its back gets
/// them pushed again by a source.
@Suite(.serialized) struct ResyncTests {
    static let group = GroupCluster.group

    /// Runs the CLI on a thread of its own: a blocking wait on the test's executor would stall
    /// every other test of the process (two cooperative threads on a 2-core machine).
    static func fdfs(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await onOwnThread { try fdfsBlocking(arguments) }
    }

    static func fdfsBlocking(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = DaemonCluster.binDirectory.appendingPathComponent("fdfs")
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("fdfs resync: files lost on a member behind its back are pushed to it again; only admin_hosts may ask")
    func lostFilesComeBack() async throws {
        try await ReplicationTests.withCluster(2) { cluster in
            try cluster.start(0)
            try cluster.start(1)
            try await cluster.waitUntilActive([0, 1])
            let (files, _, _) = try await ReplicationTests.upload(40, to: 0, in: cluster, seed: 5)
            try await cluster.waitForFiles(files, on: 1)
            // Ten files vanish from B's disk; its catalog still lists them.
            let lost = files.keys.sorted().prefix(10)
            for name in lost {
                let path = cluster.storePath(1) + "/" + (try RemoteFilename(parsing: name)).relativePath
                #expect(unlink(path) == 0, "\(path)")
            }
            let tracker = "127.0.0.1:\(cluster.trackerPort)"
            let done = try await Self.fdfs(["resync", "group1", "100002", "--from", "100001", "--tracker", tracker])
            #expect(done.status == 0 && done.output.contains("100001 pushes every file of group1 to 100002 again"), "\(done.output)")
            try await cluster.waitForFiles(files, on: 1, timeout: .seconds(60))
            #expect(cluster.log(0).contains("full resync requested: every file is pushed to the peer again"))

            // Mistakes: an unknown storage, the same storage twice.
            let unknown = try await Self.fdfs(["resync", "group1", "999999", "--tracker", tracker])
            #expect(unknown.status == 2 && unknown.output.contains("storage 999999 is not a member of group1"), "\(unknown.output)")
            let same = try await Self.fdfs(["resync", "group1", "100001", "--from", "100001", "--tracker", tracker])
            #expect(same.status == 1, "\(same.output)")
            // A peer the storage does not have.
            let outsider = try await FDFSClientConnection.connect(host: "127.0.0.1", port: cluster.storagePorts[0])
            await #expect(throws: FDFSClientError.status(.ENOENT)) {
                try await StorageClient(connection: outsider).resyncPeer(try StorageID("100009"))
            }
            await outsider.close()
        }
    }

    @Test("RESYNC_PEER from a host outside the storage's admin_hosts gets EACCES")
    func adminHostsOnTheStorage() async throws {
        try await ReplicationTests.withCluster(2, storageSettings: { _ in ["admin_hosts": "127.0.0.1"] }) { cluster in
            try cluster.start(0)
            try cluster.start(1)
            try await cluster.waitUntilActive([0, 1])
            let outsider = try await FDFSClientConnection.connect(host: "127.0.0.1", port: cluster.storagePorts[0], bindAddress: "127.0.0.9")
            await #expect(throws: FDFSClientError.status(.EACCES)) {
                try await StorageClient(connection: outsider).resyncPeer(try StorageID("100002"))
            }
            await outsider.close()
            #expect(cluster.log(0).contains("refused RESYNC_PEER from 127.0.0.9: not in admin_hosts"))
        }
    }
}

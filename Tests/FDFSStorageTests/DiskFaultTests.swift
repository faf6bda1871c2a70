import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// Store paths that fail under the storage (issue: disk faults), on file systems the test
/// mounts itself.
@Suite(.serialized, .enabled(if: getuid() == 0, "mounts a tmpfs: needs root (CI runs as root)"))
struct DiskFaultTests {
    static func run(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw DaemonError("\(arguments.joined(separator: " ")) exited with \(p.terminationStatus)") }
    }

    /// A storage whose store_path1 is a tmpfs of `size` the test mounts (and unmounts after).
    static func withSecondPathOnTmpfs(size: String, _ body: (GroupCluster, String) async throws -> Void) async throws {
        let mounted = try temporaryDirectory() + "/mounted"
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        try Self.run(["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mounted])
        defer { try? Self.run(["umount", mounted]) }
        try await ReplicationTests.withCluster(1, storageSettings: { _ in ["store_path_count": "2"] },
                                               storageLines: { _ in "store_path1 = \(mounted)\n" }) { cluster in
            try cluster.start(0)
            try await cluster.waitUntilActive([0])
            try await body(cluster, mounted)
        }
    }

    @Test("a store path that fills up mid-upload answers ENOSPC, keeps no partial file, and the storage goes on taking uploads")
    func fullStorePath() async throws {
        try await Self.withSecondPathOnTmpfs(size: "4m") { cluster, small in
            let client = try await cluster.client(0)
            // 6 MiB into the 4 MiB path: refused when the disk is full, after the whole body.
            let big = [UInt8](repeating: 0x42, count: 6 << 20)
            await #expect(throws: FDFSClientError.status(.ENOSPC)) {
                _ = try await client.uploadFile(.bytes(big), fileExtension: "bin", storePathIndex: 1)
            }
            // Nothing partial is left on the small path.
            let left = FileManager.default.enumerator(atPath: small + "/data")?.compactMap { $0 as? String }
                .filter { $0.hasSuffix(".tmp") || $0.hasSuffix(".bin") } ?? []
            #expect(left.isEmpty, "\(left)")
            #expect(cluster.log(0).contains("store path full: content refused with ENOSPC"), "\(cluster.log(0))")
            // The same connection goes on: uploads of the storage's choosing, and one that fits the small path.
            for i in 0..<5 {
                let content = [UInt8](repeating: UInt8(i), count: 100_000)
                let id = try await client.uploadFile(.bytes(content), fileExtension: "bin").fileID()
                #expect(try await client.downloadFile(id) == content)
            }
            let fits = [UInt8](repeating: 7, count: 1 << 20)
            let id = try await client.uploadFile(.bytes(fits), fileExtension: "bin", storePathIndex: 1).fileID()
            #expect(id.remoteFilename.storePathIndex == 1)
            #expect(try await client.downloadFile(id) == fits)
            await client.close()
        }
    }

    @Test("a store path that turns read-only is taken out of service: uploads go to the other path, its files are still served")
    func readOnlyStorePath() async throws {
        try await Self.withSecondPathOnTmpfs(size: "16m") { cluster, flaky in
            let client = try await cluster.client(0)
            let before = [UInt8](repeating: 1, count: 50_000)
            let kept = try await client.uploadFile(.bytes(before), fileExtension: "bin", storePathIndex: 1).fileID()
            #expect(kept.remoteFilename.storePathIndex == 1)
            try Self.run(["mount", "-o", "remount,ro", flaky])
            // Asked for the read-only path, small and streamed: placed on path 0.
            for size in [10_000, 300_000] {
                let content = [UInt8](repeating: 2, count: size)
                let id = try await client.uploadFile(.bytes(content), fileExtension: "bin", storePathIndex: 1).fileID()
                #expect(id.remoteFilename.storePathIndex == 0, "\(id)")
                #expect(try await client.downloadFile(id) == content)
            }
            #expect(cluster.log(0).components(separatedBy: "store path 1 cannot take new files").count - 1 == 1, "\(cluster.log(0))")
            // What it holds is still served.
            #expect(try await client.downloadFile(kept) == before)
            await client.close()
        }
    }

    @Test("a store path that vanishes is taken out of service, and the trackers route reads of its files to the peers")
    func vanishedStorePath() async throws {
        let mounted = try temporaryDirectory() + "/mounted"
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        try Self.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mounted])
        var unmounted = false
        defer { if !unmounted { try? Self.run(["umount", mounted]) } }
        try await ReplicationTests.withCluster(2, storageSettings: { _ in ["store_path_count": "2"] },
                                               storageLines: { i in "store_path1 = \(i == 0 ? mounted : try! temporaryDirectory())\n" }) { cluster in
            try cluster.start(0)
            try cluster.start(1)
            try await cluster.waitUntilActive([0, 1])
            let a = try await cluster.client(0)
            var files: [FileID: [UInt8]] = [:]
            for i in 0..<6 {
                let content = [UInt8](repeating: UInt8(i), count: 20_000 + i)
                files[try await a.uploadFile(.bytes(content), fileExtension: "bin", storePathIndex: 1).fileID()] = content
            }
            #expect(files.keys.allSatisfy { $0.remoteFilename.storePathIndex == 1 })
            // B is a holder once it reports a record of A's from a later second than a file's
            // (docs/routing.md): A goes on taking uploads (on path 0) into the next second.
            let last = files.keys.map(\.remoteFilename.block.createTimestamp).max()!
            var later: [String: (size: Int64, crc: UInt32)] = [:]
            while later.isEmpty || later.keys.allSatisfy({ (try? RemoteFilename(parsing: $0))!.block.createTimestamp <= last }) {
                let content = Array("later \(later.count)".utf8)
                let id = try await a.uploadFile(.bytes(content), fileExtension: "txt", storePathIndex: 0).fileID()
                later[id.remoteFilename.text] = (Int64(content.count), CRC32.checksum(content))
                try await Task.sleep(for: .milliseconds(100))
            }
            await a.close()
            try await cluster.waitForFiles(Dictionary(uniqueKeysWithValues: files.map { ($0.key.remoteFilename.text, (Int64($0.value.count), CRC32.checksum($0.value))) })
                                           .merging(later) { a, _ in a }, on: 1)
            // A's disk goes away: the mount point is left empty.
            try Self.run(["umount", mounted])
            unmounted = true
            let client = FDFSClient(trackers: [ServerAddress(hosts: ["127.0.0.1"], port: cluster.trackerPort)])
            let b = "127.0.0.1:\(cluster.storagePorts[1])"
            let deadline = ContinuousClock.now + .seconds(30)
            var holders: [String] = []
            while ContinuousClock.now < deadline {
                holders = try await client.storages(having: files.keys.first!).map { "\($0.ipAddress):\($0.port)" }
                if holders == [b] { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(holders == [b], "the tracker still names A for a file of its vanished path: \(holders)")
            #expect(cluster.log(0).contains("store path 1 vanished"), "\(cluster.log(0))")
            // Every read of those files goes to B and returns the bytes.
            for (id, content) in files {
                for _ in 0..<3 {
                    var got: [UInt8] = []
                    try await client.download(id) { got += $0.readableBytesView }
                    #expect(got == content)
                }
            }
            // Uploads go on (A's path 1 is reported with no space: never named for A).
            for i in 0..<6 {
                let content = Array("after the disk went \(i)".utf8)
                let id = try await client.upload(.bytes(content), fileExtension: "txt")
                var got: [UInt8] = []
                try await client.download(id) { got += $0.readableBytesView }
                #expect(got == content, "\(id)")
            }
            await client.close()
        }
    }
}

import FDFSClient
import FDFSModel
import FDFSProtocol
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
}

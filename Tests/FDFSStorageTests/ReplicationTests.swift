import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Synchronization
import Testing

/// Group replication between real `fdfs-storaged` processes (cluster spec §2.4, §5, §6): a
/// tracker and up to three storages of group1 on 127.0.0.1 (ids 100001...), files compared
/// through QUERY_FILE_INFO (size and CRC32) and, for a sample, byte for byte.
@Suite(.serialized) struct ReplicationTests {
    static let group = GroupCluster.group

    /// Ports for one test: random within a range no sample or other test uses, below the
    /// kernel's ephemeral range (32768...) so that no client socket holds them.
    /// 26000-26999 is left to the CLI tests' sandboxes. Slots are handed out in turn (from a
    /// random start), not drawn at random: suites run their clusters side by side, and two
    /// clusters on the same ports talk to each other's daemons (a test once uploaded to
    /// another cluster's one-path storage and got EINVAL).
    static func basePort() -> Int {
        let slot = (nextSlot.add(1, ordering: .relaxed).oldValue) % 400
        return slot < 200 ? 25000 + slot * 5 : 27000 + (slot - 200) * 5
    }
    static let nextSlot = Atomic<Int>(Int.random(in: 0..<400))

    /// Runs `body` with a new cluster of `count` storages (not started) and stops every
    /// process afterwards, also when `body` fails.
    static func withCluster(_ count: Int, httpPortOffset: Int? = nil, trackerSettings: [String: String] = [:],
                            storageSettings: (Int) -> [String: String] = { _ in [:] }, storageLines: (Int) -> String = { _ in "" },
                            _ body: (GroupCluster) async throws -> Void) async throws {
        let cluster = try GroupCluster(storageCount: count, basePort: basePort(), httpPortOffset: httpPortOffset,
                                       trackerSettings: trackerSettings, storageSettings: storageSettings, storageLines: storageLines)
        do {
            try await body(cluster)
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
    }

    static func fileID(_ name: String) throws -> FileID { FileID(group: group, remoteFilename: try RemoteFilename(parsing: name)) }

    /// Uploads `count` files of mixed sizes to storage `i`; returns name -> (size, crc) and
    /// the contents of every 50th file.
    static func upload(_ count: Int, to i: Int, in cluster: GroupCluster, seed: UInt64)
        async throws -> (files: [String: (size: Int64, crc: UInt32)], samples: [String: [UInt8]], bytes: Int64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let client = try await cluster.client(i)
        var files: [String: (size: Int64, crc: UInt32)] = [:]
        var samples: [String: [UInt8]] = [:]
        var total: Int64 = 0
        for n in 0..<count {
            let bytes = rng.bytes(rng.fileSize())
            let name = try await client.uploadFile(.bytes(bytes), fileExtension: "bin").remoteFilename
            files[name] = (Int64(bytes.count), CRC32.checksum(bytes))
            if n % 50 == 0 { samples[name] = bytes }
            total += Int64(bytes.count)
        }
        await client.close()
        return (files, samples, total)
    }

    static func checkSamples(_ samples: [String: [UInt8]], on i: Int, in cluster: GroupCluster) async throws {
        let client = try await cluster.client(i)
        for (name, bytes) in samples {
            let got = try await client.downloadFile(try fileID(name))
            #expect(got == bytes, "\(name) on \(cluster.ids[i]): \(got.count) bytes, want \(bytes.count)")
        }
        await client.close()
    }

    /// 2,000 files uploaded to A reach B; then C joins, walks INIT -> WAIT_SYNC -> SYNCING ->
    /// OFFLINE -> ACTIVE on the tracker while uploads go on, and ends with every file; then
    /// 500 upload-then-download pairs through the tracker all succeed.
    @Test(.timeLimit(.minutes(10)))
    func twoThousandFilesThenANewMemberThenReadAfterWrite() async throws {
        try await Self.withCluster(3) { cluster in
        try cluster.start(0)
        try cluster.start(1)
        try await cluster.waitUntilActive([0, 1])

        // 2,000 files to A while B is up.
        let start = ContinuousClock.now
        var (files, samples, bytes) = try await Self.upload(2000, to: 0, in: cluster, seed: 5)
        let uploaded = (ContinuousClock.now - start).seconds
        try await cluster.waitForFiles(files, on: 1, timeout: .seconds(180))
        let converged = (ContinuousClock.now - start).seconds
        try await Self.checkSamples(samples, on: 1, in: cluster)
        print(String(format: "2,000 files (%.1f MB) to A: uploaded in %.2f s, on B after %.2f s (%.0f files/s, %.1f MB/s A->B)",
                     Double(bytes) / 1e6, uploaded, converged, 2000 / converged, Double(bytes) / 1e6 / converged))

        // C joins the group that holds 2,000 files; uploads to A and B go on meanwhile.
        let joinStart = ContinuousClock.now
        try cluster.start(2)
        let c = cluster.ids[2]
        var seen: [StorageStatus] = []
        var during: [String: (size: Int64, crc: UInt32)] = [:]
        var uploader = 0
        var rng = SeededRandomNumberGenerator(seed: 77)
        while ContinuousClock.now - joinStart < .seconds(120) {
            try cluster.checkRunning()
            let status = await cluster.statuses()[c]
            if let status, seen.last != status { seen.append(status) }
            if status == .active { break }
            if let status, status == .waitSync || status == .syncing, during.count < 60 {
                // Uploads during the full sync, alternating A and B.
                let client = try await cluster.client(uploader)
                for _ in 0..<5 {
                    let data = rng.bytes(rng.fileSize() / 4)
                    let name = try await client.uploadFile(.bytes(data), fileExtension: "new").remoteFilename
                    during[name] = (Int64(data.count), CRC32.checksum(data))
                }
                await client.close()
                uploader = 1 - uploader
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        files.merge(during) { a, _ in a }
        try await cluster.waitForFiles(files, on: 2, timeout: .seconds(180))
        let joined = (ContinuousClock.now - joinStart).seconds
        print(String(format: "new member: %d files (%d uploaded during its full sync) on C after %.2f s; statuses seen %@",
                     files.count, during.count, joined, seen.map(\.name).joined(separator: " -> ")))
        // INIT lasts from JOIN to SYNC_DEST_REQ on one connection: the tracker's log shows it.
        let trackerLog = (try? String(contentsOfFile: cluster.directory + "/tracker.log", encoding: .utf8)) ?? ""
        let transitions = trackerLog.split(separator: "\n").filter { $0.contains("storage status changed") && $0.contains("group1/\(c)") }
        let order = [["INIT"], ["WAIT_SYNC"], ["SYNCING"], ["OFFLINE", "ONLINE"], ["ACTIVE"]]
        var next = 0
        for line in transitions where next < order.count && order[next].contains(where: { line.contains("fdfs.to=\($0)") }) { next += 1 }
        #expect(next == order.count, "C's transitions on the tracker: \(transitions.joined(separator: "\n"))")
        #expect(seen.contains(.waitSync) || seen.contains(.syncing), "statuses polled: \(seen)")
        #expect(seen.last == .active)
        #expect(during.count > 0, "no upload happened during the full sync")
        try await Self.checkSamples(samples, on: 2, in: cluster)
        // Everything uploaded during C's full sync reaches A and B as well.
        try await cluster.waitForFiles(during, on: 0)
        try await cluster.waitForFiles(during, on: 1)

        // Read-after-write through the tracker: 500 pairs, each download right after its upload.
        let tracker = try await FDFSClientConnection.connect(host: "127.0.0.1", port: cluster.trackerPort)
        var failures: [String] = []
        var servedBy: [Int64: Int] = [:]
        for n in 0..<500 {
            let data = rng.bytes(Int(rng.next() % 8192))
            let target = try await tracker.request(QueryStoreWithoutGroupOneRequest())
            let up = StorageClient(connection: try await FDFSClientConnection.connect(host: target.storage.ipAddress, port: Int(target.storage.port)))
            let name = try await up.uploadFile(.bytes(data), fileExtension: "raw").remoteFilename
            await up.close()
            do {
                let where_ = try await tracker.request(QueryFetchOneRequest(group: Self.group, filename: name))
                let port = where_.storages[0].port
                servedBy[port, default: 0] += 1
                let down = StorageClient(connection: try await FDFSClientConnection.connect(host: where_.storages[0].ipAddress, port: Int(port)))
                let got = try await down.downloadFile(try Self.fileID(name))
                await down.close()
                if got != data { failures.append("\(n) \(name): different bytes") }
            } catch {
                failures.append("\(n) \(name): \(error)")
            }
        }
        await tracker.close()
        print("read-after-write: 500 pairs, \(failures.count) failed; downloads served by port \(servedBy.sorted { $0.key < $1.key })")
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        }
    }

    /// Every kind of write made on A and on B (appender upload, append, modify, truncate,
    /// metadata overwrite and merge, slave upload, delete, regenerate) converges on all three.
    @Test(.timeLimit(.minutes(5)))
    func everyKindOfWriteOnTwoMembersConvergesOnAll() async throws {
        try await Self.withCluster(3) { cluster in
        for i in 0..<3 { try cluster.start(i) }
        try await cluster.waitUntilActive([0, 1, 2])

        var expected: [String: (size: Int64, crc: UInt32)] = [:]
        var metadata: [String: FDFSMetadata] = [:]
        var gone: [String] = []
        for origin in [0, 1] {
            let client = try await cluster.client(origin)
            let tag = UInt8(origin + 1)
            // A normal file with metadata (overwrite, then merge) and a slave of it.
            let normal = [UInt8](repeating: tag, count: 3000)
            let n = try await client.uploadFile(.bytes(normal), fileExtension: "jpg").fileID()
            try await client.setMetadata(n, FDFSMetadata([.init("width", "100"), .init("origin", "\(origin)")]))
            try await client.setMetadata(n, FDFSMetadata([.init("height", "50")]), operation: .merge)
            expected[n.remoteFilename.text] = (3000, CRC32.checksum(normal))
            metadata[n.remoteFilename.text] = FDFSMetadata([.init("height", "50"), .init("origin", "\(origin)"), .init("width", "100")])
            let slaveBytes = [UInt8](repeating: tag &+ 10, count: 700)
            let slave = try await client.uploadSlaveFile(.bytes(slaveBytes), master: n, prefix: "_s", fileExtension: "jpg").fileID()
            expected[slave.remoteFilename.text] = (700, CRC32.checksum(slaveBytes))
            // An appender: append, modify, truncate.
            var content = [UInt8](repeating: tag &+ 20, count: 1000)
            let p = try await client.uploadAppenderFile(.bytes(content), fileExtension: "log").fileID()
            let more = [UInt8](repeating: tag &+ 30, count: 500)
            try await client.appendFile(p, .bytes(more))
            content += more
            let patch = [UInt8](repeating: tag &+ 40, count: 100)
            try await client.modifyFile(p, at: 200, .bytes(patch))
            content.replaceSubrange(200..<300, with: patch)
            try await client.truncateFile(p, to: 1200)
            content = Array(content[0..<1200])
            expected[p.remoteFilename.text] = (1200, CRC32.checksum(content))
            // Deleted after upload.
            let d = try await client.uploadFile(.bytes([1, 2, 3]), fileExtension: "tmp").fileID()
            try await client.deleteFile(d)
            gone.append(d.remoteFilename.text)
            // An appender renamed to a regular file.
            let renamedBytes = [UInt8](repeating: tag &+ 50, count: 900)
            let old = try await client.uploadAppenderFile(.bytes(renamedBytes), fileExtension: "txt").fileID()
            let new = try await client.regenerateAppenderFilename(old).fileID()
            expected[new.remoteFilename.text] = (900, CRC32.checksum(renamedBytes))
            gone.append(old.remoteFilename.text)
            await client.close()
        }
        for i in 0..<3 {
            try await cluster.waitForFiles(expected, on: i, timeout: .seconds(60))
            try await cluster.waitForAbsence(gone, on: i)
            let deadline = ContinuousClock.now + .seconds(30)
            for (name, want) in metadata {
                var got = FDFSMetadata()
                while ContinuousClock.now < deadline {
                    let client = try await cluster.client(i)
                    got = try await client.getMetadata(try Self.fileID(name))
                    await client.close()
                    if got == want { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(got == want, "metadata of \(name) on \(cluster.ids[i])")
            }
        }
        // The sync byte counters reach the tracker with the beats: each origin pushed at least
        // its 6,203 content bytes to each of 2 peers; the third member received both origins'.
        let content: Int64 = 3000 + 700 + 1000 + 500 + 100 + 3 + 900
        var stats: [String: StorageStatistics] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        repeat {
            stats = await cluster.statistics()
            if (0..<2).allSatisfy({ (stats[cluster.ids[$0]]?.successSyncOutBytes ?? 0) >= 2 * content })
                && (stats[cluster.ids[2]]?.successSyncInBytes ?? 0) >= 2 * content { break }
            try await Task.sleep(for: .milliseconds(300))
        } while ContinuousClock.now < deadline
        for i in 0..<3 {
            let s = stats[cluster.ids[i]]
            #expect((s?.successSyncOutBytes ?? -1) <= (s?.totalSyncOutBytes ?? -2) && (s?.successSyncInBytes ?? -1) <= (s?.totalSyncInBytes ?? -2))
            #expect((s?.successFileOpenCount ?? 0) > 0 && (s?.successFileWriteCount ?? 0) > 0, "file I/O counted on \(cluster.ids[i])")
        }
        #expect((0..<2).allSatisfy { (stats[cluster.ids[$0]]?.successSyncOutBytes ?? 0) >= 2 * content }, "sync out: \(stats.mapValues(\.successSyncOutBytes))")
        #expect((stats[cluster.ids[2]]?.successSyncInBytes ?? 0) >= 2 * content, "sync in: \(stats.mapValues(\.successSyncInBytes))")
        #expect(stats[cluster.ids[2]]?.totalSyncOutBytes == 0, "the third member is the source of nothing")
        }
    }

    /// B killed (SIGKILL) while it receives, and A killed while it sends: after restarts
    /// every file is on B, none corrupt. Also measures the A -> B throughput of a backlog.
    @Test(.timeLimit(.minutes(8)))
    func killedReceiverAndKilledSenderConverge() async throws {
        try await Self.withCluster(2) { cluster in
        try cluster.start(0)
        try cluster.start(1)
        try await cluster.waitUntilActive([0, 1])
        let binlogB = cluster.basePath(1) + "/data/sync/binlog.000"
        func receivedByB() -> Int {
            ((try? String(contentsOfFile: binlogB, encoding: .utf8)) ?? "").split(separator: "\n").count
        }

        // Throughput: a backlog of 1,000 files on A, pushed once B is back.
        await cluster.stop(1)
        var (files, samples, bytes) = try await Self.upload(1000, to: 0, in: cluster, seed: 11)
        try cluster.start(1)
        try await cluster.waitUntilActive([1])
        let backlogStart = ContinuousClock.now
        try await cluster.waitForFiles(files, on: 1, timeout: .seconds(180))
        let took = (ContinuousClock.now - backlogStart).seconds
        print(String(format: "backlog A->B: 1,000 files (%.1f MB) in %.2f s after B was ACTIVE: %.0f files/s, %.1f MB/s",
                     Double(bytes) / 1e6, took, 1000 / took, Double(bytes) / 1e6 / took))

        // B killed in the middle of receiving, then A killed in the middle of sending: each
        // time 1,000 new files wait on A, B comes back, and `victim` dies once B has 100.
        for (victim, seed) in [(1, UInt64(12)), (0, UInt64(13))] {
            await cluster.stop(1)
            let before = receivedByB()
            let batch = try await Self.upload(1000, to: 0, in: cluster, seed: seed)
            files.merge(batch.files) { a, _ in a }
            samples.merge(batch.samples) { a, _ in a }
            try cluster.start(1)
            let deadline = ContinuousClock.now + .seconds(60)
            while receivedByB() < before + 100 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let atKill = receivedByB() - before
            cluster.kill(victim)
            print("\(victim == 1 ? "B (receiver)" : "A (sender)") killed after B received \(atKill) of 1,000 records")
            #expect(atKill < 1000, "B had everything before the kill: the test did not cut a transfer")
            try cluster.start(victim)
            try await cluster.waitForFiles(files, on: 1, timeout: .seconds(180))
            try await Self.checkSamples(samples, on: 1, in: cluster)
        }
        // A, restarted after the SIGKILL, still has every file.
        try await cluster.waitForFiles(files, on: 0)
        }
    }

    /// A's mark for B corrupted, then deleted: the sync position is rebuilt (records may be
    /// sent again, none is lost) and the log says so.
    @Test(.timeLimit(.minutes(4)))
    func corruptOrMissingMarkFileIsRebuiltSafely() async throws {
        try await Self.withCluster(2) { cluster in
        try cluster.start(0)
        try cluster.start(1)
        try await cluster.waitUntilActive([0, 1])
        var (files, _, _) = try await Self.upload(100, to: 0, in: cluster, seed: 21)
        try await cluster.waitForFiles(files, on: 1)
        let mark = cluster.basePath(0) + "/data/sync/\(cluster.ids[1]).mark"
        #expect(FileManager.default.fileExists(atPath: mark))

        await cluster.stop(0)
        try "binlog_index=0\nbinlog_offset=garbage\n".write(toFile: mark, atomically: true, encoding: .utf8)
        try cluster.start(0)
        try await cluster.waitUntilActive([0])
        files.merge(try await Self.upload(20, to: 0, in: cluster, seed: 22).files) { a, _ in a }
        try await cluster.waitForFiles(files, on: 1)
        #expect(cluster.log(0).contains("the mark file is unreadable"), "\(cluster.logs())")

        await cluster.stop(0)
        try FileManager.default.removeItem(atPath: mark)
        try cluster.start(0)
        try await cluster.waitUntilActive([0])
        files.merge(try await Self.upload(20, to: 0, in: cluster, seed: 23).files) { a, _ in a }
        try await cluster.waitForFiles(files, on: 1)
        #expect(cluster.log(0).contains("no mark file for the peer"), "\(cluster.logs())")
        let rebuilt = try String(contentsOfFile: mark, encoding: .utf8)
        #expect(rebuilt.contains("binlog_offset="), "\(rebuilt)")

        // Visibility: A's lag file says B is caught up, the tracker shows B's sync time.
        let b = cluster.ids[1]
        var lag = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            lag = (try? String(contentsOfFile: cluster.basePath(0) + "/data/peer_sync.dat", encoding: .utf8)) ?? ""
            if lag.contains("peer.\(b).state=caught_up") && lag.contains("peer.\(b).records_behind=0") { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(lag.contains("peer.\(b).state=caught_up") && lag.contains("peer.\(b).records_behind=0"), "\(lag)")
        #expect(cluster.log(0).contains("sync state changed"))
        let link = try await FDFSClientConnection.connect(host: "127.0.0.1", port: cluster.trackerPort)
        let listed = try await link.request(ListStorageRequest(group: Self.group, storageID: nil)).storages.first { $0.id == b }
        await link.close()
        let now = Int64(Date().timeIntervalSince1970)
        #expect(listed.map { now - $0.statistics.lastSyncedTimestamp < 120 } == true, "last_synced_timestamp of B: \(String(describing: listed?.statistics.lastSyncedTimestamp))")
        }
    }
}

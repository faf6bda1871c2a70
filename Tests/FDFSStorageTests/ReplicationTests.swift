import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// Group replication between real `fdfs-storaged` processes (cluster spec §2.4, §5, §6): a
/// tracker and up to three storages of group1 on 127.0.0.1 (ids 100001...), files compared
/// through QUERY_FILE_INFO (size and CRC32) and, for a sample, byte for byte.
@Suite(.serialized) struct ReplicationTests {
    static let group = GroupCluster.group

    /// Ports for one test: random within a range no sample or other test uses.
    static func basePort() -> Int { 43000 + Int.random(in: 0..<200) * 5 }

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
        let cluster = try GroupCluster(storageCount: 3, basePort: Self.basePort())
        defer { Task { [cluster] in await cluster.stopAll() } }
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

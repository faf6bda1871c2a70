import FDFSClient
import NIOCore
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// The daemons as an operator runs them: separate processes started from the sample
/// configuration files.
@Suite(.serialized) struct DaemonProcessTests {
    static let group = try! GroupName("group1")

    /// Ports for one test: random within a range no sample or other test uses, below the
    /// kernel's ephemeral range (32768...), where client sockets (thousands of them in the
    /// abuse tests) could hold them.
    static func ports() -> (Int, Int) {
        let base = Int.random(in: 0..<400) * 2 + 24000
        return (base, base + 1)
    }

    @Test(.timeLimit(.minutes(3)))
    func sampleConfigurationReachesActiveServesAndRebuildsItsCatalog() async throws {
        let (trackerPort, storagePort) = Self.ports()
        let cluster = try DaemonCluster.start(trackerPort: trackerPort, storagePort: storagePort)
        var stopped = false
        defer { if !stopped { cluster.tracker.terminate(); cluster.storage.terminate() } }
        try await cluster.waitUntilActive()
        let rest = try cluster.storageRSS()
        print("storage RSS at rest after start (256x256 directories created): \(rest / 1024) KiB")

        let client = try await FDFSClientConnection.connect(host: "127.0.0.1", port: storagePort)
        var names: [String] = []
        for i in 0..<50 {
            var packet = UploadFileRequest(storePathIndex: -1, fileSize: Int64(4096), fileExtension: "bin").requestPacket()
            packet.writeBytes([UInt8](repeating: UInt8(i), count: 4096))
            let response = try await client.send(packet)
            #expect(response.header.status == 0)
            names.append(try UploadResponse.decode(body: response.body, command: 11).remoteFilename)
        }
        for (i, name) in names.enumerated() {
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name)).bytes == [UInt8](repeating: UInt8(i), count: 4096))
        }
        let wire = FDFSMetadata([.init("n", "0")]).wireBytes
        _ = try await client.request(SetMetadataRequest(group: Self.group, filename: names[0], operation: .overwrite, metadata: wire))
        _ = try await client.request(DeleteFileRequest(group: Self.group, filename: names[49]))
        await client.close()

        // Graceful stop: both exit 0, the catalog is flushed and closed.
        let codes = await cluster.stop()
        stopped = true
        #expect(codes.tracker == 0 && codes.storage == 0, "\(cluster.logs())")
        let catalogPath = cluster.directory + "/storage/data/catalog.sqlite"
        let live = try FileCatalog(path: catalogPath).snapshot()
        #expect(live.files.map(\.fileID) == names.dropLast().sorted())
        #expect(live.metadata == [names[0]: [CatalogMetadataItem("n", "0")]])

        // `fdfs-storaged --rebuild-catalog` with the daemon stopped gives the same catalog.
        try FileManager.default.removeItem(atPath: catalogPath)
        let rebuild = try DaemonCluster.launch("fdfs-storaged", ["--config", cluster.directory + "/storage.conf", "--rebuild-catalog"],
                                               log: cluster.directory + "/rebuild.log")
        while rebuild.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        rebuild.waitUntilExit()
        let output = (try? String(contentsOfFile: cluster.directory + "/rebuild.log", encoding: .utf8)) ?? ""
        #expect(rebuild.terminationStatus == 0, "\(output)")
        #expect(output.contains("catalog rebuilt: 49 files"), "\(output)")
        let rebuilt = try FileCatalog(path: catalogPath).snapshot()
        #expect(rebuilt.files == live.files)
        #expect(rebuilt.metadata.isEmpty, "the old catalog was removed: no metadata to carry over")
    }

    /// 1 GiB streamed through `StorageClient` to the storage process and back: the storage's
    /// resident memory stays under 100 MiB while it receives the file (it streams to disk),
    /// and the bytes come back with the same CRC32.
    @Test(.timeLimit(.minutes(5)))
    func oneGiBStreamedUploadKeepsTheStorageUnder100MiB() async throws {
        let (trackerPort, storagePort) = Self.ports()
        let cluster = try DaemonCluster.start(trackerPort: trackerPort, storagePort: storagePort, subdirCount: 4)
        defer { cluster.tracker.terminate(); cluster.storage.terminate() }
        try await cluster.waitUntilActive()
        let atRest = try cluster.storageRSS()

        let size: Int64 = 1 << 30
        let content = GeneratedContent(size: size, seed: 1, chunkSize: 1 << 20)
        let expected = try await content.crc32()

        let sampler = RSSSampler(pid: cluster.storage.processIdentifier)
        let sampling = Task { await sampler.run() }
        let client = try await StorageClient.connect(host: "127.0.0.1", port: storagePort)
        let started = ContinuousClock.now
        let upload = try await client.uploadFile(.stream(content, size: size), fileExtension: "bin")
        let uploadTime = ContinuousClock.now - started
        sampling.cancel()
        let peakUpload = await sampling.value
        let id = try upload.fileID()
        #expect(id.remoteFilename.sizeFromName == size && id.remoteFilename.block.crc32 == expected)

        let downloadSampler = RSSSampler(pid: cluster.storage.processIdentifier)
        let downloadSampling = Task { await downloadSampler.run() }
        var received = CRC32()
        let downloadStarted = ContinuousClock.now
        let count = try await client.downloadFile(id) { part in part.withUnsafeReadableBytes { received.update($0) } }
        let downloadTime = ContinuousClock.now - downloadStarted
        downloadSampling.cancel()
        let peakDownload = await downloadSampling.value
        #expect(count == size && received.value == expected)
        try await client.deleteFile(id)
        await client.close()

        let mib = { (b: Int64) in String(format: "%.1f MiB", Double(b) / 1_048_576) }
        print("storage RSS: at rest \(mib(atRest)), peak during the 1 GiB upload \(mib(peakUpload)), peak during its download \(mib(peakDownload)); "
              + "upload \(uploadTime), download \(downloadTime) (debug build, one connection)")
        #expect(peakUpload < 100 * 1_048_576, "storage RSS peaked at \(mib(peakUpload)) while receiving 1 GiB")
        #expect(peakDownload < 100 * 1_048_576, "storage RSS peaked at \(mib(peakDownload)) while sending 1 GiB")
        await cluster.stop()
    }
}

/// The highest resident memory of a process, sampled every 20 ms until cancelled.
actor RSSSampler {
    let pid: Int32
    init(pid: Int32) { self.pid = pid }
    func run() async -> Int64 {
        var peak: Int64 = 0
        while !Task.isCancelled {
            if let rss = try? DaemonCluster.rss(pid: pid) { peak = max(peak, rss) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let rss = try? DaemonCluster.rss(pid: pid) { peak = max(peak, rss) }
        return peak
    }
}

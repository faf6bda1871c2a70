import FDFSClient
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

    /// Ports for one test: random within a range no sample or other test uses.
    static func ports() -> (Int, Int) {
        let base = Int.random(in: 0..<500) * 2 + 41000
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
        rebuild.waitUntilExit()
        let output = (try? String(contentsOfFile: cluster.directory + "/rebuild.log", encoding: .utf8)) ?? ""
        #expect(rebuild.terminationStatus == 0, "\(output)")
        #expect(output.contains("catalog rebuilt: 49 files"), "\(output)")
        let rebuilt = try FileCatalog(path: catalogPath).snapshot()
        #expect(rebuilt.files == live.files)
        #expect(rebuilt.metadata.isEmpty, "the old catalog was removed: no metadata to carry over")
    }
}

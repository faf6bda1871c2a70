import FDFSConfig
import FDFSModel
import Foundation
import Testing

/// `tools/deploy-config`: the files it generates load with our typed configurations and say
/// what the topology says; bad topologies are refused with a message.
@Suite("tools/deploy-config")
struct DeployConfigTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPaths.packageRoot + "/tools/deploy-config"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors, as: UTF8.self))
    }

    @Test("the example topology: every host's files load and agree with the topology")
    func example() throws {
        try withTemporaryDirectory { dir in
            let r = try Self.run([TestPaths.sample("deploy-topology.example.ini"), "--out", dir])
            #expect(r.status == 0, "\(r)")
            let hosts = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            #expect(hosts == ["10.0.0.11", "10.0.0.12", "10.0.0.21", "10.0.0.5", "10.0.0.6"])
            let trackers = [ServerAddress(host: "10.0.0.5", port: 22122), ServerAddress(host: "10.0.0.6", port: 22122)]

            for t in ["10.0.0.5", "10.0.0.6"] {
                let tracker = try TrackerConfiguration.load(path: "\(dir)/\(t)/tracker.conf")
                #expect(tracker.service.port == 22122 && tracker.service.bindAddresses == [t])
                #expect(tracker.service.basePath == "/var/lib/fdfs/tracker" && tracker.useStorageID)
                let unit = try String(contentsOfFile: "\(dir)/\(t)/fdfs-trackerd.service", encoding: .utf8)
                #expect(unit.contains("ExecStart=/usr/local/bin/fdfs-trackerd --config /etc/fdfs/tracker.conf"))
                #expect(unit.contains("User=fdfs") && unit.contains("KillSignal=SIGTERM"))
            }
            let s11 = try StorageConfiguration.load(path: "\(dir)/10.0.0.11/storage-group1-23000.conf")
            #expect(s11.groupName == (try GroupName("group1")) && s11.service.port == 23000)
            #expect(s11.storePaths.map(\.path) == ["/data/fdfs0", "/data/fdfs1"])
            #expect(s11.trackerServers == trackers)
            #expect(s11.service.basePath == "/var/lib/fdfs/storage-group1-23000")
            let s5 = try StorageConfiguration.load(path: "\(dir)/10.0.0.5/storage-group2-23000.conf")
            #expect(s5.groupName == (try GroupName("group2")))
            let unit5 = try String(contentsOfFile: "\(dir)/10.0.0.5/fdfs-storaged-group2-23000.service", encoding: .utf8)
            #expect(unit5.contains("--config /etc/fdfs/storage-group2-23000.conf") && unit5.contains("Wants=network-online.target fdfs-trackerd.service"))
            let unit11 = try String(contentsOfFile: "\(dir)/10.0.0.11/fdfs-storaged-group1-23000.service", encoding: .utf8)
            #expect(!unit11.contains("fdfs-trackerd.service"), "no tracker on that host")

            for host in hosts {
                let client = try ClientConfiguration.load(path: "\(dir)/\(host)/client.conf")
                #expect(client.trackerServers == trackers)
                let ids = try StorageIDs.load(path: "\(dir)/\(host)/storage_ids.conf")
                #expect(ids.entries.map(\.id.description) == ["100001", "100002", "100003", "100004"])
                #expect(ids.entries.map(\.groupName.rawValue) == ["group1", "group1", "group2", "group2"])
                let readme = try String(contentsOfFile: "\(dir)/\(host)/README.txt", encoding: .utf8)
                #expect(readme.contains("systemctl enable --now"))
            }
        }
    }

    @Test("bad topologies exit 1 with a message naming the problem", arguments: [
        ("[trackers]\nhosts = 10.0.0.1:22122\n", "no [group.NAME] section"),
        ("[group.g1]\nstorages = 10.0.0.2:23000\n", "no tracker given"),
        ("[trackers]\nhosts = 10.0.0.1\n[group.g1]\nstorages = 10.0.0.2:23000\n", "is not ip:port"),
        ("[trackers]\nhosts = 10.0.0.1:70000\n[group.g1]\nstorages = 10.0.0.2:23000\n", "outside 1...65535"),
        ("[trackers]\nhosts = 10.0.0.1:22122, 10.0.0.1:22122\n[group.g1]\nstorages = 10.0.0.2:23000\n", "listed twice"),
        ("[trackers]\nhosts = 10.0.0.1:22122\n[group.bad-name]\nstorages = 10.0.0.2:23000\n", "must be 1-16 letters or digits"),
        ("[trackers]\nhosts = 10.0.0.1:22122\n[group.g1]\nstorages = 10.0.0.2:23000\n[group.g2]\nstorages = 10.0.0.2:23000\n",
         "already in group g1"),
        ("[trackers]\nhosts = " + (1...17).map { "10.0.0.\($0):22122" }.joined(separator: ", ") + "\n[group.g1]\nstorages = 10.0.1.1:23000\n",
         "at most 16"),
    ])
    func invalid(_ topology: String, _ message: String) throws {
        try withTemporaryDirectory { dir in
            try topology.write(toFile: dir + "/topology.ini", atomically: true, encoding: .utf8)
            let r = try Self.run([dir + "/topology.ini", "--out", dir + "/out"])
            #expect(r.status == 1 && r.errors.contains(message) && r.errors.contains("topology.ini"), "\(r)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
        }
    }
}

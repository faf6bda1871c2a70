import FDFSClient
import FDFSHTTP
import FDFSModel
import FDFSProtocol
import Foundation
import FDFSTesting
import Glibc
import Testing

/// The built `fdfs` binary against live clusters of real daemons (started by `fdfs sandbox`),
/// ports 26100-26599.
@Suite("fdfs CLI", .serialized)
struct CLITests {
    @Test("file commands: upload, download, info, meta, appender changes, slave, delete")
    func fileCommands() async throws {
        try await withSandbox(trackerPort: 26100, storagePort: 26110, httpPort: 26150) { c in
            // Upload with metadata, as JSON.
            let content = testBytes(300_000, seed: 1)
            let path = try writeTemporaryFile(content, name: "photo-\(UUID().uuidString).jpg")
            let up = try await c.fdfs(["upload", path, "--meta", "width=1024", "height=768", "--json"])
            #expect(up.status == 0, "\(up)")
            let upJSON = try up.json()
            let id = try #require(upJSON["file_id"] as? String)
            #expect(id.hasPrefix("group1/M00/") && id.hasSuffix(".jpg"))
            #expect(upJSON["size"] as? Int == content.count)
            #expect(up.stderr.isEmpty, "no progress bar when stderr is not a terminal: \(up.stderr)")

            // Download: to a file, to stdout, a range.
            let dest = FileManager.default.temporaryDirectory.appendingPathComponent("dl-\(UUID().uuidString)").path
            let down = try await c.fdfs(["download", id, dest])
            #expect(down.status == 0, "\(down)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: dest)) == content)
            #expect(!FileManager.default.fileExists(atPath: dest + FDFSClient.partSuffix))
            let toStdout = try await c.fdfs(["download", id, "-"])
            #expect(toStdout.status == 0 && toStdout.stdout == content, "\(toStdout.status)")
            let range = try await c.fdfs(["download", id, "-", "--offset", "1000", "--length", "777"])
            #expect(range.stdout == content.subdata(in: 1000..<1777))

            // A download interrupted after 100,000 bytes is resumed from its part file.
            let resumed = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)").path
            try content.prefix(100_000).write(to: URL(fileURLWithPath: resumed + FDFSClient.partSuffix))
            let resume = try await c.fdfs(["download", id, resumed, "--json"])
            #expect(resume.status == 0, "\(resume)")
            #expect(try resume.json()["resumed_from"] as? Int == 100_000)
            #expect(try Data(contentsOf: URL(fileURLWithPath: resumed)) == content)

            // Info: the ID's fields and the storage's answer agree.
            let info = try await c.fdfs(["info", id, "--json"]).json()
            #expect(info["size"] as? Int == content.count)
            #expect(info["size_in_name"] as? Int == content.count)
            #expect(info["crc32"] as? String == info["crc32_in_name"] as? String)
            #expect(info["kind"] as? String == "normal")
            #expect(info["source"] as? String == "server id 100001" || info["source"] as? String == "server id 100002")
            // The storage resolves the server id through storage_ids.conf (FETCH_STORAGE_IDS at startup).
            #expect(info["source_ip"] as? String == "127.0.0.1")
            let human = try await c.fdfs(["info", id])
            #expect(human.text.contains("size             \(content.count)"), "\(human)")
            // The HTTP URL, from the storage that has the file (HTTP_ENDPOINT), serves the bytes.
            let url = try #require(info["http_url"] as? String)
            #expect(url == "http://127.0.0.1:26150/" + id || url == "http://127.0.0.1:26151/" + id, "\(url)")
            #expect(human.text.contains("http url         " + url), "\(human)")
            let port = try #require(Int(url.dropFirst("http://127.0.0.1:".count).prefix(5)))
            #expect(try await HTTPTestConnection.open(port: port).fetch("GET", "/" + id).body == [UInt8](content))
            // With the anti-steal check on in client.conf, the URL carries a FastDFS token.
            let tokenConf = c.directory + "/client-token.conf"
            try (String(contentsOfFile: c.clientConf, encoding: .utf8)
                + "\nhttp.anti_steal.check_token = true\nhttp.anti_steal.secret_key = FastDFS1234567890\n")
                .write(toFile: tokenConf, atomically: true, encoding: .utf8)
            let signed = try await CLI.run(["info", "--config", tokenConf, id, "--json"]).json()
            let signedText = try #require(signed["http_url"] as? String)
            let signedURL = try #require(URLComponents(string: signedText))
            let query = Dictionary(uniqueKeysWithValues: (signedURL.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            #expect(AntiStealToken(secretKey: "FastDFS1234567890", ttlSeconds: 600).refusal(
                token: query["token"], timestamp: query["ts"], fileIDWithGroup: id, fileIDWithoutGroup: String(id.dropFirst("group1/".count)),
                now: Int64(Date().timeIntervalSince1970)) == nil, "\(signedURL)")
            // The monitor shows every storage's HTTP port.
            let monitor = try await c.fdfs(["monitor", "--json"]).json()
            let monitored = ((monitor["groups"] as? [[String: Any]])?.first?["storages"] as? [[String: Any]]) ?? []
            #expect(Set(monitored.compactMap { $0["http_url"] as? String }) == ["http://127.0.0.1:26150", "http://127.0.0.1:26151"], "\(monitored)")

            // Metadata: get, overwrite, merge.
            let meta = try await c.fdfs(["meta", "get", id])
            #expect(meta.text == "height=768\nwidth=1024\n", "\(meta)")
            #expect(try await c.fdfs(["meta", "set", id, "color=red"]).status == 0)
            #expect(try await c.fdfs(["meta", "set", id, "size=big", "--merge"]).status == 0)
            let merged = try await c.fdfs(["meta", "get", id, "--json"]).json()
            #expect(merged as? [String: String] == ["color": "red", "size": "big"])

            // Standard input, appender file, append, modify, truncate.
            let appender = try await c.fdfs(["upload", "-", "--appender", "--ext", "log"], stdin: Data("hello ".utf8))
            #expect(appender.status == 0, "\(appender)")
            let aid = appender.line
            #expect(try await c.fdfs(["append", aid, "-"], stdin: Data("world".utf8)).status == 0)
            #expect(try await c.fdfs(["download", aid, "-"]).text == "hello world")
            #expect(try await c.fdfs(["modify", aid, "0", "-"], stdin: Data("HELLO".utf8)).status == 0)
            #expect(try await c.fdfs(["download", aid, "-"]).text == "HELLO world")
            #expect(try await c.fdfs(["truncate", aid, "5"]).status == 0)
            #expect(try await c.fdfs(["download", aid, "-"]).text == "HELLO")
            #expect(try await c.fdfs(["info", aid, "--json"]).json()["kind"] as? String == "appender")

            // Slave file of the master.
            let thumb = try writeTemporaryFile(testBytes(5000, seed: 2), name: "t.png")
            let slave = try await c.fdfs(["upload-slave", id, "_150x150", thumb])
            #expect(slave.status == 0, "\(slave)")
            #expect(slave.line == String(id.dropLast(4)) + "_150x150.png")
            #expect(try await c.fdfs(["download", slave.line, "-"]).stdout == testBytes(5000, seed: 2))

            // List: every file of the group exactly once, from both storages' catalogs.
            var uploaded: Set<String> = [id, aid, slave.line]
            for i in 0..<12 {
                let r = try await c.fdfs(["upload", "-", "--ext", "txt"], stdin: Data("file \(i)".utf8))
                #expect(r.status == 0, "\(r)")
                uploaded.insert(r.line)
            }
            let listed = try await c.fdfs(["list", "group1"])
            #expect(listed.status == 0, "\(listed)")
            let lines = listed.text.split(separator: "\n").map(String.init)
            #expect(lines.count == uploaded.count && Set(lines) == uploaded, "listed \(lines), uploaded \(uploaded.sorted())")
            #expect(lines == lines.sorted())
            let listJSON = try await c.fdfs(["list", "group1", "--json"]).json()
            #expect(listJSON["count"] as? Int == uploaded.count)
            let jsonFiles = try #require(listJSON["files"] as? [[String: Any]])
            #expect(jsonFiles.first { $0["file_id"] as? String == id }?["size"] as? Int == content.count)
            #expect(jsonFiles.first { $0["file_id"] as? String == aid }?["kind"] as? String == "appender")
            #expect(try await c.fdfs(["list", "group1", "--limit", "3"]).text.split(separator: "\n").count == 3)
            let prefix = try await c.fdfs(["list", "group1", "--prefix", "M00/00/00/"])
            #expect(prefix.text.split(separator: "\n").count == uploaded.filter { $0.hasPrefix("group1/M00/00/00/") }.count)
            let none = try await c.fdfs(["list", "group1", "--prefix", "M01/"])
            #expect(none.status == 0 && none.text.isEmpty, "\(none)")
            let noGroup = try await c.fdfs(["list", "nogroup"])
            #expect(noGroup.status == 2 && noGroup.stderr.contains("group not found: nogroup"), "\(noGroup)")

            // Delete: then it is not found (exit 2).
            #expect(try await c.fdfs(["delete", slave.line]).status == 0)
            let gone = try await c.fdfs(["info", slave.line])
            #expect(gone.status == 2 && gone.stderr.contains("file not found: \(slave.line)"), "\(gone)")
        }
    }

    @Test("monitor: --json agrees with the tracker, the screen matches the golden file; delete-storage")
    func monitorAndDeleteStorage() async throws {
        try await withSandbox(trackerPort: 26200, storagePort: 26210) { c in
            _ = try await c.fdfs(["upload", "-"], stdin: Data("x".utf8))
            let r = try await c.fdfs(["monitor", "--json"])
            #expect(r.status == 0, "\(r)")
            let snapshot = try r.json()
            let trackers = try #require(snapshot["trackers"] as? [[String: Any]])
            #expect(trackers.count == 1 && trackers[0]["reachable"] as? Bool == true && trackers[0]["leader"] as? Bool == true)
            let groups = try #require(snapshot["groups"] as? [[String: Any]])
            #expect(groups.map { $0["name"] as? String } == ["group1"])
            let storages = try #require(groups[0]["storages"] as? [[String: Any]])
            let tracker = try await c.statuses()
            #expect(groups[0]["storage_count"] as? Int == tracker.count)
            #expect(Dictionary(uniqueKeysWithValues: storages.map { ($0["id"] as! String, $0["status"] as! String) })
                    == tracker.mapValues(\.name))
            for s in storages {
                let counters = try #require(s["counters"] as? [String: Int])
                #expect(counters.count == 38 && counters["success_upload_count"] != nil, "\(counters.keys.sorted())")
            }

            let screen = try await c.fdfs(["monitor"])
            #expect(screen.status == 0)
            let golden = try String(contentsOf: CLI.packageRoot.appendingPathComponent("Tests/FDFSCLITests/Golden/monitor.txt"), encoding: .utf8)
            #expect(maskMonitor(screen.text) == golden, "masked screen:\n\(maskMonitor(screen.text))")
            let one = try await c.fdfs(["monitor", "--group", "nogroup"])
            #expect(one.status == 2 && one.stderr.contains("group not found: nogroup"), "\(one)")

            // delete-storage: refused while ACTIVE, done on every tracker once it is stopped.
            let busy = try await c.fdfs(["delete-storage", "group1", "100002"])
            #expect(busy.status == 4 && busy.stderr.contains("ACTIVE") && busy.stderr.contains("stop fdfs-storaged"), "\(busy)")
            try await c.stopDaemon("storage1")
            let deadline = ContinuousClock.now + .seconds(60)
            while try await c.statuses()["100002"] != .offline && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(300)) }
            let deleted = try await c.fdfs(["delete-storage", "group1", "100002"])
            #expect(deleted.status == 0 && deleted.text.contains("deleted 100002"), "\(deleted)")
            let after = try await c.statuses()
            #expect(after["100002"] == nil || after["100002"] == .deleted, "\(after)")
            let unknown = try await c.fdfs(["delete-storage", "group1", "999999"])
            #expect(unknown.status == 2, "\(unknown)")
        }
    }

    @Test("failover: with the first of two trackers stopped every subcommand still works")
    func trackerFailover() async throws {
        try await withSandbox(trackers: 2, trackerPort: 26300, storagePort: 26310) { c in
            try await c.stopDaemon("tracker0")
            let content = testBytes(50_000, seed: 3)
            let up = try await c.fdfs(["upload", try writeTemporaryFile(content), "--meta", "k=v"])
            #expect(up.status == 0, "\(up)")
            let id = up.line
            #expect(try await c.fdfs(["download", id, "-"]).stdout == content)
            #expect(try await c.fdfs(["info", id]).status == 0)
            #expect(try await c.fdfs(["meta", "get", id]).text == "k=v\n")
            #expect(try await c.fdfs(["meta", "set", id, "a=b", "--merge"]).status == 0)
            let appender = try await c.fdfs(["upload", "-", "--appender"], stdin: Data("a".utf8)).line
            #expect(try await c.fdfs(["append", appender, "-"], stdin: Data("b".utf8)).status == 0)
            #expect(try await c.fdfs(["modify", appender, "0", "-"], stdin: Data("c".utf8)).status == 0)
            #expect(try await c.fdfs(["truncate", appender, "1"]).status == 0)
            #expect(try await c.fdfs(["upload-slave", id, "_s", try writeTemporaryFile(Data("s".utf8))]).status == 0)
            let monitor = try await c.fdfs(["monitor", "--json"])
            #expect(monitor.status == 0, "\(monitor)")
            let trackers = try #require(try monitor.json()["trackers"] as? [[String: Any]])
            #expect(trackers.map { $0["reachable"] as? Bool } == [false, true])
            #expect(try await c.fdfs(["delete", id]).status == 0)
            #expect(try await c.fdfs(["info", id]).status == 2)
        }
    }

    @Test("errors: message and exit code, never a crash")
    func errors() async throws {
        // Nothing listens on 26499.
        let unreachable = try await CLI.run(["upload", "--tracker", "127.0.0.1:26499", CLI.packageRoot.appendingPathComponent("README.md").path])
        #expect(unreachable.status == 3, "\(unreachable)")
        #expect(unreachable.stderr.contains("tracker 127.0.0.1:26499 refused the connection (is fdfs-trackerd running? check tracker_server in"),
                "\(unreachable)")
        let noConfig = try await CLI.run(["info", "--config", "/nonexistent/client.conf", "group1/M00/00/00/oYYBAGsS_LqASfg8AJiWgIcaaE4498.bin"])
        #expect(noConfig.status == 1 && noConfig.stderr.contains("cannot read the client configuration /nonexistent/client.conf"), "\(noConfig)")
        let usage = try await CLI.run(["upload"])
        #expect(usage.status == 1 && usage.stderr.contains("Missing expected argument"), "\(usage)")
        let badID = try await CLI.run(["info", "--tracker", "127.0.0.1:26499", "not-a-file-id"])
        #expect(badID.status == 1 && badID.stderr.contains("not a file ID"), "\(badID)")
        // A tracker that accepts connections but never answers: network_timeout from client.conf.
        let silent = try SilentListener(port: 26498)
        defer { silent.close() }
        let conf = FileManager.default.temporaryDirectory.appendingPathComponent("silent-\(UUID().uuidString).conf").path
        try "tracker_server = 127.0.0.1:26498\nnetwork_timeout = 1\nconnect_timeout = 1\n".write(toFile: conf, atomically: true, encoding: .utf8)
        let started = ContinuousClock.now
        let stuck = try await CLI.run(["monitor", "--config", conf])
        #expect(stuck.status == 3 && stuck.stderr.contains("tracker 127.0.0.1:26498 did not answer within 1 s (network_timeout)"), "\(stuck)")
        #expect(ContinuousClock.now - started < .seconds(20))
        let help = try await CLI.run(["--help"])
        #expect(help.status == 0 && help.text.contains("EXIT CODES") && help.text.contains("3  unavailable"))

        try await withSandbox(storages: 1, trackerPort: 26400, storagePort: 26410) { c in
            let wrongGroup = try await c.fdfs(["upload", CLI.packageRoot.appendingPathComponent("README.md").path, "--group", "nogroup"])
            #expect(wrongGroup.status == 2 && wrongGroup.stderr.contains("group not found: nogroup"), "\(wrongGroup)")
            let unknown = "group1/M00/00/00/oYYBAGsS_LqASfg8AJiWgIcaaE4498.bin"
            let missing = try await c.fdfs(["download", unknown, "-"])
            #expect(missing.status == 2 && missing.stderr.contains("file not found: \(unknown)"), "\(missing)")
            let unreadable = try writeTemporaryFile(Data("secret".utf8))
            chmod(unreadable, 0)
            let noRead = try await c.fdfs(["upload", getuid() == 0 ? "/nonexistent/file" : unreadable])
            #expect(noRead.status == 1 && noRead.stderr.contains("cannot open"), "\(noRead)")
            let directory = try await c.fdfs(["upload", "/tmp"])
            #expect(directory.status == 1 && directory.stderr.contains("/tmp"), "\(directory)")
            for r in [wrongGroup, missing, noRead, directory] {
                #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Backtrac"), "\(r)")
            }
        }
    }

    @Test("sandbox in the foreground: ACTIVE, serves an upload and a download, Ctrl-C stops every process")
    func sandboxForeground() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-sandbox-fg-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + ".out"
        FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let process = Process()
        process.executableURL = CLI.binDirectory.appendingPathComponent("fdfs")
        process.arguments = ["sandbox", "--dir", dir, "--tracker-port", "26500", "--storage-port", "26510", "--http-port", "0",
                             "--conf-dir", CLI.packageRoot.appendingPathComponent("conf").path]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = process.standardOutput
        try process.run()
        var text = ""
        let deadline = ContinuousClock.now + .seconds(120)
        while !text.contains("Ctrl-C stops the sandbox") && process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        }
        #expect(text.contains("ACTIVE") && text.contains("sandbox up"), "\(text)")
        let pids = ["tracker0", "storage0", "storage1"].compactMap { name in
            (try? String(contentsOfFile: dir + "/run/\(name).pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        #expect(pids.count == 3)

        let content = testBytes(20_000, seed: 4)
        let up = try await CLI.run(["upload", "-"], stdin: content, environment: ["FDFS_CLIENT_CONF": dir + "/client.conf"])
        #expect(up.status == 0, "\(up)")
        let down = try await CLI.run(["download", up.line, "-"], environment: ["FDFS_CLIENT_CONF": dir + "/client.conf"])
        #expect(down.stdout == content)

        kill(process.processIdentifier, SIGINT)
        let stopDeadline = ContinuousClock.now + .seconds(60)
        while process.isRunning && ContinuousClock.now < stopDeadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(text.contains("sandbox stopped"), "\(text)")
        for pid in pids { #expect(kill(pid, 0) != 0, "process \(pid) still running") }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/run")) ?? []).isEmpty)
    }
}

/// The monitor screen with every value that changes between runs masked: times, the sync
/// source (either storage may join first), lags, numbers, and runs of spaces (column widths
/// follow the numbers).
func maskMonitor(_ text: String) -> String {
    var s = text.replacingOccurrences(of: #"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"#, with: "<time>", options: .regularExpression)
    s = s.replacingOccurrences(of: #"(update|up to) -"#, with: "$1 <time>", options: .regularExpression)
    s = s.replacingOccurrences(of: #"source ([0-9.]+|-) +trunk"#, with: "source <id> trunk", options: .regularExpression)
    s = s.replacingOccurrences(of: #"\(([0-9]+ s behind|never synced)\)"#, with: "(<lag>)", options: .regularExpression)
    s = s.replacingOccurrences(of: #"[0-9]+"#, with: "#", options: .regularExpression)
    s = s.replacingOccurrences(of: #"(#\.)?# (GB|MB)"#, with: "<size>", options: .regularExpression)
    s = s.replacingOccurrences(of: #" +"#, with: " ", options: .regularExpression)
    return s
}

/// A listening socket that never accepts: connections complete in the backlog, requests get
/// no answer.
final class SilentListener: Sendable {
    let descriptor: Int32

    init(port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else { throw CLITestError("cannot listen on 127.0.0.1:\(port): errno \(errno)") }
    }

    func close() { _ = Glibc.close(descriptor) }
}

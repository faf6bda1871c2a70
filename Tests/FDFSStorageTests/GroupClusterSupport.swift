import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// One tracker and several storages of group1 as real processes on 127.0.0.1, from the sample
/// configuration files with storage ids (`storage_ids.conf`: ids 100001, 100002, ... on one IP
/// with distinct ports, ids in file names), each storage with its own base and store path.
/// Heartbeats every second so that status changes travel fast.
final class GroupCluster: @unchecked Sendable {
    static let group = try! GroupName("group1")
    let directory: String
    let trackerPort: Int
    let storagePorts: [Int]
    let ids: [String]
    private(set) var tracker: Process?
    private(set) var storages: [Process?]

    /// HTTP ports of the storages (empty when HTTP is off).
    let httpPorts: [Int]
    /// The tracker's HTTP port (`/healthz`), nil when HTTP is off.
    var trackerHTTPPort: Int? { httpPorts.isEmpty ? nil : trackerPort + httpPorts[0] - storagePorts[0] }

    /// Writes the configuration of `storageCount` storages and starts the tracker (storages
    /// start with `start(_:)`). Ports: `basePort` for the tracker, the next ones for storages;
    /// with `httpPortOffset`, each storage (and the tracker) serves HTTP on its port plus that offset.
    /// `trackerSettings` and `storageSettings(i)` set more keys of the sample files;
    /// `storageLines(i)` is appended to storage `i`'s file (keys the sample lacks).
    init(storageCount: Int, basePort: Int, httpPortOffset: Int? = nil, trackerSettings: [String: String] = [:],
         storageSettings: (Int) -> [String: String] = { _ in [:] }, storageLines: (Int) -> String = { _ in "" }) throws {
        directory = try temporaryDirectory()
        trackerPort = basePort
        let ports = (1...storageCount).map { basePort + $0 }
        storagePorts = ports
        httpPorts = httpPortOffset.map { offset in ports.map { $0 + offset } } ?? []
        ids = (1...storageCount).map { String(100_000 + $0) }
        storages = Array(repeating: nil, count: storageCount)
        let conf = DaemonCluster.packageRoot.appendingPathComponent("conf")
        try FileManager.default.createDirectory(atPath: directory + "/tracker", withIntermediateDirectories: true)
        let idLines = zip(ids, storagePorts).map { "\($0) group1 127.0.0.1:\($1)" }.joined(separator: "\n") + "\n"
        try idLines.write(toFile: directory + "/storage_ids.conf", atomically: true, encoding: .utf8)
        let trackerConf = try DaemonCluster.override(String(contentsOf: conf.appendingPathComponent("tracker.conf"), encoding: .utf8), [
            "bind_addr": "127.0.0.1", "port": "\(trackerPort)", "base_path": directory + "/tracker",
            "reserved_storage_space": "1%", "use_storage_id": "true", "storage_ids_filename": directory + "/storage_ids.conf",
            "id_type_in_filename": "id", "http.server_port": httpPortOffset.map { "\(basePort + $0)" } ?? "0",
        ].merging(trackerSettings) { $1 })
        try trackerConf.write(toFile: directory + "/tracker.conf", atomically: true, encoding: .utf8)
        let sample = try String(contentsOf: conf.appendingPathComponent("storage.conf"), encoding: .utf8)
        for i in 0..<storageCount {
            for d in ["storage\(i)", "store\(i)"] {
                try FileManager.default.createDirectory(atPath: directory + "/" + d, withIntermediateDirectories: true)
            }
            var text = try DaemonCluster.override(sample, [
                "bind_addr": "127.0.0.1", "port": "\(storagePorts[i])", "base_path": directory + "/storage\(i)",
                "store_path0": directory + "/store\(i)", "tracker_server": "127.0.0.1:\(trackerPort)",
                "heart_beat_interval": "1", "sync_binlog_buff_interval": "1", "subdir_count_per_path": "16",
                // The statistics reach the tracker within a second (the metrics test waits for them).
                "stat_report_interval": "1",
                "http.server_port": httpPorts.isEmpty ? "0" : "\(httpPorts[i])",
            ].merging(storageSettings(i)) { $1 })
            // Before the first [section], where a key would belong to that section.
            let lines = storageLines(i)
            if let section = text.range(of: "\n[") { text.insert(contentsOf: "\n" + lines, at: section.lowerBound) } else { text += "\n" + lines }
            try text.write(toFile: configPath(i), atomically: true, encoding: .utf8)
        }
        tracker = try DaemonCluster.launch("fdfs-trackerd", ["--config", directory + "/tracker.conf"], log: directory + "/tracker.log")
    }

    func configPath(_ i: Int) -> String { directory + "/storage\(i).conf" }
    func basePath(_ i: Int) -> String { directory + "/storage\(i)" }
    func storePath(_ i: Int) -> String { directory + "/store\(i)" }

    /// Starts storage `i` (its log is appended to, across restarts).
    func start(_ i: Int) throws {
        let log = directory + "/storage\(i).log"
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let process = Process()
        process.executableURL = DaemonCluster.binDirectory.appendingPathComponent("fdfs-storaged")
        process.arguments = ["--config", configPath(i)]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        storages[i] = process
    }

    /// SIGKILL of the tracker: no shutdown work at all.
    func killTracker() {
        guard let p = tracker else { return }
        if p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        tracker = nil
    }

    /// Starts the tracker again (its log is appended to).
    func startTracker() throws {
        let process = Process()
        process.executableURL = DaemonCluster.binDirectory.appendingPathComponent("fdfs-trackerd")
        process.arguments = ["--config", directory + "/tracker.conf"]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/tracker.log"))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        tracker = process
    }

    /// SIGKILL: no shutdown work at all.
    func kill(_ i: Int) {
        guard let p = storages[i] else { return }
        if p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        storages[i] = nil
    }

    /// SIGTERM and wait (graceful); the exit code.
    @discardableResult
    func stop(_ i: Int) async -> Int32 {
        guard let p = storages[i] else { return 0 }
        await Self.terminate(p)
        storages[i] = nil
        return p.terminationStatus
    }

    static func terminate(_ p: Process) async {
        if p.isRunning { p.terminate() }
        let deadline = ContinuousClock.now + .seconds(15)
        while p.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    func stopAll() async {
        for i in storages.indices { await stop(i) }
        if let tracker { await Self.terminate(tracker) }
        tracker = nil
    }

    /// Every storage's status on the tracker, by id.
    func statuses() async -> [String: StorageStatus] {
        guard let link = try? await FDFSClientConnection.connect(host: "127.0.0.1", port: trackerPort, connectTimeout: .seconds(5)) else { return [:] }
        defer { Task { await link.close() } }
        guard let list = try? await link.request(ListStorageRequest(group: Self.group, storageID: nil)) else { return [:] }
        return Dictionary(list.storages.map { ($0.id, $0.status) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every storage's statistics (the last beat) on the tracker, by id.
    func statistics() async -> [String: StorageStatistics] {
        guard let link = try? await FDFSClientConnection.connect(host: "127.0.0.1", port: trackerPort, connectTimeout: .seconds(5)) else { return [:] }
        defer { Task { await link.close() } }
        guard let list = try? await link.request(ListStorageRequest(group: Self.group, storageID: nil)) else { return [:] }
        return Dictionary(list.storages.map { ($0.id, $0.statistics) }, uniquingKeysWith: { a, _ in a })
    }

    /// Waits until `condition` holds for the tracker's statuses; fails with the logs after `timeout`.
    func waitForStatuses(_ what: String, timeout: Duration = .seconds(60), _ condition: ([String: StorageStatus]) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        // Five more checks after the deadline: a task starved by CPU-bound tests may wake up
        // past it, and its first call may time out.
        var lateChecks = 0
        while true {
            try checkRunning()
            if condition(await statuses()) { return }
            if ContinuousClock.now >= deadline { lateChecks += 1; if lateChecks >= 5 { break } }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DaemonError("\(what) not reached within \(timeout); statuses \(await statuses())\n" + logs())
    }

    func waitUntilActive(_ indices: [Int], timeout: Duration = .seconds(60)) async throws {
        try await waitForStatuses("storages \(indices.map { ids[$0] }) ACTIVE", timeout: timeout) { s in
            indices.allSatisfy { s[ids[$0]] == .active }
        }
    }

    func checkRunning() throws {
        guard tracker?.isRunning ?? false else { throw DaemonError("the tracker exited:\n" + logs()) }
        for (i, p) in storages.enumerated() where p != nil && !p!.isRunning {
            throw DaemonError("storage \(ids[i]) exited:\n" + logs())
        }
    }

    func client(_ i: Int) async throws -> StorageClient {
        StorageClient(connection: try await FDFSClientConnection.connect(host: "127.0.0.1", port: storagePorts[i], connectTimeout: .seconds(5)))
    }

    /// The last 60 lines of every log.
    func logs() -> String {
        (["tracker"] + storages.indices.map { "storage\($0)" }).map { name in
            let text = (try? String(contentsOfFile: directory + "/\(name).log", encoding: .utf8)) ?? "(none)"
            return "--- \(name).log\n" + text.split(separator: "\n", omittingEmptySubsequences: false).suffix(60).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    func log(_ i: Int) -> String { (try? String(contentsOfFile: directory + "/storage\(i).log", encoding: .utf8)) ?? "" }

    /// Waits until every file of `files` (remote filename -> (size, crc32)) answers
    /// QUERY_FILE_INFO on storage `i` with that size and CRC32. Returns the seconds it took.
    @discardableResult
    func waitForFiles(_ files: [String: (size: Int64, crc: UInt32)], on i: Int, timeout: Duration = .seconds(120)) async throws -> Double {
        let start = ContinuousClock.now
        let deadline = start + timeout
        var missing = Set(files.keys)
        var wrong: [String] = []
        // Five more checks after the deadline: a task starved by CPU-bound tests may wake up
        // past it, and its first call may time out.
        var lateChecks = 0
        while true {
            try checkRunning()
            wrong = []
            if let client = try? await client(i) {
                for name in missing.sorted() {
                    guard let info = try? await client.queryFileInfo(FileID(group: Self.group, remoteFilename: try RemoteFilename(parsing: name))) else { continue }
                    let want = files[name]!
                    if info.fileSize == want.size && info.crc32 == want.crc {
                        missing.remove(name)
                    } else {
                        wrong.append("\(name): \(info.fileSize) bytes crc \(info.crc32), want \(want.size) crc \(want.crc)")
                    }
                }
                await client.close()
            }
            if missing.isEmpty { return (ContinuousClock.now - start).seconds }
            if ContinuousClock.now >= deadline { lateChecks += 1; if lateChecks >= 5 { break } }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw DaemonError("storage \(ids[i]): \(missing.count) of \(files.count) files missing or different after \(timeout) "
                          + "(\(missing.sorted().prefix(3)), wrong: \(wrong.prefix(3)))\n" + logs())
    }

    /// Waits until none of `names` exists on storage `i`.
    func waitForAbsence(_ names: [String], on i: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        var present = names
        // Five more checks after the deadline: a task starved by CPU-bound tests may wake up
        // past it, and its first call may time out.
        var lateChecks = 0
        while true {
            if let client = try? await client(i) {
                var still: [String] = []
                for name in present {
                    if (try? await client.fileExists(FileID(group: Self.group, remoteFilename: try RemoteFilename(parsing: name)))) != false { still.append(name) }
                }
                await client.close()
                present = still
            }
            if present.isEmpty { return }
            if ContinuousClock.now >= deadline { lateChecks += 1; if lateChecks >= 5 { break } }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw DaemonError("storage \(ids[i]) still has \(present)\n" + logs())
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Test file contents from a seeded generator, so a test's files are the same every run.
extension SeededRandomNumberGenerator {
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var v = next()
            for _ in 0..<8 where i < count {
                out[i] = UInt8(truncatingIfNeeded: v)
                v >>= 8
                i += 1
            }
        }
        return out
    }

    /// 0 B to 1 MiB, most files small: 1/8 empty or tiny, then log-uniform up to 1 MiB.
    mutating func fileSize() -> Int {
        let r = next()
        if r % 8 == 0 { return Int(r >> 8) % 16 }
        let exponent = Double((r >> 16) % 10_000) / 10_000 * 20  // 2^0 ... 2^20
        return min(1 << 20, Int(pow(2.0, exponent)))
    }
}

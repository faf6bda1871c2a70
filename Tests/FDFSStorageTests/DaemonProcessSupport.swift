import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import Testing

/// The real `fdfs-trackerd` and `fdfs-storaged` executables (built next to the test bundle by
/// `swift build --build-tests`) started as processes from the sample configuration files in
/// `conf/`, with only the paths, ports and addresses changed.
struct DaemonCluster {
    let directory: String
    let trackerPort: Int
    let storagePort: Int
    let tracker: Process
    let storage: Process

    static var binDirectory: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent() }

    /// The package root (this file is Tests/FDFSStorageTests/DaemonProcessSupport.swift).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `text` with `key = ...` lines replaced (a key missing from the sample is an error: the
    /// test must not silently diverge from it).
    static func override(_ text: String, _ values: [String: String]) throws -> String {
        var lines = text.components(separatedBy: "\n")
        for (key, value) in values {
            let matches = lines.indices.filter { lines[$0].hasPrefix(key + " ") || lines[$0].hasPrefix(key + "=") }
            guard let first = matches.first else { throw DaemonError("the sample configuration has no '\(key)' line") }
            lines[first] = "\(key) = \(value)"
            for extra in matches.dropFirst().reversed() { lines.remove(at: extra) }
        }
        return lines.joined(separator: "\n")
    }

    /// Starts a tracker and a storage on 127.0.0.1 from conf/tracker.conf and conf/storage.conf.
    static func start(trackerPort: Int, storagePort: Int, subdirCount: Int? = nil) throws -> DaemonCluster {
        let dir = try temporaryDirectory()
        for d in ["tracker", "storage", "store0"] { try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true) }
        let conf = packageRoot.appendingPathComponent("conf")
        let trackerConf = try override(String(contentsOf: conf.appendingPathComponent("tracker.conf"), encoding: .utf8), [
            "bind_addr": "127.0.0.1", "port": "\(trackerPort)", "base_path": dir + "/tracker",
            // The test machine's disk may be fuller than the sample's production reserve.
            "reserved_storage_space": "1%",
        ])
        var storageValues = [
            "bind_addr": "127.0.0.1", "port": "\(storagePort)", "base_path": dir + "/storage", "store_path0": dir + "/store0",
            "tracker_server": "127.0.0.1:\(trackerPort)",
        ]
        if let subdirCount { storageValues["subdir_count_per_path"] = "\(subdirCount)" }
        let storageConf = try override(String(contentsOf: conf.appendingPathComponent("storage.conf"), encoding: .utf8), storageValues)
        try trackerConf.write(toFile: dir + "/tracker.conf", atomically: true, encoding: .utf8)
        try storageConf.write(toFile: dir + "/storage.conf", atomically: true, encoding: .utf8)
        let tracker = try launch("fdfs-trackerd", ["--config", dir + "/tracker.conf"], log: dir + "/tracker.log")
        let storage: Process
        do {
            storage = try launch("fdfs-storaged", ["--config", dir + "/storage.conf"], log: dir + "/storage.log")
        } catch {
            tracker.terminate()
            throw error
        }
        return DaemonCluster(directory: dir, trackerPort: trackerPort, storagePort: storagePort, tracker: tracker, storage: storage)
    }

    static func launch(_ name: String, _ arguments: [String], log: String) throws -> Process {
        let executable = binDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw DaemonError("\(executable.path) is missing: build it with `swift build --build-tests` (tools/test does)")
        }
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Waits until the storage is ACTIVE on the tracker (at most `timeout`).
    func waitUntilActive(timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        let group = try GroupName("group1")
        while ContinuousClock.now < deadline {
            guard tracker.isRunning, storage.isRunning else { throw DaemonError("a daemon exited:\n" + logs()) }
            if let link = try? await FDFSClientConnection.connect(host: "127.0.0.1", port: trackerPort, connectTimeout: .seconds(1)) {
                let status = try? await link.request(ListStorageRequest(group: group, storageID: nil)).storages.first?.status
                await link.close()
                if status == .active { return }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DaemonError("the storage did not become ACTIVE within \(timeout):\n" + logs())
    }

    func logs() -> String {
        ["tracker", "storage"].map { name in
            "--- \(name).log\n" + ((try? String(contentsOfFile: directory + "/\(name).log", encoding: .utf8)) ?? "(none)")
        }.joined(separator: "\n")
    }

    /// Resident memory of the storage process in bytes (VmRSS of /proc/<pid>/status).
    func storageRSS() throws -> Int64 { try Self.rss(pid: storage.processIdentifier) }

    static func rss(pid: Int32) throws -> Int64 {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Int64(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { throw DaemonError("no VmRSS in /proc/\(pid)/status") }
        return kb * 1024
    }

    /// SIGTERM to both, waits for their exit (graceful shutdown); returns the exit codes.
    @discardableResult
    func stop() async -> (tracker: Int32, storage: Int32) {
        for p in [storage, tracker] where p.isRunning {
            p.terminate()
            let deadline = ContinuousClock.now + .seconds(10)
            while p.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        return (tracker.terminationStatus, storage.terminationStatus)
    }
}

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

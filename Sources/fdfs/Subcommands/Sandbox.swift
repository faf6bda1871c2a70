import ArgumentParser
import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import Foundation

struct Sandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a local cluster: one tracker and a group of two storages on 127.0.0.1, until Ctrl-C.",
        discussion: """
            Writes per-host configuration files (from the samples in conf/) under --dir, starts fdfs-trackerd and \
            fdfs-storaged processes (found next to this fdfs; built with `swift build` when missing and run from the \
            package), waits until every storage is ACTIVE, prints the monitor view and commands to try, and stops \
            everything cleanly on Ctrl-C. Files stay in --dir between runs (--clean starts empty).
            --detach returns once the cluster is up and leaves it running; `fdfs sandbox --down` stops it.
            Logs: DIR/logs/*.log.
            """)

    @Option(help: "Where configuration, data, logs and pid files go.") var dir = "sandbox"
    @Option(help: "Port of the first tracker (the next trackers use the following ports).") var trackerPort = 22122
    @Option(help: "Port of the first storage (the next storages use the following ports).") var storagePort = 23000
    @Option(help: "HTTP port of the first storage (the next storages, then the trackers, use the following ports: files, /healthz, /metrics); 0 turns HTTP off.") var httpPort = 8080
    @Option(help: "How many trackers (1...4).") var trackers = 1
    @Option(help: "How many storages in group1 (1...8).") var storages = 2
    @Option(help: "Directory of fdfs-trackerd and fdfs-storaged (default: next to fdfs).") var binDir: String?
    @Option(help: "Directory of the sample configuration files (default: ./conf, else the package's conf/).") var confDir: String?
    @Flag(help: "Start, wait until ACTIVE, and return, leaving the cluster running.") var detach = false
    @Flag(help: "Stop a sandbox left running in --dir.") var down = false
    @Flag(help: "Remove the data of a previous run first.") var clean = false
    @Option(help: "Seconds to wait for every storage to become ACTIVE.") var timeout = 120

    func validate() throws {
        guard (1...4).contains(trackers) else { throw ValidationError("--trackers must be 1...4") }
        guard (1...8).contains(storages) else { throw ValidationError("--storages must be 1...8") }
        for p in [trackerPort, storagePort] where !(1...65000).contains(p) { throw ValidationError("ports must be 1...65000") }
        let t = trackerPort..<(trackerPort + trackers), s = storagePort..<(storagePort + storages)
        guard !t.overlaps(s) else { throw ValidationError("tracker and storage ports overlap") }
        if httpPort != 0 {
            guard (1...65000).contains(httpPort) else { throw ValidationError("--http-port must be 1...65000, or 0 for no HTTP") }
            let h = httpPort..<(httpPort + storages + trackers)
            guard !h.overlaps(t) && !h.overlaps(s) else { throw ValidationError("HTTP ports overlap the tracker or storage ports") }
        }
    }

    var root: String { URL(fileURLWithPath: dir).standardizedFileURL.path }

    func run() async throws {
        let layout = SandboxLayout(root: root, trackerPorts: Array(trackerPort..<(trackerPort + trackers)),
                                   storagePorts: Array(storagePort..<(storagePort + storages)),
                                   httpPorts: httpPort == 0 ? [] : Array(httpPort..<(httpPort + storages)),
                                   trackerHTTPPorts: httpPort == 0 ? [] : Array((httpPort + storages)..<(httpPort + storages + trackers)))
        if down {
            let stopped = await layout.stopRecorded()
            say(stopped == 0 ? "no sandbox running in \(root)" : "stopped \(stopped) processes of the sandbox in \(root)")
            return
        }
        if layout.runningCount() > 0 {
            throw CLIFailure(.usage, "a sandbox is already running in \(root) (`fdfs sandbox --down --dir \(dir)` stops it)")
        }
        let bin = try locateDaemons()
        try layout.writeConfiguration(samples: try locateSamples(), clean: clean)
        var processes: [(String, Process)] = []
        do {
            for (i, _) in layout.trackerPorts.enumerated() {
                processes.append(("tracker\(i)", try layout.launch(bin + "/fdfs-trackerd", config: layout.trackerConf(i), name: "tracker\(i)")))
            }
            for (i, _) in layout.storagePorts.enumerated() {
                processes.append(("storage\(i)", try layout.launch(bin + "/fdfs-storaged", config: layout.storageConf(i), name: "storage\(i)")))
            }
            try await waitUntilActive(layout, processes)
        } catch {
            await SandboxLayout.stop(processes.map(\.1))
            layout.removePidFiles()
            throw error
        }
        let client = FDFSClient(configuration: try ClientConfiguration.load(path: layout.clientConf))
        let snapshot = try? await MonitorSnapshot.take(client, group: nil)
        await client.close()
        if let snapshot { say(snapshot.render()) }
        printHelp(layout)
        if detach { return }

        // Run until Ctrl-C / SIGTERM or until a daemon exits.
        let signals = SignalWaiter([SIGINT, SIGTERM])
        var reason = ""
        while reason.isEmpty {
            if let s = signals.received { reason = s == SIGINT ? "Ctrl-C" : "SIGTERM" }
            if let dead = processes.first(where: { !$0.1.isRunning }) {
                reason = "\(dead.0) exited with status \(dead.1.terminationStatus); see \(layout.log(dead.0))"
            }
            if reason.isEmpty { try? await Task.sleep(for: .milliseconds(200)) }
        }
        say("\n\(reason): stopping the sandbox...")
        await SandboxLayout.stop(processes.map(\.1))
        layout.removePidFiles()
        say("sandbox stopped (data kept in \(root))")
    }

    private func waitUntilActive(_ layout: SandboxLayout, _ processes: [(String, Process)]) async throws {
        let client = FDFSClient(configuration: try ClientConfiguration.load(path: layout.clientConf))
        defer { Task { await client.close() } }
        let deadline = ContinuousClock.now + .seconds(timeout)
        var last = ""
        while ContinuousClock.now < deadline {
            if let dead = processes.first(where: { !$0.1.isRunning }) {
                throw CLIFailure(.server, "\(dead.0) exited with status \(dead.1.terminationStatus):\n" + layout.tail(dead.0))
            }
            let everyTracker = await client.onEveryTracker { try await $0.listStorages(group: try GroupName("group1")) }
            let views = everyTracker.compactMap { try? $0.result.get() }
            if views.count == layout.trackerPorts.count,
               views.allSatisfy({ $0.count == layout.storagePorts.count && $0.allSatisfy { $0.status == .active } }) {
                return
            }
            last = views.first.map { $0.map { "\($0.id) \($0.status.name)" }.joined(separator: ", ") } ?? "tracker not answering yet"
            try await Task.sleep(for: .milliseconds(300))
        }
        throw CLIFailure(.unavailable, "the storages were not all ACTIVE within \(timeout) s (\(last)); logs in \(root)/logs\n"
                         + layout.storagePorts.indices.map { layout.tail("storage\($0)") }.joined(separator: "\n"))
    }

    private func printHelp(_ layout: SandboxLayout) {
        let me = Self.runningFromBuildDirectory ? "swift run fdfs" : "fdfs"
        let storages = layout.storagePorts.enumerated().map { "\(SandboxLayout.storageID($0.offset)) on 127.0.0.1:\($0.element)" }
        var http = layout.httpPorts.first.map { "  curl -i http://127.0.0.1:\($0)/<file ID>   # over HTTP (docs/http.md)\n" } ?? ""
        if let s = layout.httpPorts.first, let t = layout.trackerHTTPPorts.first {
            http += "  curl http://127.0.0.1:\(s)/metrics         # Prometheus metrics of a storage; of the tracker: port \(t)\n"
        }
        say("""
            sandbox up: tracker\(layout.trackerPorts.count > 1 ? "s" : "") \(layout.trackerPorts.map { "127.0.0.1:\($0)" }.joined(separator: ", ")); \
            group1 = \(storages.joined(separator: ", "))
            configuration, data and logs in \(root)

            try, in another terminal:
              export FDFS_CLIENT_CONF=\(layout.clientConf)
              \(me) upload README.md                 # prints the file ID
              \(me) download <file ID> /tmp/copy
              \(me) info <file ID>
              \(me) list group1
              \(me) monitor --watch
            \(http)\(detach ? "stop it with: \(me) sandbox --down --dir \(dir)" : "Ctrl-C stops the sandbox.")
            """)
    }

    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    static var runningFromBuildDirectory: Bool { executablePath.contains("/.build/") }

    private func locateDaemons() throws -> String {
        if let binDir { return binDir }
        let here = (Self.executablePath as NSString).deletingLastPathComponent
        let fm = FileManager.default
        if fm.isExecutableFile(atPath: here + "/fdfs-trackerd") && fm.isExecutableFile(atPath: here + "/fdfs-storaged") { return here }
        if Self.runningFromBuildDirectory && fm.fileExists(atPath: "Package.swift") {
            let release = here.hasSuffix("/release")
            try Self.ensureSQLiteHeaders()
            say("building fdfs-trackerd and fdfs-storaged (the first build takes a few minutes)...")
            for product in ["fdfs-trackerd", "fdfs-storaged"] {
                let build = Process()
                build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                build.arguments = ["swift", "build", "--product", product] + (release ? ["-c", "release"] : [])
                try build.run()
                build.waitUntilExit()
                guard build.terminationStatus == 0 else { throw CLIFailure(.server, "`swift build --product \(product)` failed") }
            }
            return here
        }
        throw CLIFailure(.usage, "fdfs-trackerd and fdfs-storaged are not in \(here); build them (`swift build`) or give --bin-dir")
    }

    /// The storage daemon links the system SQLite: on a fresh Debian/Ubuntu machine, install
    /// its headers (as root) the way tools/test does, or say how to.
    static func ensureSQLiteHeaders() throws {
        guard !FileManager.default.fileExists(atPath: "/usr/include/sqlite3.h") else { return }
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get") else {
            throw CLIFailure(.usage, "building fdfs-storaged needs the SQLite headers: install libsqlite3-dev "
                             + "(sudo apt-get install libsqlite3-dev) and retry")
        }
        say("installing libsqlite3-dev (SQLite headers for the storage catalog) with apt-get...")
        let install = Process()
        install.executableURL = URL(fileURLWithPath: "/bin/sh")
        install.arguments = ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-dev >/dev/null"]
        try install.run()
        install.waitUntilExit()
        guard install.terminationStatus == 0 else { throw CLIFailure(.server, "apt-get could not install libsqlite3-dev") }
    }

    private func locateSamples() throws -> String {
        let fm = FileManager.default
        var candidates = [confDir, "conf"].compactMap { $0 }
        // .build/<triple>/<config>/fdfs -> the package root.
        var up = URL(fileURLWithPath: Self.executablePath)
        for _ in 0..<5 {
            up.deleteLastPathComponent()
            candidates.append(up.path + "/conf")
        }
        for c in candidates where fm.fileExists(atPath: c + "/tracker.conf") && fm.fileExists(atPath: c + "/storage.conf") {
            return URL(fileURLWithPath: c).standardizedFileURL.path
        }
        throw CLIFailure(.usage, "cannot find the sample configuration (tracker.conf, storage.conf); run from the package or give --conf-dir")
    }
}

/// The files of a sandbox under its root directory.
struct SandboxLayout {
    let root: String
    let trackerPorts: [Int]
    let storagePorts: [Int]
    /// One per storage; empty: no HTTP.
    var httpPorts: [Int] = []
    /// One per tracker (`/healthz`, `/metrics`); empty: no HTTP.
    var trackerHTTPPorts: [Int] = []

    var clientConf: String { root + "/client.conf" }
    func trackerConf(_ i: Int) -> String { root + "/tracker\(i).conf" }
    func storageConf(_ i: Int) -> String { root + "/storage\(i).conf" }
    func log(_ name: String) -> String { root + "/logs/\(name).log" }
    func pidFile(_ name: String) -> String { root + "/run/\(name).pid" }
    static func storageID(_ i: Int) -> String { String(100_001 + i) }

    func writeConfiguration(samples: String, clean: Bool) throws {
        let fm = FileManager.default
        if clean {
            for d in ["data", "logs"] { try? fm.removeItem(atPath: root + "/" + d) }
        }
        let directories = ["run", "logs"] + trackerPorts.indices.map { "data/tracker\($0)" }
            + storagePorts.indices.flatMap { ["data/storage\($0)", "data/store\($0)"] }
        for d in directories {
            try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        let trackerLines = trackerPorts.map { "127.0.0.1:\($0)" }
        let ids = storagePorts.enumerated().map { "\(Self.storageID($0.offset)) group1 127.0.0.1:\($0.element)" }
        try write("# the storages of the sandbox: id, group, address\n" + ids.joined(separator: "\n") + "\n", to: root + "/storage_ids.conf")
        let tracker = try String(contentsOfFile: samples + "/tracker.conf", encoding: .utf8)
        for (i, port) in trackerPorts.enumerated() {
            try write(Self.override(tracker, [
                "bind_addr": ["127.0.0.1"], "port": ["\(port)"], "base_path": [root + "/data/tracker\(i)"],
                "reserved_storage_space": ["1%"], "use_storage_id": ["true"], "storage_ids_filename": [root + "/storage_ids.conf"],
                "id_type_in_filename": ["id"],
                "http.server_port": [trackerHTTPPorts.isEmpty ? "0" : "\(trackerHTTPPorts[i])"],
            ]), to: trackerConf(i))
        }
        let storage = try String(contentsOfFile: samples + "/storage.conf", encoding: .utf8)
        for (i, port) in storagePorts.enumerated() {
            try write(Self.override(storage, [
                "group_name": ["group1"], "bind_addr": ["127.0.0.1"], "port": ["\(port)"], "base_path": [root + "/data/storage\(i)"],
                "store_path_count": ["1"], "store_path0": [root + "/data/store\(i)"], "tracker_server": trackerLines,
                "heart_beat_interval": ["1"], "stat_report_interval": ["5"], "sync_binlog_buff_interval": ["1"],
                "subdir_count_per_path": ["16"],
                "http.server_port": [httpPorts.isEmpty ? "0" : "\(httpPorts[i])"],
            ].merging(fm.fileExists(atPath: samples + "/mime.types") ? ["http.mime_types_filename": [samples + "/mime.types"]] : [:]) { a, _ in a }),
                      to: storageConf(i))
        }
        let client = try String(contentsOfFile: samples + "/client.conf", encoding: .utf8)
        try write(Self.override(client, ["base_path": [root + "/data"], "tracker_server": trackerLines]), to: clientConf)
    }

    private func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The sample with `key = value` lines replaced (a repeated key by all its values, at the
    /// place of its first line); keys the sample lacks are appended.
    static func override(_ text: String, _ values: [String: [String]]) -> String {
        var done: Set<String> = []
        var lines: [String] = []
        var inSection = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") { inSection = true }
            if !inSection, !trimmed.hasPrefix("#"), let eq = trimmed.firstIndex(of: "=") {
                let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
                if let replacement = values[key] {
                    if done.insert(key).inserted { lines += replacement.map { "\(key) = \($0)" } }
                    continue
                }
            }
            lines.append(String(line))
        }
        var out = lines.joined(separator: "\n")
        for (key, replacement) in values.sorted(by: { $0.key < $1.key }) where !done.contains(key) {
            out = replacement.map { "\(key) = \($0)\n" }.joined() + out
        }
        return out
    }

    func launch(_ executable: String, config: String, name: String) throws -> Process {
        let fm = FileManager.default
        if !fm.fileExists(atPath: log(name)) { _ = fm.createFile(atPath: log(name), contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log(name)))
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--config", config]
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw CLIFailure(.usage, "cannot start \(executable): \(error)")
        }
        try "\(process.processIdentifier)\n".write(toFile: pidFile(name), atomically: true, encoding: .utf8)
        return process
    }

    /// The last 20 lines of a daemon's log.
    func tail(_ name: String) -> String {
        let text = (try? String(contentsOfFile: log(name), encoding: .utf8)) ?? ""
        return "--- \(log(name))\n" + text.split(separator: "\n").suffix(20).joined(separator: "\n")
    }

    private var recordedNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/run")) ?? []).filter { $0.hasSuffix(".pid") }.map { String($0.dropLast(4)) }
    }

    private func recordedPID(_ name: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: pidFile(name), encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        return pid
    }

    func runningCount() -> Int { recordedNames.compactMap(recordedPID).filter { kill($0, 0) == 0 }.count }

    func removePidFiles() {
        for name in recordedNames { try? FileManager.default.removeItem(atPath: pidFile(name)) }
    }

    /// SIGTERM to every process of the pid files (storages first), SIGKILL after 15 s.
    func stopRecorded() async -> Int {
        let names = recordedNames.sorted { ($0.hasPrefix("storage") ? 0 : 1, $0) < ($1.hasPrefix("storage") ? 0 : 1, $1) }
        var stopped = 0
        for name in names {
            if let pid = recordedPID(name), kill(pid, 0) == 0 {
                kill(pid, SIGTERM)
                let deadline = ContinuousClock.now + .seconds(15)
                while kill(pid, 0) == 0 && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
                if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
                stopped += 1
            }
            try? FileManager.default.removeItem(atPath: pidFile(name))
        }
        return stopped
    }

    /// SIGTERM (graceful) to each process, storages before trackers; SIGKILL after 15 s.
    static func stop(_ processes: [Process]) async {
        for p in processes.reversed() where p.isRunning {
            p.terminate()
            let deadline = ContinuousClock.now + .seconds(15)
            while p.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }
}

/// Catches the given signals (instead of dying by them) and records the last one.
final class SignalWaiter: @unchecked Sendable {
    // @unchecked: `last` is only touched under `lock`; the sources live as long as the waiter.
    private let lock = NSLock()
    private var last: Int32?
    private var sources: [any DispatchSourceSignal] = []

    init(_ signals: [Int32]) {
        for s in signals {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.last = s
                self.lock.unlock()
            }
            source.resume()
            sources.append(source)
        }
    }

    var received: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return last
    }
}

/// Prints a line at once (unbuffered), so that a pipe or log file shows the sandbox's progress
/// while it runs.
func say(_ text: String) {
    try? writeOutput(Data((text + "\n").utf8))
}

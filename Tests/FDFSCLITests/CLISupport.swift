import FDFSClient
import FDFSModel
import FDFSProtocol
import Foundation
import Testing

/// The outcome of one `fdfs` run.
struct CLIResult: CustomStringConvertible {
    var status: Int32
    var stdout: Data
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
    var line: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
    var description: String { "exit \(status)\nstdout: \(text.prefix(2000))\nstderr: \(stderr.prefix(2000))" }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: stdout) as? [String: Any] else {
            throw CLITestError("not a JSON object: \(text)")
        }
        return object
    }
}

struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs the built `fdfs` binary (next to the test bundle) and a sandbox cluster through it.
enum CLI {
    static var binDirectory: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent() }
    static var packageRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// Runs `fdfs arguments...` with `stdin` and waits (at most `timeout`) for it to exit.
    static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
                    timeout: Duration = .seconds(120)) async throws -> CLIResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err"), input = dir.appendingPathComponent("in")
        for f in [out, err] { FileManager.default.createFile(atPath: f.path, contents: nil) }
        FileManager.default.createFile(atPath: input.path, contents: stdin ?? Data())
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent("fdfs")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "FDFS_CLIENT_CONF")
        env.merge(environment) { _, b in b }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = try FileHandle(forReadingFrom: input)
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw CLITestError("fdfs \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        process.waitUntilExit()
        return CLIResult(status: process.terminationStatus, stdout: try Data(contentsOf: out),
                         stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }
}

/// A sandbox started with `fdfs sandbox --detach` in a temporary directory, stopped with
/// `fdfs sandbox --down`.
final class SandboxCluster: Sendable {
    let directory: String
    let trackerPorts: [Int]
    let storagePorts: [Int]
    var clientConf: String { directory + "/client.conf" }

    private init(directory: String, trackerPorts: [Int], storagePorts: [Int]) {
        self.directory = directory
        self.trackerPorts = trackerPorts
        self.storagePorts = storagePorts
    }

    /// `httpPort` 0: no HTTP; else the first storage's HTTP port.
    static func start(trackers: Int = 1, storages: Int = 2, trackerPort: Int, storagePort: Int, httpPort: Int = 0) async throws -> SandboxCluster {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-sandbox-\(UUID().uuidString)").path
        let cluster = SandboxCluster(directory: dir, trackerPorts: Array(trackerPort..<(trackerPort + trackers)),
                                     storagePorts: Array(storagePort..<(storagePort + storages)))
        let r = try await CLI.run(["sandbox", "--detach", "--dir", dir, "--trackers", "\(trackers)", "--storages", "\(storages)",
                                   "--tracker-port", "\(trackerPort)", "--storage-port", "\(storagePort)", "--http-port", "\(httpPort)",
                                   "--conf-dir", CLI.packageRoot.appendingPathComponent("conf").path], timeout: .seconds(180))
        guard r.status == 0, r.text.contains("sandbox up") else {
            _ = try? await cluster.stop()
            throw CLITestError("sandbox did not start: \(r)")
        }
        return cluster
    }

    /// `fdfs --config <sandbox client.conf> arguments...`
    func fdfs(_ arguments: [String], stdin: Data? = nil) async throws -> CLIResult {
        guard let sub = arguments.first else { return try await CLI.run(arguments) }
        // Options go after the subcommand path (meta get/set has two words).
        let words = sub == "meta" ? 2 : 1
        return try await CLI.run(Array(arguments.prefix(words)) + ["--config", clientConf] + Array(arguments.dropFirst(words)), stdin: stdin)
    }

    func pid(_ name: String) -> pid_t? {
        (try? String(contentsOfFile: directory + "/run/\(name).pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Sends SIGTERM to one daemon of the sandbox and waits until it has exited.
    func stopDaemon(_ name: String) async throws {
        guard let pid = pid(name) else { throw CLITestError("no pid file for \(name)") }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while kill(pid, 0) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
    }

    @discardableResult
    func stop() async throws -> CLIResult {
        let r = try await CLI.run(["sandbox", "--down", "--dir", directory])
        try? FileManager.default.removeItem(atPath: directory)
        return r
    }

    func log(_ name: String) -> String { (try? String(contentsOfFile: directory + "/logs/\(name).log", encoding: .utf8)) ?? "" }

    /// Statuses of group1's storages as tracker `index` reports them.
    func statuses(tracker index: Int = 0) async throws -> [String: StorageStatus] {
        let link = try await FDFSClientConnection.connect(host: "127.0.0.1", port: trackerPorts[index], connectTimeout: .seconds(2))
        let list = try await link.request(ListStorageRequest(group: try GroupName("group1"), storageID: nil))
        await link.close()
        return Dictionary(list.storages.map { ($0.id, $0.status) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Runs `body` with a sandbox and stops it afterwards, whatever happens.
func withSandbox(trackers: Int = 1, storages: Int = 2, trackerPort: Int, storagePort: Int, httpPort: Int = 0,
                 _ body: (SandboxCluster) async throws -> Void) async throws {
    let cluster = try await SandboxCluster.start(trackers: trackers, storages: storages, trackerPort: trackerPort, storagePort: storagePort,
                                                 httpPort: httpPort)
    do {
        try await body(cluster)
    } catch {
        try await cluster.stop()
        throw error
    }
    let down = try await cluster.stop()
    #expect(down.status == 0, "\(down)")
}

/// Deterministic test bytes.
func testBytes(_ count: Int, seed: UInt64) -> Data {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    var out = Data(count: count)
    for i in 0..<count {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        out[i] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return out
}

func writeTemporaryFile(_ data: Data, name: String = UUID().uuidString + ".bin") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
    try data.write(to: URL(fileURLWithPath: path))
    return path
}

public import FDFSClient
public import FDFSTracker
public import FDFSServerCore
import Foundation
import Logging
public import ServiceLifecycle

enum TestTrackerError: Error { case noPort }

/// A tracker daemon (the real service: server, core, files) on 127.0.0.1, port 0.
public struct RunningTracker: Sendable {
    public let service: TrackerService
    public let port: Int
    public var core: TrackerCore { service.core }
    public var endpoint: (host: String, port: Int) { ("127.0.0.1", port) }

    public func client() async throws -> FDFSClientConnection { try await FDFSClientConnection.connect(host: "127.0.0.1", port: port) }
}

/// A fresh directory under the system temporary directory.
public func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-tracker-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs a real tracker service (server, state machine, data files, election loop) on
/// 127.0.0.1 port 0 around `body`, with short timings for tests.
/// `configure` adjusts the policy (storage ids, selection rules) before the tracker starts.
public func withTracker<T: Sendable>(basePath: String, checkActiveIntervalSeconds: Int64 = 100, networkTimeout: Duration = .seconds(5),
                              configure: (inout TrackerPolicy) -> Void = { _ in },
                              clusterSecrets: ClusterSecrets? = nil, adminHosts: AllowedHosts = .loopback,
                              _ body: @Sendable (RunningTracker) async throws -> T) async throws -> T {
    var logger = Logger(label: "test.tracker")
    logger.logLevel = ProcessInfo.processInfo.environment["FDFS_TEST_LOG"] == nil ? .critical : .debug
    var policy = TrackerPolicy()
    policy.reservedStorageSpace = .percent(10)
    policy.checkActiveIntervalSeconds = checkActiveIntervalSeconds
    policy.port = 0
    configure(&policy)
    let core = try TrackerCore(policy: policy, basePath: basePath, logger: logger, now: { Int64(Date().timeIntervalSince1970) },
                           clusterSecrets: clusterSecrets)
    let settings = ServerSettings(host: "127.0.0.1", port: 0, maxConnections: 64, networkTimeout: networkTimeout, framingPolicy: .server(.tracker))
    var timing = TrackerRelationship.Timing()
    timing.pingInterval = .milliseconds(200)
    timing.retryRange = 100...300
    timing.connectTimeoutSeconds = 1
    let service = TrackerService(core: core, settings: settings, checkActiveIntervalSeconds: Int(checkActiveIntervalSeconds), logger: logger,
                                 relationshipTiming: timing, adminHosts: adminHosts)
    let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
    return try await withRunningServices(group) {
        guard let port = try await service.server.waitUntilListening().port else { throw TestTrackerError.noPort }
        await core.listening(onPort: port)
        return try await body(RunningTracker(service: service, port: port))
    }
}

/// Runs `group` around `body`, then shuts it down gracefully (also when `body` throws).
public func withRunningServices<T: Sendable>(_ group: ServiceGroup, _ body: @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}


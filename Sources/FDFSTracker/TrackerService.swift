public import FDFSConfig
public import FDFSMetrics
public import FDFSServerCore
public import Logging
public import ServiceLifecycle
import FDFSClient
import FDFSHTTP
import FDFSProtocol
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tracker daemon as one `Service`: the TCP server plus the periodic liveness check and
/// state saving. On graceful shutdown the server stops accepting and finishes requests in
/// flight, then every data file is saved.
public struct TrackerService: Service {
    public let core: TrackerCore
    public let server: FDFSServer<TrackerConnectionHandler>
    let relationship: TrackerRelationship
    /// The HTTP port (`/healthz`), when `http.server_port` is set.
    var gateway: HTTPGateway?
    let checkInterval: Duration
    let saveInterval: Duration
    let logger: Logger

    public init(core: TrackerCore, settings: ServerSettings, checkActiveIntervalSeconds: Int, logger: Logger,
                saveInterval: Duration = .seconds(300), relationshipTiming: TrackerRelationship.Timing = .init(),
                metrics: DaemonMetrics? = nil, adminHosts: AllowedHosts = .loopback) {
        self.core = core
        self.server = FDFSServer(settings: settings, handler: TrackerConnectionHandler(core: core, adminHosts: adminHosts), logger: logger,
                                 metrics: metrics?.requests)
        self.relationship = TrackerRelationship(core: core, timing: relationshipTiming, logger: logger)
        self.checkInterval = .seconds(max(1, checkActiveIntervalSeconds))
        self.saveInterval = saveInterval
        self.logger = logger
    }

    /// Builds the service from tracker.conf (and storage_ids.conf when ids are used).
    public static func make(configuration c: TrackerConfiguration, logger: Logger) throws -> TrackerService {
        let ids = try c.loadStorageIDs()
        let policy = TrackerPolicy(configuration: c, storageIDs: ids)
        let core = try TrackerCore(policy: policy, basePath: c.basePath, logger: logger, now: unixTime,
                                   clusterSecrets: ClusterSecrets(current: c.clusterSecret, previous: c.clusterSecretPrevious))
        let settings = try ServerSettings(bindAddresses: c.bindAddresses, port: c.port, maxConnections: c.maxConnections,
                                          networkTimeoutSeconds: c.networkTimeoutSeconds, allowHosts: c.allowHosts,
                                          role: .tracker, limits: FDFSLimits(maxBufferedBodyBytes: max(64 * 1024, c.buffSizeBytes) - FDFSHeader.size))
        var timing = TrackerRelationship.Timing()
        timing.connectTimeoutSeconds = Int64(c.connectTimeoutSeconds)
        // Metrics are kept only when there is an HTTP port to read them from.
        let metrics = c.httpServerPort > 0 ? DaemonMetrics.tracker() : nil
        var service = TrackerService(core: core, settings: settings, checkActiveIntervalSeconds: c.checkActiveIntervalSeconds, logger: logger,
                                     relationshipTiming: timing, metrics: metrics, adminHosts: try AllowedHosts(c.adminHosts, key: "admin_hosts"))
        if let metrics {
            let http = HTTPGatewaySettings(host: c.bindAddresses.first ?? "0.0.0.0", port: c.httpServerPort, maxConnections: c.maxConnections,
                                           allowedHosts: try AllowedHosts(c.allowHosts), networkTimeout: .seconds(c.networkTimeoutSeconds),
                                           responseMetrics: metrics.http)
            service.gateway = HTTPGateway(settings: http, health: TrackerHealth(core: core, metrics: metrics), files: nil, logger: logger)
        }
        return service
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.run() }
            group.addTask {
                // With port 0 (tests) the tracker learns its real port to find itself in the
                // tracker lists storages send.
                if let port = try? await server.waitUntilListening().port { await core.listening(onPort: port) }
            }
            group.addTask { await periodic(every: checkInterval) { await core.checkLiveness() } }
            group.addTask { await relationship.run() }
            group.addTask { await periodic(every: saveInterval) { await core.saveAll() } }
            if let gateway {
                group.addTask { await gateway.runOrLog(logger) }
            }
        }
        await core.saveAll()
        logger.info("tracker stopped; data files saved")
    }

    /// Runs `body` every `interval` until graceful shutdown or cancellation.
    func periodic(every interval: Duration, _ body: @escaping @Sendable () async -> Void) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                await body()
            }
        }
    }
}

/// Seconds since 1970, from the system clock: the tracker's only clock reading.
@Sendable func unixTime() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec)
}

/// `/healthz` of a tracker: serving once it accepts connections; with other trackers known,
/// only once it knows the leader (itself or another).
struct TrackerHealth: HTTPHealthSource {
    let core: TrackerCore
    let metrics: DaemonMetrics

    func metricsExposition() async -> [UInt8] {
        let snapshot = core.shared.lock.withLock { ClusterMetricsSnapshot(core.shared.value) }
        let now = unixTime()
        return metrics.exposition { snapshot.fill(&$0, now: now) }
    }

    func healthProblem() async -> String? {
        let (others, isLeader, leader) = core.shared.lock.withLock {
            (core.shared.value.trackers.count, core.shared.value.isLeader, core.shared.value.leader)
        }
        if others > 1 && !isLeader && leader == nil {
            return "no leader known among \(others) trackers yet"
        }
        return nil
    }
}

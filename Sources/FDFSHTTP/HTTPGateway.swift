public import FDFSMetrics
public import FDFSModel
public import FDFSServerCore
public import Logging
public import NIOCore
import Synchronization
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// What `/healthz` and `/metrics` ask of the daemon.
public protocol HTTPHealthSource: Sendable {
    /// nil when the daemon is serving, else a one-line reason (`/healthz` answers 503 with it).
    func healthProblem() async -> String?
    /// The daemon's metrics in the Prometheus text format (`/metrics`).
    func metricsExposition() async -> [UInt8]
}

/// What the file side of HTTP needs from a storage.
public protocol HTTPFileSource: HTTPHealthSource {
    /// The storage's group: the group of the group-less URL form.
    var group: GroupName { get }
    /// Store paths of this storage (a URL's `Mxx` must be below it).
    var storePathCount: Int { get }
    /// The local path of the file a URL names, whether or not it exists; nil when the URL's
    /// group is not this storage's.
    func localPath(for url: HTTPFileURL) -> String?
    /// `host:port` of the HTTP side of a group member that has a file this storage does not
    /// hold (yet); nil when there is none.
    func redirectTarget(for url: HTTPFileURL) async -> String?
}

/// The HTTP settings of a daemon.
public struct HTTPGatewaySettings: Sendable {
    public var host: String
    public var port: Int
    public var maxConnections: Int
    public var allowedHosts: AllowedHosts
    /// Idle connections and requests that stall are closed after this long.
    public var networkTimeout: Duration
    public var mimeTypes: MIMETypes
    /// The anti-steal check; nil when `http.anti_steal.check_token` is off.
    public var token: AntiStealToken?
    /// `http.anti_steal.token_check_fail`: served (200) instead of a 403 when a token fails.
    public var tokenCheckFailPath: String?
    /// Where responses are counted by status code (nil: not counted).
    public var responseMetrics: HTTPResponseMetrics?
    /// Lookups of missing files (a tracker question each) in flight at once; a request for a
    /// missing file beyond them gets 503, so a flood of misses cannot flood the trackers.
    public var redirectLookups = ConcurrencyLimit(16)

    public init(host: String, port: Int, maxConnections: Int = 1024, allowedHosts: AllowedHosts = try! AllowedHosts(["*"]),
                networkTimeout: Duration = .seconds(30), mimeTypes: MIMETypes = MIMETypes(text: ""),
                token: AntiStealToken? = nil, tokenCheckFailPath: String? = nil, responseMetrics: HTTPResponseMetrics? = nil) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.allowedHosts = allowedHosts
        self.networkTimeout = networkTimeout
        self.mimeTypes = mimeTypes
        self.token = token
        self.tokenCheckFailPath = tokenCheckFailPath
        self.responseMetrics = responseMetrics
    }
}

/// The HTTP port of a daemon, a `Service`: files by sendfile, `/healthz` and `/metrics`, on
/// the same event loops as the FastDFS port. Requests on a connection are answered in order
/// (NIO's pipelining assistance); a connection idle for `networkTimeout` is closed.
public actor HTTPGateway: Service {
    public nonisolated let settings: HTTPGatewaySettings
    let health: any HTTPHealthSource
    let files: (any HTTPFileSource)?
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let listening: EventLoopPromise<SocketAddress>

    /// A storage's gateway: files, `/healthz` and `/metrics`.
    public init(settings: HTTPGatewaySettings, source: any HTTPFileSource,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.init(settings: settings, health: source, files: source, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// `files` nil: a daemon with no files (the tracker) answers `/healthz`, `/metrics` and 404 to the rest.
    public init(settings: HTTPGatewaySettings, health: any HTTPHealthSource, files: (any HTTPFileSource)?,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.settings = settings
        self.health = health
        self.files = files
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.listening = eventLoopGroup.any().makePromise(of: SocketAddress.self)
    }

    deinit { listening.fail(CancellationError()) }

    /// The bound address (the actual port when `settings.port` was 0).
    public nonisolated func waitUntilListening() async throws -> SocketAddress {
        try await listening.futureResult.get()
    }

    /// `run()`, with a port that cannot be opened logged as an error instead of thrown: the
    /// daemon's FastDFS port matters more, and C configuration files often name an HTTP port
    /// that nginx already holds.
    public func runOrLog(_ logger: Logger) async {
        do {
            try await run()
        } catch {
            logger.error("HTTP port not opened; nothing is served over HTTP (set http.server_port to a free port, or 0 for no HTTP)",
                         metadata: ["fdfs.http_port": "\(settings.port)", "fdfs.error": "\(error)"])
        }
    }

    public func run() async throws {
        let settings = self.settings
        let health = self.health
        let files = self.files
        let logger = self.logger
        let timeout = TimeAmount(settings.networkTimeout)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: eventLoopGroup)
                .fdfsListener(maxConnections: settings.maxConnections, allowedHosts: settings.allowedHosts, logger: logger)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { child in
                    child.eventLoop.makeCompletedFuture {
                        let pipeline = child.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(allTimeout: timeout))
                        // Our headers are built from checked values (a ?filename= is escaped), so
                        // NIO's outbound header validation is skipped (about 9 % of a small GET).
                        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true,
                                                                 withOutboundHeaderValidation: false)
                        try pipeline.addHandler(HTTPFileHandler(settings: settings, health: health, files: files, logger: logger))
                    }
                }
                .bind(host: settings.host, port: settings.port).get()
        } catch {
            listening.fail(error)
            throw error
        }
        let address = channel.localAddress
        if let address { listening.succeed(address) }
        logger.info("HTTP listening", metadata: ["fdfs.address": "\(address.map { "\($0)" } ?? "?")"])
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        logger.info("HTTP stopped")
    }
}

/// At most `limit` holders at once; shared by every copy of the settings that hold it.
public final class ConcurrencyLimit: Sendable {
    public let limit: Int
    private let held = Atomic<Int>(0)

    public init(_ limit: Int) {
        precondition(limit >= 1, "a limit of at least 1")
        self.limit = limit
    }

    /// Takes a slot; false when all are held.
    public func acquire() -> Bool {
        var current = held.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = held.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    public func release() { held.subtract(1, ordering: .acquiringAndReleasing) }

    public var inUse: Int { held.load(ordering: .relaxed) }
}

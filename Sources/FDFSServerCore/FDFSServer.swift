import FDFSProtocol
public import FDFSMetrics
public import Logging
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The TCP server every daemon runs: it listens, admits connections (allow_hosts,
/// max_connections), installs the frame decoder and the timeouts in each connection's
/// pipeline, and calls the daemon's `FDFSConnectionHandler` once per connection in a child
/// task.
///
/// It is a `Service`: run it in the daemon's `ServiceGroup`. On graceful shutdown it stops
/// accepting (the listening socket closes), ends each connection's inbound stream at its next
/// packet boundary so the request in flight is answered, and returns once every handler has
/// returned. Cancelling `run()` closes every connection at once.
public actor FDFSServer<Handler: FDFSConnectionHandler>: Service {
    public nonisolated let settings: ServerSettings
    let handler: Handler
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    /// Request counters and latency of this port (nil: none kept).
    let metrics: RequestMetrics?
    /// Completed once: with the bound address, or with the error that kept `run()` from binding.
    private let listening: EventLoopPromise<SocketAddress>
    private var hasStarted = false

    /// The connections' channel type: request frames in, response bytes out.
    typealias ConnectionChannel = NIOAsyncChannel<FDFSFrame, FDFSOutbound>

    public init(settings: ServerSettings, handler: Handler,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
                metrics: RequestMetrics? = nil) {
        self.settings = settings
        self.handler = handler
        self.metrics = metrics
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.listening = eventLoopGroup.any().makePromise(of: SocketAddress.self)
    }

    deinit {
        // A promise must be completed before it is released (NIO checks in debug builds);
        // this does nothing when run() already completed it.
        listening.fail(CancellationError())
    }

    /// The address the server listens on (with the actual port when `settings.port` was 0),
    /// once `run()` has bound it. Throws the bind error if binding failed.
    public nonisolated func waitUntilListening() async throws -> SocketAddress {
        try await listening.futureResult.get()
    }

    public func run() async throws {
        guard !hasStarted else { throw FDFSServerError(.alreadyStarted, "an FDFSServer runs once") }
        hasStarted = true

        let listener: NIOAsyncChannel<any Channel, Never>
        let untaken = UntakenChannels()
        do {
            try settings.validate()
            listener = try await bind(untaken)
        } catch {
            listening.fail(error)
            throw error
        }
        let address = listener.channel.localAddress
        if let address { listening.succeed(address) }
        logger.info("listening", metadata: [
            "fdfs.address": "\(address?.logDescription ?? "?")",
            "fdfs.max_connections": "\(settings.maxConnections)",
            "fdfs.allow_hosts": "\(settings.allowedHosts)",
        ])

        let handler = self.handler
        let logger = self.logger
        var listenerError: (any Error)?
        defer { untaken.stop() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await listener.executeThenClose { accepted in
                        for try await connection in accepted {
                            // The connection's task runs on the channel's event loop
                            // (EventLoopTaskExecutor says why).
                            group.addTask(executorPreference: EventLoopTaskExecutor(connection.eventLoop)) {
                                untaken.remove(connection)
                                await Self.serve(connection, handler: handler, logger: logger)
                            }
                        }
                    }
                } catch is CancellationError {
                    // run() was cancelled: the child tasks are cancelled with it and close their
                    // connections.
                } catch {
                    // The listener itself failed (transient accept errors are absorbed by NIO's
                    // accept back-off): the server is dead, so drop the connections and report.
                    listenerError = error
                    group.cancelAll()
                }
            }
        } onGracefulShutdown: {
            listener.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        if let listenerError {
            logger.info("listener failed", metadata: ["fdfs.error": "\(listenerError)"])
            throw listenerError
        }
        logger.info(Task.isCancelled ? "stopped: cancelled" : "stopped", metadata: ["fdfs.address": "\(address?.logDescription ?? "?")"])
    }

    private func bind(_ untaken: UntakenChannels) async throws -> NIOAsyncChannel<any Channel, Never> {
        let settings = self.settings
        let logger = self.logger
        let handler = self.handler
        let metrics = self.metrics
        let networkTimeout = TimeAmount(settings.networkTimeout)
        return try await ServerBootstrap(group: eventLoopGroup)
            .fdfsListener(maxConnections: settings.maxConnections, allowedHosts: settings.allowedHosts, logger: logger)
            .bind(host: settings.host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture { () -> any Channel in
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "fdfs.remote"] = "\(channel.remoteAddress?.logDescription ?? "?")"
                    let guardHandler = ConnectionGuardHandler(networkTimeout: networkTimeout, logger: connectionLogger)
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(guardHandler)
                    try pipeline.addHandler(ByteToMessageHandler(FDFSFrameDecoder(policy: settings.framingPolicy)))
                    try pipeline.addHandler(PacketBoundaryHandler(reportingTo: guardHandler))
                    try pipeline.addHandler(OutboundFileHandler())
                    if let metrics {
                        try pipeline.addHandler(RequestMetricsHandler(metrics: metrics))
                    }
                    if handler.answersImmediately {
                        try pipeline.addHandler(ImmediateResponseHandler(handler: handler, logger: connectionLogger))
                    }
                    // The NIOAsyncChannel is made by the connection's task, not here: an
                    // accepted channel that the accept loop never takes (the loop cancelled, or
                    // the listener closing meanwhile) is dropped by NIO, and a dropped
                    // NIOAsyncChannel traps (swift-nio#2813). A plain Channel can be dropped;
                    // `untaken` closes it when run() returns. No reads until it is wrapped.
                    try channel.syncOptions?.setOption(.autoRead, value: false)
                    untaken.add(channel)
                    return channel
                }
            }
    }

    /// Runs one connection: the handler, then a graceful close.
    private static func serve(_ channel: any Channel, handler: Handler, logger: Logger) async {
        let connection: ConnectionChannel
        let local: ConnectionLocal
        do {
            (connection, local) = try await channel.eventLoop.submit {
                // Half-closure: when the handler is done, finishing the writer shuts the write
                // side after the pending writes (swift-nio#2795: a plain close could drop the
                // tail of the last response).
                let connection = try ConnectionChannel(wrappingChannelSynchronously: channel,
                                                       configuration: .init(isOutboundHalfClosureEnabled: true))
                // Only fails on a closed channel, whose inbound stream then ends at once; the
                // NIOAsyncChannel must reach executeThenClose either way.
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                let immediate = try? channel.pipeline.syncOperations.handler(type: ImmediateResponseHandler<Handler>.self)
                return (connection, immediate?.local ?? ConnectionLocal())
            }.get()
        } catch {
            // Closed before it could be served (timeout, peer gone, shutdown).
            channel.close(promise: nil)
            return
        }
        var logger = logger
        logger[metadataKey: "fdfs.remote"] = "\(channel.remoteAddress?.logDescription ?? "?")"
        do {
            // Each connection registers for graceful shutdown itself (ServiceLifecycle runs the
            // handler at once if the shutdown already began), so a connection taken from the
            // accept loop at any moment is quiesced: the guard ends its inbound stream at the
            // next packet boundary.
            try await withGracefulShutdownHandler {
                try await withTaskCancellationHandler {
                    try await connection.executeThenClose { inbound, outbound in
                        try await run(handler, channel: channel, inbound: inbound, outbound: outbound, logger: logger, local: local)
                    }
                } onCancel: {
                    channel.close(promise: nil)
                }
            } onGracefulShutdown: {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        } catch {
            logger.debug("connection closed", metadata: ["fdfs.error": "\(error)"])
        }
    }

    private static func run(_ handler: Handler, channel: any Channel, inbound: FDFSConnection.Inbound,
                            outbound: NIOAsyncChannelOutboundWriter<FDFSOutbound>, logger: Logger, local: ConnectionLocal) async throws {
        if let remoteAddress = channel.remoteAddress {
            let connection = FDFSConnection(channel: channel, remoteAddress: remoteAddress, inbound: inbound,
                                            outbound: outbound, logger: logger, local: local)
            do {
                try await handler.handle(connection)
            } catch let error as FDFSProtocolError {
                logger.debug("connection closed on a protocol error", metadata: ["fdfs.error": "\(error)"])
            } catch is CancellationError {
                logger.debug("connection handler cancelled")
            } catch let error where error is ChannelError || error is IOError {
                logger.debug("connection lost", metadata: ["fdfs.error": "\(error)"])
            } catch {
                logger.info("connection handler failed", metadata: ["fdfs.error": "\(error)"])
            }
        }
        // Shut the write side once the responses are flushed and wait for the peer to close;
        // the guard handler bounds the wait (linger).
        outbound.finish()
        try await channel.closeFuture.get()
    }
}

/// Accepted channels no connection task has taken yet. NIO drops those the accept loop never
/// takes (run() cancelled, the listener closing); they are closed when run() returns, so that
/// their clients see the close at once rather than at an idle timeout.
final class UntakenChannels: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var stopped = false
    }
    private let state = Mutex(State())

    /// A channel just accepted (closed at once when run() has already returned).
    func add(_ channel: any Channel) {
        let stopped = state.withLock { s in
            if !s.stopped { s.open[ObjectIdentifier(channel)] = channel }
            return s.stopped
        }
        if stopped { return channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in self.remove(channel) }
    }

    /// A connection task took the channel (or it closed).
    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// run() returns: every channel not taken is closed.
    func stop() {
        let left = state.withLock { s in
            s.stopped = true
            defer { s.open = [:] }
            return Array(s.open.values)
        }
        for channel in left { channel.close(promise: nil) }
    }
}

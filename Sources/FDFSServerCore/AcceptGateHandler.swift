public import Logging
public import NIOCore
public import NIOPosix

/// The first handler of the listening channel: it sees every accepted connection before its
/// pipeline is set up, and closes those from hosts not in `allow_hosts` and those beyond
/// `max_connections` right away, with no bytes sent (protocol spec §1.1, §9.3).
///
/// It keeps the set of open connections (state confined to the listener's event loop, so no
/// locks): to count them, and to close them all when the listener closes without a graceful
/// shutdown (cancellation), including those NIO accepted but the accept loop never took. On
/// graceful shutdown (`ChannelShouldQuiesceEvent` on the listener) NIO's accept handler
/// further down closes the listening socket, and each connection's task quiesces its own
/// connection.
public final class AcceptGateHandler: ChannelInboundHandler {
    public typealias InboundIn = any Channel
    public typealias InboundOut = any Channel

    let maxConnections: Int
    let allowedHosts: AllowedHosts
    let logger: Logger
    private var open: [ObjectIdentifier: any Channel] = [:]
    private var isQuiescing = false

    public init(maxConnections: Int, allowedHosts: AllowedHosts, logger: Logger) {
        precondition(maxConnections >= 1, "maxConnections must be at least 1")
        self.maxConnections = maxConnections
        self.allowedHosts = allowedHosts
        self.logger = logger
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let remote = child.remoteAddress?.logDescription ?? "?"
        guard let address = child.remoteAddress, allowedHosts.allows(address) else {
            logger.info("refusing connection: host not in allow_hosts", metadata: ["fdfs.remote": "\(remote)"])
            child.close(promise: nil)
            return
        }
        guard !isQuiescing else {
            logger.debug("refusing connection: shutting down", metadata: ["fdfs.remote": "\(remote)"])
            child.close(promise: nil)
            return
        }
        guard open.count < maxConnections else {
            logger.info("refusing connection: max_connections reached",
                        metadata: ["fdfs.remote": "\(remote)", "fdfs.connections": "\(open.count)"])
            child.close(promise: nil)
            return
        }
        let id = ObjectIdentifier(child)
        open[id] = child
        logger.debug("accepted connection", metadata: ["fdfs.remote": "\(remote)", "fdfs.connections": "\(open.count)"])
        child.closeFuture.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
            self.open[id] = nil
            self.logger.debug("connection closed", metadata: ["fdfs.remote": "\(remote)", "fdfs.connections": "\(self.open.count)"])
        }
        // Forward the original value: NIO's accept handler unwraps it as its concrete type.
        context.fireChannelRead(data)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // The listener closed. Without a graceful shutdown (run() cancelled, or failed) no
        // connection outlives the server. In a graceful one, connections being served finish
        // their request; those not yet active were accepted in the last instant and NIO may
        // drop them without ever registering them (swift-nio#2813), so they are closed like
        // connections still in the kernel's backlog: nothing was read from them yet.
        for connection in open.values where !isQuiescing || !connection.isActive {
            connection.close(promise: nil)
        }
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !isQuiescing {
            isQuiescing = true
            logger.info("graceful shutdown: no longer accepting, letting requests in flight finish",
                        metadata: ["fdfs.connections": "\(open.count)"])
        }
        context.fireUserInboundEventTriggered(event)
    }
}

extension ServerBootstrap {
    /// A listener as every port of ours opens it (the FastDFS port and the HTTP port): a backlog
    /// of 1024, `SO_REUSEADDR`, and an `AcceptGateHandler` enforcing `max_connections` and
    /// `allow_hosts` before a connection's pipeline is set up.
    public func fdfsListener(maxConnections: Int, allowedHosts: AllowedHosts, logger: Logger) -> ServerBootstrap {
        self.serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { listener in
                listener.eventLoop.makeCompletedFuture {
                    try listener.pipeline.syncOperations.addHandler(
                        AcceptGateHandler(maxConnections: maxConnections, allowedHosts: allowedHosts, logger: logger))
                }
            }
    }
}

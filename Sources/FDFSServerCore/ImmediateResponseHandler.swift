import FDFSProtocol
import Logging
import NIOCore

/// Answers requests on the event loop through `FDFSConnectionHandler.respondImmediately`
/// while the handler can, and hands the connection to the async handler from the first
/// request it cannot answer on (so responses stay in request order: before that request
/// nothing was pending on the async side, after it everything goes there).
///
/// Sits after `PacketBoundaryHandler`, so the guard's packet accounting (timeouts, graceful
/// shutdown at a packet boundary) sees every frame, answered here or not.
final class ImmediateResponseHandler<Handler: FDFSConnectionHandler>: ChannelInboundHandler {
    typealias InboundIn = FDFSFrame
    typealias InboundOut = FDFSFrame
    typealias OutboundOut = FDFSOutbound

    private let handler: Handler
    private let logger: Logger
    /// The head of the packet being received, held until its end shows it is complete.
    private var heldHead: (FDFSHeader, ByteBuffer)?
    /// Set at the first request passed on: every later frame is passed on too.
    private var handedOver = false

    init(handler: Handler, logger: Logger) {
        self.handler = handler
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !handedOver else {
            context.fireChannelRead(data)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let header, let body):
            heldHead = (header, body)
        case .bodyPart:
            // A streamed body: not a request to answer here.
            handOver(context: context)
            context.fireChannelRead(data)
        case .end:
            guard let (header, body) = heldHead else {
                context.fireChannelRead(data)
                return
            }
            heldHead = nil
            if let remoteAddress = context.channel.remoteAddress,
               let response = handler.respondImmediately(
                   to: header, body: body,
                   context: ImmediateRequestContext(remoteAddress: remoteAddress, localAddress: context.channel.localAddress,
                                                    allocator: context.channel.allocator, logger: logger)) {
                context.writeAndFlush(wrapOutboundOut(.bytes(response)), promise: nil)
                return
            }
            handedOver = true
            context.fireChannelRead(wrapInboundOut(.head(header, body)))
            context.fireChannelRead(data)
        }
    }

    private func handOver(context: ChannelHandlerContext) {
        handedOver = true
        if let (header, body) = heldHead {
            heldHead = nil
            context.fireChannelRead(wrapInboundOut(.head(header, body)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handOver(context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed packet: the async handler answers it, after the frames before it.
        handOver(context: context)
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Input ends (peer half-close, graceful shutdown): a held head of an incomplete packet
        // goes on, so the async side sees exactly what arrived.
        if let event = event as? ChannelEvent, event == .inputClosed { handOver(context: context) }
        context.fireUserInboundEventTriggered(event)
    }
}

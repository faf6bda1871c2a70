import FDFSProtocol
import Logging
import NIOCore

/// Answers requests on the event loop through `FDFSConnectionHandler.respondImmediately`
/// whenever nothing is pending on the async side, and passes every other request on to it.
///
/// Responses must leave in request order. A request is answered here only while every
/// request passed on has had its whole response written through this handler: it counts
/// the requests it passed on and the response bytes the async side writes (each response
/// starts with a header whose length says where it ends). A response it cannot follow (a
/// header split across writes) makes it pass everything on from then on.
///
/// Sits after `PacketBoundaryHandler`, so the guard's packet accounting (timeouts, graceful
/// shutdown at a packet boundary) sees every frame, answered here or not.
final class ImmediateResponseHandler<Handler: FDFSConnectionHandler>: ChannelDuplexHandler {
    typealias InboundIn = FDFSFrame
    typealias InboundOut = FDFSFrame
    typealias OutboundIn = FDFSOutbound
    typealias OutboundOut = FDFSOutbound

    private let handler: Handler
    private let logger: Logger
    /// Shared with the connection's `FDFSConnection`.
    let local = ConnectionLocal()
    /// The head of the packet being received, held until its end shows it is complete.
    private var heldHead: (FDFSHeader, ByteBuffer)?
    /// The content of a small streamed request held with its head (nil: not holding).
    private var heldContent: ByteBuffer?
    /// Responses were written here since the last flush: flushed at the end of the read
    /// burst, so pipelined requests get their responses in one write.
    private var needsFlush = false
    /// Requests passed on whose response has not been written in full yet.
    private var pendingResponses = 0
    /// Where the responses written through here end.
    private var responses = ResponseFollower()
    /// Inside a packet passed on (a streamed body): its later frames go on too.
    private var passingPacket = false
    /// Set when the responses cannot be followed: everything goes on from then on.
    private var handedOver = false

    init(handler: Handler, logger: Logger) {
        self.handler = handler
        self.logger = logger
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if handedOver || passingPacket {
            if case .end = frame { passingPacket = false }
            context.fireChannelRead(data)
            return
        }
        switch frame {
        case .head(let header, let body):
            heldHead = (header, body)
            let contentBytes = header.bodyLength - Int64(body.readableBytes)
            if pendingResponses == 0 && contentBytes > 0 && contentBytes <= handler.immediateContentLimit(for: header) {
                heldContent = context.channel.allocator.buffer(capacity: 0)
            }
        case .bodyPart(var part):
            if var content = heldContent {
                // A small streamed request: its content is kept to offer it whole.
                heldContent = nil  // one reference while it grows
                if content.readableBytes == 0 {
                    content = part
                } else {
                    content.writeBuffer(&part)
                }
                heldContent = content
                return
            }
            // A streamed body: not a request to answer here.
            passOnHeldHead(context: context)
            passingPacket = true
            context.fireChannelRead(data)
        case .end:
            guard let (header, body) = heldHead else {
                context.fireChannelRead(data)
                return
            }
            heldHead = nil
            let content = heldContent
            heldContent = nil
            if pendingResponses == 0, let requestContext = requestContext(context) {
                let response = if let content {
                    handler.respondImmediately(to: header, body: body, content: content, context: requestContext)
                } else {
                    handler.respondImmediately(to: header, body: body, context: requestContext)
                }
                if let response {
                    context.write(wrapOutboundOut(.bytes(response.packet)), promise: nil)
                    if let file = response.file {
                        context.write(wrapOutboundOut(.file(file.handle, offset: file.offset, count: file.count)), promise: nil)
                    }
                    needsFlush = true
                    return
                }
            }
            pendingResponses += 1
            context.fireChannelRead(wrapInboundOut(.head(header, body)))
            if let content, content.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.bodyPart(content))) }
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// The connection's addresses, read and formatted once.
    private var cachedContext: ImmediateRequestContext?

    private func requestContext(_ context: ChannelHandlerContext) -> ImmediateRequestContext? {
        if let cachedContext { return cachedContext }
        guard let remote = context.channel.remoteAddress else { return nil }
        let local = context.channel.localAddress
        cachedContext = ImmediateRequestContext(remoteAddress: remote, localAddress: local, remoteIP: remote.ipAddress ?? "",
                                                localIP: local?.ipAddress ?? "", allocator: context.channel.allocator, logger: logger,
                                                local: self.local)
        return cachedContext
    }

    private func passOnHeldHead(context: ChannelHandlerContext) {
        guard let (header, body) = heldHead else { return }
        heldHead = nil
        pendingResponses += 1
        context.fireChannelRead(wrapInboundOut(.head(header, body)))
        if let content = heldContent {
            // The rest of the packet follows (or never comes): the async side takes it all.
            heldContent = nil
            passingPacket = true
            if content.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.bodyPart(content))) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        passOnHeldHead(context: context)
        handedOver = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed packet: the async handler answers it, after the frames before it.
        passOnHeldHead(context: context)
        handedOver = true
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Input ends (peer half-close, graceful shutdown): a held head of an incomplete packet
        // goes on, so the async side sees exactly what arrived.
        if let event = event as? ChannelEvent, event == .inputClosed {
            passOnHeldHead(context: context)
            handedOver = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Outbound (responses of the async side)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !handedOver {
            switch unwrapOutboundIn(data) {
            case .bytes(let buffer): follow(buffer)
            case .file(_, _, let count): consume(count)
            }
        }
        context.write(data, promise: promise)
    }

    /// Accounts for response bytes: headers start responses, their lengths end them.
    private func follow(_ buffer: ByteBuffer) {
        responses.follow(buffer) { _ in pendingResponses = max(0, pendingResponses - 1) }
        if responses.lost { handedOver = true }
    }

    private func consume(_ count: Int64) {
        responses.consume(count) { _ in pendingResponses = max(0, pendingResponses - 1) }
        if responses.lost { handedOver = true }
    }
}

import FDFSProtocol
import Logging
import NIOCore

/// The first handler of every connection, in front of the frame decoder. It applies the
/// network timeout of protocol spec §9.3, ends the inbound stream at a packet boundary on
/// graceful shutdown, and lingers briefly after the server closed its write side.
///
/// It tells packet boundaries by counting bytes: it counts what arrives, and
/// `PacketBoundaryHandler` (right after the decoder) reports each frame's size, so a packet is
/// complete when an `end` frame has accounted for every byte received. No framing logic is
/// repeated here.
///
/// Timeouts (`networkTimeout`):
/// - *waiting on the peer*: armed when a read is requested while the connection has not yet
///   completed a packet, or is inside one; any bytes disarm it (so a slow but moving upload is
///   never cut). Reads are requested only while the handler keeps up, so time the server
///   spends on a request, or back-pressure on a large upload, is never charged to the peer.
///   Between packets, after the first one, the peer may stay idle forever.
/// - *slow head* (slowloris): the header and the fixed part of a packet (for a buffered
///   command, its whole body) must arrive within `networkTimeout` of the packet's first byte,
///   however steadily they trickle in. Only content streamed to a file (uploads, appends,
///   sync pushes) may take longer, as long as it keeps moving.
/// - *write stalled*: armed while the channel is not writable (the peer does not read its
///   response), disarmed when it drains.
/// - *quick ACK*: inside a packet, the ACK of each read goes out at once (TCP_QUICKACK), so a
///   client with Nagle's algorithm on never waits for a delayed ACK between the parts of one
///   request.
/// - *linger*: after the server shut its write side, input is read and discarded until the
///   peer closes, for at most `min(networkTimeout, maximumLinger)`. Closing at once while the
///   peer still sends would reset the connection and could destroy the response it has not
///   read yet.
final class ConnectionGuardHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let maximumLinger = TimeAmount.seconds(2)

    let networkTimeout: TimeAmount
    let logger: Logger

    /// Bytes received, and bytes of packets the decoder has finished (`end` seen).
    private var receivedBytes: Int64 = 0
    private var completedBytes: Int64 = 0
    private var currentPacketBytes: Int64 = 0
    private var hasCompletedPacket = false
    /// Graceful shutdown was requested; the input ends at the next packet boundary.
    private var isQuiescing = false
    /// The inbound stream was ended (shutdown, decoder error, close): later bytes are dropped.
    private var inputEnded = false
    /// The server shut its write side.
    private var isLingering = false

    private var peerTimer: Scheduled<Void>?
    private var headTimer: Scheduled<Void>?
    private var writeTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?

    init(networkTimeout: TimeAmount, logger: Logger) {
        precondition(networkTimeout > .zero, "networkTimeout must be positive")
        self.networkTimeout = networkTimeout
        self.logger = logger
    }

    private var isAtPacketBoundary: Bool { receivedBytes == completedBytes }

    /// Whether the peer owes us bytes now: before its first packet, or inside a packet.
    private var isWaitingOnPeer: Bool {
        !inputEnded && !isLingering && (!hasCompletedPacket || !isAtPacketBoundary)
    }

    // MARK: Reports from PacketBoundaryHandler

    func frameDecoded(_ frame: FDFSFrame) {
        switch frame {
        case .head(_, let fields): currentPacketBytes += Int64(FDFSHeader.size + fields.readableBytes)
        case .bodyPart(let part): currentPacketBytes += Int64(part.readableBytes)
        case .end:
            completedBytes += currentPacketBytes
            currentPacketBytes = 0
            hasCompletedPacket = true
        }
    }

    /// The decoder failed: it will not produce another frame, so later bytes are dropped.
    func decoderFailed() {
        inputEnded = true
        cancel(&peerTimer)
        cancel(&headTimer)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armPeerTimerIfNeeded(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelAllTimers()
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        // A connection that becomes active after the listener closed was accepted in the last
        // moment of a shutdown; NIO may have dropped it without handing it to the server.
        if let listener = context.channel.parent, !listener.isActive {
            logger.debug("closing connection accepted while the listener closed")
            context.close(promise: nil)
            return
        }
        armPeerTimerIfNeeded(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelAllTimers()
        context.fireChannelInactive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        cancel(&peerTimer)
        guard !inputEnded, !isLingering else { return }
        receivedBytes += Int64(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
        // The decoder ran synchronously: bytes of a packet whose head is not decoded yet start
        // (or keep) the head deadline; a decoded head ends it.
        if !inputEnded && !isAtPacketBoundary && currentPacketBytes == 0 {
            armHeadTimerIfNeeded(context: context)
        } else {
            cancel(&headTimer)
        }
        // The decoder ran synchronously above, so the counters now include these bytes.
        if isQuiescing && isAtPacketBoundary { endInput(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Bytes are being discarded, so the async side's back-pressure does not apply: keep
        // reading until the peer closes.
        if inputEnded || isLingering {
            context.read()
        } else if !isAtPacketBoundary {
            acknowledgeNow(context: context)
        }
        context.fireChannelReadComplete()
    }

    /// Sends the ACK of what was just read now instead of up to 40 ms later (Linux delayed
    /// ACK). Most FastDFS clients (the C library, Java) leave Nagle's algorithm on and write a
    /// request in two parts, header and fixed part, then the content: the second part waits
    /// for the ACK of the first, so a delayed ACK stalls every small upload by about 40 ms.
    /// The C servers set TCP_QUICKACK after each read; we do it only inside a packet, the one
    /// place a peer can be waiting for an ACK with no response coming to carry it (a complete
    /// request gets its ACK with the response). The option is not sticky on Linux, hence
    /// once per read burst.
    private func acknowledgeNow(context: ChannelHandlerContext) {
        #if os(Linux)
        try? context.channel.syncOptions?.setOption(Self.quickAck, value: 1)
        #endif
    }

    #if os(Linux)
    /// TCP_QUICKACK of <netinet/tcp.h> (12 on Linux), which Glibc's Swift module does not export.
    private static let quickAck = ChannelOptions.Types.SocketOption(level: .tcp, name: .init(rawValue: 12))
    #endif

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        isQuiescing = true
        // Mid-packet, the packet is finished first (channelRead ends the input after it); the
        // peer timer still bounds a peer that stalls there.
        if isAtPacketBoundary { endInput(context: context) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            cancel(&writeTimer)
        } else if writeTimer == nil {
            writeTimer = schedule(after: networkTimeout, context: context) { handler, context in
                handler.writeTimer = nil
                handler.logger.info("closing connection: response not read within the network timeout",
                                    metadata: ["fdfs.network_timeout_ms": "\(handler.networkTimeout.nanoseconds / 1_000_000)"])
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        armPeerTimerIfNeeded(context: context)
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output && !isLingering {
            // The handler finished (NIOAsyncChannel half-closes after its pending writes).
            isLingering = true
            endInput(context: context)
            cancel(&peerTimer)
            lingerTimer = schedule(after: min(networkTimeout, Self.maximumLinger), context: context) { handler, context in
                handler.lingerTimer = nil
                context.close(promise: nil)
            }
            context.close(mode: mode, promise: promise)
            context.read()
            return
        }
        context.close(mode: mode, promise: promise)
    }

    // MARK: Helpers

    /// Ends the inbound stream as if the peer had half-closed: the decoder sees EOF (at a
    /// boundary that is no error) and the async stream finishes after its buffered frames.
    private func endInput(context: ChannelHandlerContext) {
        guard !inputEnded else { return }
        inputEnded = true
        cancel(&peerTimer)
        cancel(&headTimer)
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    private func armPeerTimerIfNeeded(context: ChannelHandlerContext) {
        guard isWaitingOnPeer, peerTimer == nil, context.channel.isActive else { return }
        peerTimer = schedule(after: networkTimeout, context: context) { handler, context in
            handler.peerTimer = nil
            let stage = handler.hasCompletedPacket || handler.receivedBytes > 0 ? "in the middle of a packet" : "before the first request"
            handler.logger.info("closing connection: peer silent \(stage) for the network timeout",
                                metadata: ["fdfs.network_timeout_ms": "\(handler.networkTimeout.nanoseconds / 1_000_000)"])
            context.close(promise: nil)
        }
    }

    private func armHeadTimerIfNeeded(context: ChannelHandlerContext) {
        guard headTimer == nil else { return }
        headTimer = schedule(after: networkTimeout, context: context) { handler, context in
            handler.headTimer = nil
            handler.logger.info("closing connection: request header not complete within the network timeout (a slow sender)",
                                metadata: ["fdfs.network_timeout_ms": "\(handler.networkTimeout.nanoseconds / 1_000_000)",
                                           "fdfs.bytes": "\(handler.receivedBytes - handler.completedBytes)"])
            context.close(promise: nil)
        }
    }

    private func schedule(after delay: TimeAmount, context: ChannelHandlerContext,
                          _ body: @escaping (ConnectionGuardHandler, ChannelHandlerContext) -> Void) -> Scheduled<Void> {
        context.eventLoop.assumeIsolated().scheduleTask(in: delay) { body(self, context) }
    }

    private func cancel(_ timer: inout Scheduled<Void>?) {
        timer?.cancel()
        timer = nil
    }

    private func cancelAllTimers() {
        cancel(&peerTimer)
        cancel(&headTimer)
        cancel(&writeTimer)
        cancel(&lingerTimer)
    }
}

/// Sits right after the frame decoder and reports every frame (and a decoder error) to the
/// connection's `ConnectionGuardHandler`, which uses them to know where packets end.
final class PacketBoundaryHandler: ChannelInboundHandler {
    typealias InboundIn = FDFSFrame
    typealias InboundOut = FDFSFrame

    /// Same channel, hence same event loop: plain calls are safe.
    private let guardHandler: ConnectionGuardHandler

    init(reportingTo guardHandler: ConnectionGuardHandler) {
        self.guardHandler = guardHandler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guardHandler.frameDecoded(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is FDFSProtocolError { guardHandler.decoderFailed() }
        context.fireErrorCaught(error)
    }
}

public import FDFSModel
public import FDFSProtocol
public import NIOCore
public import NIOPosix

/// A response as it came off the wire: header and (buffered) body.
public struct FDFSRawResponse: Sendable {
    public var header: FDFSHeader
    public var body: ByteBuffer
}

/// Why a request did not produce a response value.
public enum FDFSClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server answered with a non-zero status.
    case status(FDFSStatus)
    /// The connection closed before the response was complete.
    case connectionClosed

    public var description: String {
        switch self {
        case .status(let s): "server answered \(s): \(s.meaning)"
        case .connectionClosed: "the connection closed before the response arrived"
        }
    }

    public var status: FDFSStatus? {
        if case .status(let s) = self { return s }
        return nil
    }
}

/// One connection to a tracker or storage, strictly one request at a time in order, as
/// FastDFS servers require (protocol spec §1.1). Responses are framed by `FDFSFrameDecoder`
/// and buffered (up to `maxResponseBytes`).
public final class FDFSClientConnection: Sendable {
    public let channel: any Channel
    public let remoteAddress: SocketAddress?

    init(channel: any Channel) {
        self.channel = channel
        self.remoteAddress = channel.remoteAddress
    }

    /// Connects to `host:port`, from `bindAddress` when given (`client_bind`).
    public static func connect(host: String, port: Int, bindAddress: String? = nil, connectTimeout: TimeAmount = .seconds(10),
                               maxResponseBytes: Int = 16 * 1024 * 1024,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> FDFSClientConnection {
        let limits = FDFSLimits(maxBufferedBodyBytes: maxResponseBytes)
        var bootstrap = ClientBootstrap(group: group)
        if let bindAddress { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: bindAddress, port: 0)) }
        let channel = try await bootstrap
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FDFSFrameDecoder(policy: .response(limits: limits))))
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector())
                }
            }
            .connect(host: host, port: port)
            .get()
        return FDFSClientConnection(channel: channel)
    }

    /// Sends a complete packet and waits for the response packet.
    public func send(_ packet: ByteBuffer) async throws -> FDFSRawResponse {
        let promise = channel.eventLoop.makePromise(of: FDFSRawResponse.self)
        channel.writeAndFlush(PendingRequest(packet: packet, promise: promise)).cascadeFailure(to: promise)
        return try await promise.futureResult.get()
    }

    /// Sends a packet that gets no response (QUIT) or whose response is not awaited.
    public func sendWithoutResponse(_ packet: ByteBuffer) async throws {
        try await channel.writeAndFlush(PendingRequest(packet: packet, promise: nil)).get()
    }

    /// Sends `request` and decodes the response; a non-zero status throws `FDFSClientError.status`.
    public func request<R: FDFSRequest>(_ request: R) async throws -> R.Response {
        let response = try await send(request.requestPacket(allocator: channel.allocator))
        guard response.header.status == 0 else { throw FDFSClientError.status(FDFSStatus(response.header.status)) }
        return try R.Response.decode(body: response.body, command: R.command)
    }

    public func close() async {
        try? await channel.close()
    }
}

/// A packet going out with the promise of its response (nil: none expected).
struct PendingRequest: Sendable {
    var packet: ByteBuffer
    var promise: EventLoopPromise<FDFSRawResponse>?
}

/// Pairs response frames with the requests written before them, in order.
final class ResponseCollector: ChannelDuplexHandler {
    typealias InboundIn = FDFSFrame
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = ByteBuffer

    private var waiting = CircularBuffer<EventLoopPromise<FDFSRawResponse>>()
    private var current: FDFSRawResponse? = nil

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let p = request.promise { waiting.append(p) }
        context.write(wrapOutboundOut(request.packet), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let header, let body):
            current = FDFSRawResponse(header: header, body: body)
        case .bodyPart(var part):
            current?.body.writeBuffer(&part)
        case .end:
            guard let response = current else { return }
            current = nil
            waiting.popFirst()?.succeed(response)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(FDFSClientError.connectionClosed)
        context.fireChannelInactive()
    }

    private func failAll(_ error: any Error) {
        while let p = waiting.popFirst() { p.fail(error) }
    }
}

public import FDFSModel
public import FDFSProtocol
public import NIOCore
public import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// Streamed content did not have the length announced in the request header. The packet
    /// was cut, so the connection was closed.
    case contentLengthMismatch(expected: Int64, actual: Int64)
    /// An argument the protocol cannot carry (negative offset, metadata with separator bytes...).
    case invalidArgument(String)
    /// Nothing was sent or received for `network_timeout` while a response was awaited; the
    /// connection was closed.
    case timedOut(seconds: Int64)
    /// Replies that decode but contradict each other (a paged answer that stops early...).
    case inconsistentReply(String)

    public var description: String {
        switch self {
        case .status(let s): "server answered \(s): \(s.meaning)"
        case .connectionClosed: "the connection closed before the response arrived"
        case .contentLengthMismatch(let expected, let actual):
            "the content had \(actual)\(actual > expected ? " or more" : "") bytes instead of the \(expected) announced"
        case .invalidArgument(let why): why
        case .timedOut(let seconds): "no answer within the network timeout of \(seconds) s"
        case .inconsistentReply(let why): why
        }
    }

    public var status: FDFSStatus? {
        if case .status(let s) = self { return s }
        return nil
    }
}

/// One connection to a tracker or storage, strictly one request at a time in order, as
/// FastDFS servers require (protocol spec §1.1).
///
/// Responses are framed by `FDFSFrameDecoder` as streamed bodies. `send(_:)` and
/// `request(_:)` buffer the body (up to `maxResponseBytes`); `send(_:streamingResponseTo:)`
/// hands it on in parts, reading from the socket only as fast as the consumer takes them.
/// Request content (uploads, append, modify) can be streamed from an `AsyncSequence` with
/// `send(head:content:contentLength:)`, which waits for the channel to take the bytes, so
/// neither direction holds a whole file in memory.
///
/// Requests issued while the content of a streamed upload is still going out wait in the
/// pipeline until it is complete, so concurrent callers never interleave bytes of two packets.
public final class FDFSClientConnection: Sendable {
    public let channel: any Channel
    public let remoteAddress: SocketAddress?

    /// How many content bytes an upload writes before it waits for the channel to take them.
    static let uploadWindow = 256 * 1024

    init(channel: any Channel) {
        self.channel = channel
        self.remoteAddress = channel.remoteAddress
    }

    /// Connects to `host:port`, from `bindAddress` when given (`client_bind`).
    /// `maxResponseBytes` bounds the bodies of buffered responses; streamed ones are unbounded.
    /// With `networkTimeout`, a request whose connection neither sends nor receives a byte
    /// for that long fails with `FDFSClientError.timedOut` and the connection is closed
    /// (`network_timeout` of client.conf; a download paused by its slow consumer does not count).
    /// With `clusterSecrets` (a daemon dialing another member of its cluster), the connection
    /// proves the cluster secret before it is returned (`proveClusterSecret`).
    public static func connect(host: String, port: Int, bindAddress: String? = nil, connectTimeout: TimeAmount = .seconds(10),
                               networkTimeout: TimeAmount? = nil, maxResponseBytes: Int = 16 * 1024 * 1024,
                               clusterSecrets: ClusterSecrets? = nil,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> FDFSClientConnection {
        let connection = try await open(host: host, port: port, bindAddress: bindAddress, connectTimeout: connectTimeout,
                                        networkTimeout: networkTimeout, maxResponseBytes: maxResponseBytes, group: group)
        guard let clusterSecrets else { return connection }
        do {
            try await connection.proveClusterSecret(clusterSecrets, server: "\(host):\(port)")
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    static func open(host: String, port: Int, bindAddress: String?, connectTimeout: TimeAmount, networkTimeout: TimeAmount?,
                     maxResponseBytes: Int, group: any EventLoopGroup) async throws -> FDFSClientConnection {
        let limits = FDFSLimits(maxBufferedBodyBytes: maxResponseBytes)
        var bootstrap = ClientBootstrap(group: group)
        if let bindAddress { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: bindAddress, port: 0)) }
        let channel = try await bootstrap
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)  // IPPROTO_TCP level (socketOption would be SOL_SOCKET: SO_DEBUG)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Every response is framed as streamed; the collector buffers those that
                    // were asked for buffered, within the limit.
                    let decoder = FDFSFrameDecoder(policy: .response(streamBody: true, limits: limits))
                    if let networkTimeout {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: networkTimeout))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(
                        ResponseCollector(maxBufferedBodyBytes: maxResponseBytes, networkTimeout: networkTimeout))
                }
            }
            .connect(host: host, port: port)
            .get()
        return FDFSClientConnection(channel: channel)
    }

    // MARK: Buffered

    /// Sends a complete packet and waits for the response packet.
    public func send(_ packet: ByteBuffer) async throws -> FDFSRawResponse {
        let promise = channel.eventLoop.makePromise(of: FDFSRawResponse.self)
        channel.writeAndFlush(ClientOutbound.request(packet, .buffered(promise), streamsContent: false)).whenFailure { promise.fail(Self.closedConnection($0)) }
        return try await promise.futureResult.get()
    }

    /// Writes a complete packet without waiting for its response, which the returned future
    /// brings; with `flush: false` it leaves with the next flush (`flush()` or a later send).
    /// Responses arrive in request order, so a caller can keep several requests in flight on
    /// one connection (pipelining). Call on the channel's event loop to keep the order of
    /// writes from several callers.
    public func sendPipelined(_ packet: ByteBuffer, flush: Bool) -> EventLoopFuture<FDFSRawResponse> {
        let promise = channel.eventLoop.makePromise(of: FDFSRawResponse.self)
        let message = ClientOutbound.request(packet, .buffered(promise), streamsContent: false)
        let written = flush ? channel.writeAndFlush(message) : channel.write(message)
        written.whenFailure { promise.fail(Self.closedConnection($0)) }
        return promise.futureResult
    }

    /// Sends whatever `sendPipelined(_:flush: false)` left in the channel.
    public func flush() { channel.flush() }

    /// Sends a packet that gets no response (QUIT) or whose response is not awaited.
    public func sendWithoutResponse(_ packet: ByteBuffer) async throws {
        do {
            try await channel.writeAndFlush(ClientOutbound.request(packet, nil, streamsContent: false)).get()
        } catch {
            throw Self.closedConnection(error)
        }
    }

    /// Sends `request` and decodes the response; a non-zero status throws `FDFSClientError.status`.
    public func request<R: FDFSRequest>(_ request: R) async throws -> R.Response {
        let response = try await send(request.requestPacket(allocator: channel.allocator))
        return try Self.decode(R.self, response)
    }

    // MARK: Streamed request content

    /// Sends `head` (header and fixed part of a streaming request), then the content from
    /// `content`, which must yield exactly `contentLength` bytes, and waits for the buffered
    /// response.
    ///
    /// At most `uploadWindow` bytes are handed to the channel before the upload waits for them
    /// to be written, and it also waits whenever the channel is not writable, so memory stays
    /// bounded whatever the size. If the server answers before the content is complete (an
    /// early error, protocol spec §5), sending stops, the connection is closed (the server
    /// would read the rest as the next request) and that response is returned. If `content`
    /// throws or has another length, or the task is cancelled, the connection is closed and
    /// the error thrown.
    public func send<Content: AsyncSequence>(head: ByteBuffer, content: Content, contentLength: Int64) async throws -> FDFSRawResponse
    where Content.Element == ByteBuffer {
        guard contentLength >= 0 else { throw FDFSClientError.invalidArgument("content length \(contentLength) is negative") }
        let promise = channel.eventLoop.makePromise(of: FDFSRawResponse.self)
        // Not flushed: the head leaves with the first content (one writev), so a small
        // request is one write on the wire, never a head segment and a content segment.
        channel.write(ClientOutbound.request(head, .buffered(promise), streamsContent: true)).whenFailure { promise.fail(Self.closedConnection($0)) }
        var sent: Int64 = 0
        do {
            var unconfirmed = 0
            for try await chunk in content {
                try Task.checkCancellation()
                guard chunk.readableBytes > 0 else { continue }
                sent += Int64(chunk.readableBytes)
                guard sent <= contentLength else { throw FDFSClientError.contentLengthMismatch(expected: contentLength, actual: sent) }
                let written: EventLoopFuture<Void> = channel.writeAndFlush(ClientOutbound.content(chunk))
                unconfirmed += chunk.readableBytes
                if unconfirmed >= Self.uploadWindow || !channel.isWritable {
                    try await awaitWrite(written)
                    unconfirmed = 0
                }
            }
            guard sent == contentLength else { throw FDFSClientError.contentLengthMismatch(expected: contentLength, actual: sent) }
            try await awaitWrite(channel.writeAndFlush(ClientOutbound.contentEnd))
        } catch let failed as WriteFailed {
            // Refused after an early response, or the connection went away: what the server
            // said, if anything, is the answer.
            try? await channel.close()
            do {
                return try await promise.futureResult.get()
            } catch {
                throw failed.error is UploadRefused ? FDFSClientError.connectionClosed : Self.closedConnection(error)
            }
        } catch {
            // The packet is cut: the connection cannot carry another request.
            try? await channel.close()
            throw error
        }
        return try await promise.futureResult.get()
    }

    /// Sends a streaming request with its content and decodes the response; a non-zero status
    /// throws `FDFSClientError.status`.
    public func request<R: FDFSStreamingRequest, Content: AsyncSequence>(_ request: R, content: Content) async throws -> R.Response
    where Content.Element == ByteBuffer {
        let head = request.requestPacket(allocator: channel.allocator)
        return try Self.decode(R.self, try await send(head: head, content: content, contentLength: request.contentLength))
    }

    private func awaitWrite(_ future: EventLoopFuture<Void>) async throws {
        do { try await future.get() } catch { throw WriteFailed(error: error) }
    }

    // MARK: Streamed response body

    /// Sends a complete packet and passes the response body to `consume` part by part as it
    /// arrives (parts are slices of what the socket delivered, at most a read's worth each).
    /// Returns the response header; after a non-zero status no part is passed.
    ///
    /// Reading from the socket pauses while a few parts wait for `consume`, so a slow consumer
    /// keeps memory bounded. If `consume` throws, the connection is closed (the rest of the
    /// body is still in it) and the error is rethrown. A connection closed before the body is
    /// complete throws `FDFSClientError.connectionClosed`.
    public func send(_ packet: ByteBuffer, streamingResponseTo consume: (ByteBuffer) async throws -> Void) async throws -> FDFSHeader {
        let delegate = ResponseStreamDelegate(channel: channel)
        let produced = NIOThrowingAsyncSequenceProducer.makeSequence(
            elementType: FDFSFrame.self, failureType: (any Error).self,
            backPressureStrategy: NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark(lowWatermark: 2, highWatermark: 8),
            finishOnDeinit: true, delegate: delegate)
        let sink = ResponseSink(delegate: delegate, source: produced.source)
        channel.writeAndFlush(ClientOutbound.request(packet, .streamed(sink), streamsContent: false)).whenFailure { error in
            sink.source.finish(Self.closedConnection(error))
        }
        let frames = produced.sequence.makeAsyncIterator()
        guard case .head(let header, _)? = try await frames.next() else {
            throw Task.isCancelled ? CancellationError() : FDFSClientError.connectionClosed
        }
        var received: Int64 = 0
        do {
            while let frame = try await frames.next() {
                guard case .bodyPart(let part) = frame else { continue }
                received += Int64(part.readableBytes)
                try await consume(part)
            }
        } catch {
            try? await channel.close()
            throw error
        }
        if header.status == 0, header.bodyLength != FetchOnePathBinlogResponse.unboundedLength, received != header.bodyLength {
            // The sequence ended early: the task was cancelled.
            try? await channel.close()
            throw Task.isCancelled ? CancellationError() : FDFSClientError.connectionClosed
        }
        return header
    }

    /// Sends `request` and passes the response body to `consume` in parts (see
    /// `send(_:streamingResponseTo:)`). Returns the body length; a non-zero status throws
    /// `FDFSClientError.status`.
    @discardableResult
    public func request<R: FDFSRequest>(_ request: R, streamingResponseTo consume: (ByteBuffer) async throws -> Void) async throws -> Int64 {
        let header = try await send(request.requestPacket(allocator: channel.allocator), streamingResponseTo: consume)
        guard header.status == 0 else { throw FDFSClientError.status(FDFSStatus(header.status)) }
        return header.bodyLength
    }

    public func close() async {
        try? await channel.close()
    }

    /// A write that failed because the connection is closed or was reset is
    /// `FDFSClientError.connectionClosed`; other errors are passed on.
    static func closedConnection(_ error: any Error) -> any Error {
        if let e = error as? ChannelError, e == .ioOnClosedChannel || e == .alreadyClosed || e == .eof { return FDFSClientError.connectionClosed }
        if let e = error as? IOError, [ECONNRESET, EPIPE, ENOTCONN].contains(e.errnoCode) { return FDFSClientError.connectionClosed }
        return error
    }

    // Not inlined into the async callers: Swift 6.3.1's release build crashes in LLVM's
    // coroutine splitting when this typed-throws decode is inlined into `request` (signal 11
    // in emitSetAndGetSwiftErrorValueAround).
    @inline(never)
    static func decode<R: FDFSRequest>(_: R.Type, _ response: FDFSRawResponse) throws -> R.Response {
        guard response.header.status == 0 else { throw FDFSClientError.status(FDFSStatus(response.header.status)) }
        return try R.Response.decode(body: response.body, command: R.command)
    }
}

/// A content write that failed (as opposed to the content sequence failing).
struct WriteFailed: Error {
    var error: any Error
}

/// The server answered a streaming request before its content was complete; the rest is not sent.
struct UploadRefused: Error {}

/// What the connection writes into its pipeline.
enum ClientOutbound: Sendable {
    /// A packet, the response it expects (nil: none), and whether content follows in
    /// `content` writes up to a `contentEnd`.
    case request(ByteBuffer, ResponseExpectation?, streamsContent: Bool)
    case content(ByteBuffer)
    case contentEnd
}

/// Where the response to a request goes.
enum ResponseExpectation: Sendable {
    case buffered(EventLoopPromise<FDFSRawResponse>)
    case streamed(ResponseSink)

    func isStream(of delegate: ResponseStreamDelegate) -> Bool {
        if case .streamed(let sink) = self { return sink.delegate === delegate }
        return false
    }

    func fail(_ error: any Error) {
        switch self {
        case .buffered(let promise): promise.fail(error)
        case .streamed(let sink): sink.source.finish(error)
        }
    }
}

typealias ResponseFrames = NIOThrowingAsyncSequenceProducer<
    FDFSFrame, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, ResponseStreamDelegate
>

/// The producing end of a streamed response.
struct ResponseSink: Sendable {
    let delegate: ResponseStreamDelegate
    let source: ResponseFrames.Source
}

/// Tells the collector (on its event loop) that the consumer wants more, or has gone.
final class ResponseStreamDelegate: NIOAsyncSequenceProducerDelegate {
    let channel: any Channel
    init(channel: any Channel) { self.channel = channel }

    func produceMore() { channel.triggerUserOutboundEvent(ResponseStreamEvent.produceMore(self), promise: nil) }
    func didTerminate() { channel.triggerUserOutboundEvent(ResponseStreamEvent.terminated(self), promise: nil) }
}

enum ResponseStreamEvent: Sendable {
    case produceMore(ResponseStreamDelegate)
    case terminated(ResponseStreamDelegate)
}

/// Pairs response frames with the requests written before them, in order; buffers or streams
/// each response as its request asked; holds back reads while a streamed consumer is behind;
/// and keeps other requests out of the socket while a request's content is being streamed.
final class ResponseCollector: ChannelDuplexHandler {
    typealias InboundIn = FDFSFrame
    typealias OutboundIn = ClientOutbound
    typealias OutboundOut = ByteBuffer

    private enum Receiving {
        case idle
        case buffered(EventLoopPromise<FDFSRawResponse>, FDFSRawResponse)
        case streamed(ResponseSink)
        /// A response nobody waits for (or one refused): its frames are dropped.
        case discarding
    }

    let maxBufferedBodyBytes: Int
    private var waiting = CircularBuffer<ResponseExpectation>()
    private var receiving = Receiving.idle
    /// Content of the last written request is still going out.
    private var uploading = false
    /// The server answered the request whose content is going out: refuse the rest.
    private var uploadRefused = false
    /// Requests written while content was going out, in order.
    private var deferred = CircularBuffer<(ClientOutbound, EventLoopPromise<Void>?)>()
    private var readPaused = false
    private var readPending = false

    let networkTimeout: TimeAmount?

    init(maxBufferedBodyBytes: Int, networkTimeout: TimeAmount? = nil) {
        self.maxBufferedBodyBytes = maxBufferedBodyBytes
        self.networkTimeout = networkTimeout
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        send(context: context, unwrapOutboundIn(data), promise: promise)
    }

    private func send(context: ChannelHandlerContext, _ message: ClientOutbound, promise: EventLoopPromise<Void>?) {
        switch message {
        case .request(let packet, let expectation, let streamsContent):
            if uploading {
                deferred.append((message, promise))
                return
            }
            if let expectation { waiting.append(expectation) }
            if streamsContent {
                uploading = true
                uploadRefused = false
            }
            context.write(wrapOutboundOut(packet), promise: promise)
        case .content(let bytes):
            guard uploading, !uploadRefused else {
                promise?.fail(uploadRefused ? UploadRefused() as any Error : ChannelError.inappropriateOperationForState)
                return
            }
            context.write(wrapOutboundOut(bytes), promise: promise)
        case .contentEnd:
            uploading = false
            uploadRefused = false
            promise?.succeed(())
            while !uploading, let (next, p) = deferred.popFirst() { send(context: context, next, promise: p) }
            context.flush()
        }
    }

    func read(context: ChannelHandlerContext) {
        if readPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? ResponseStreamEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed(())
        switch event {
        case .produceMore(let delegate):
            if case .streamed(let sink) = receiving, sink.delegate === delegate { resumeReading(context) }
        case .terminated(let delegate):
            // The consumer went away before the end of its response: the rest of it has
            // nowhere to go and would block the responses behind it.
            if case .streamed(let sink) = receiving, sink.delegate === delegate {
                receiving = .discarding
                context.close(promise: nil)
            } else if waiting.contains(where: { $0.isStream(of: delegate) }) {
                context.close(promise: nil)
            }
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let header, let body):
            guard let expectation = waiting.popFirst() else {
                receiving = .discarding
                return
            }
            if uploading && waiting.isEmpty {
                // The answer to the request whose content is still going out (spec §5:
                // streaming commands are validated on the first buffer-full).
                uploadRefused = true
            }
            switch expectation {
            case .buffered(let promise):
                if header.status == 0 && header.bodyLength > Int64(maxBufferedBodyBytes) {
                    receiving = .discarding
                    promise.fail(FDFSProtocolError(.bodyTooLarge, command: header.command,
                                                   "response body of \(header.bodyLength) bytes exceeds the limit of \(maxBufferedBodyBytes)"))
                    context.close(promise: nil)
                    return
                }
                receiving = .buffered(promise, FDFSRawResponse(header: header, body: body))
            case .streamed(let sink):
                receiving = .streamed(sink)
                deliver(.head(header, body), to: sink, context: context)
            }
        case .bodyPart(var part):
            switch receiving {
            case .buffered(let promise, var response):
                receiving = .idle  // no second reference to the body while it grows
                if response.body.readableBytes == 0 && Int64(part.readableBytes) == response.header.bodyLength {
                    response.body = part  // the whole body in one read: no copy
                } else {
                    if response.body.readableBytes == 0 {
                        response.body = context.channel.allocator.buffer(capacity: Int(response.header.bodyLength))
                    }
                    response.body.writeBuffer(&part)
                }
                receiving = .buffered(promise, response)
            case .streamed(let sink):
                deliver(.bodyPart(part), to: sink, context: context)
            case .idle, .discarding:
                break
            }
        case .end:
            let finished = receiving
            receiving = .idle
            switch finished {
            case .buffered(let promise, let response):
                promise.succeed(response)
            case .streamed(let sink):
                sink.source.finish()
                resumeReading(context)
            case .idle, .discarding:
                break
            }
        }
    }

    private func deliver(_ frame: FDFSFrame, to sink: ResponseSink, context: ChannelHandlerContext) {
        switch sink.source.yield(frame) {
        case .produceMore:
            break
        case .stopProducing:
            readPaused = true
        case .dropped:
            receiving = .discarding
            context.close(promise: nil)
        }
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        readPaused = false
        if readPending {
            readPending = false
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is IdleStateHandler.IdleStateEvent, let networkTimeout else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Idle while a response is awaited (and not because its consumer is behind): the
        // server or the network is stuck.
        let awaiting: Bool
        switch receiving {
        case .idle, .discarding: awaiting = !waiting.isEmpty
        case .buffered, .streamed: awaiting = true
        }
        if awaiting && !readPaused {
            failAll(FDFSClientError.timedOut(seconds: networkTimeout.nanoseconds / 1_000_000_000))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A packet cut by the peer's close is a closed connection to the caller.
        let truncated = (error as? FDFSProtocolError)?.kind == .truncated
        failAll(truncated ? FDFSClientError.connectionClosed : error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(FDFSClientError.connectionClosed)
        context.fireChannelInactive()
    }

    private func failAll(_ error: any Error) {
        switch receiving {
        case .buffered(let promise, _): promise.fail(error)
        case .streamed(let sink): sink.source.finish(error)
        case .idle, .discarding: break
        }
        receiving = .idle
        while let expectation = waiting.popFirst() { expectation.fail(error) }
        while let (message, promise) = deferred.popFirst() {
            if case .request(_, let expectation?, _) = message { expectation.fail(error) }
            promise?.fail(error)
        }
        uploadRefused = uploading
        readPaused = false
    }
}

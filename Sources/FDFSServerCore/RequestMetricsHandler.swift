public import FDFSMetrics
public import FDFSProtocol
import NIOCore
public import Prometheus

/// Counts a connection's requests, bytes and latency into `RequestMetrics`.
///
/// Sits between the packet framing and `ImmediateResponseHandler`, so it sees every request
/// frame and every response, answered on the event loop or by the async side. Responses
/// leave in request order: each response header (its length says where the response ends)
/// belongs to the oldest request still waiting. A response it cannot follow (a header split
/// across writes) stops the per-request counting of the connection; bytes are still counted.
final class RequestMetricsHandler: ChannelDuplexHandler {
    typealias InboundIn = FDFSFrame
    typealias InboundOut = FDFSFrame
    typealias OutboundIn = FDFSOutbound
    typealias OutboundOut = FDFSOutbound

    private let metrics: RequestMetrics
    /// Requests waiting for their response: command and the uptime (ns) their header came in.
    private var waiting = CircularBuffer<(command: UInt8, start: UInt64)>(initialCapacity: 4)
    /// Where the responses end (once it loses track, requests are no longer counted).
    private var responses = ResponseFollower()
    private var isOpen = false
    private var receivedBytes: Int64 = 0
    private var sentBytes: Int64 = 0
    /// The connection's (command, status) counters.
    private var counters: [UInt16: Counter] = [:]

    init(metrics: RequestMetrics) {
        self.metrics = metrics
    }

    func channelActive(context: ChannelHandlerContext) {
        isOpen = true
        metrics.acceptedConnections.increment()
        metrics.openConnections.increment()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if isOpen {
            isOpen = false
            metrics.openConnections.decrement()
        }
        publishBytes()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if isOpen {
            isOpen = false
            metrics.openConnections.decrement()
        }
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let header, let body):
            receivedBytes += Int64(FDFSHeader.size + body.readableBytes)
            // QUIT has no response.
            if header.command != StorageCommand.quit.rawValue && !responses.lost {
                waiting.append((header.command, NIODeadline.now().uptimeNanoseconds))
            }
        case .bodyPart(let part):
            receivedBytes += Int64(part.readableBytes)
        case .end:
            break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        publishBytes()
        context.fireChannelReadComplete()
    }

    // MARK: Responses

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .bytes(let buffer):
            sentBytes += Int64(buffer.readableBytes)
            responses.follow(buffer) { responded(status: $0) }
        case .file(_, _, let count):
            sentBytes += count
            responses.consume(count) { responded(status: $0) }
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        publishBytes()
        context.flush()
    }

    /// A whole response went out: it answers the oldest waiting request.
    private func responded(status: UInt8) {
        guard let request = waiting.popFirst() else { return }
        let key = UInt16(request.command) << 8 | UInt16(status)
        let counter: Counter
        if let c = counters[key] {
            counter = c
        } else {
            counter = metrics.counter(command: request.command, status: status)
            counters[key] = counter
        }
        let elapsed = NIODeadline.now().uptimeNanoseconds &- request.start
        metrics.finished(command: request.command, status: status, counter: counter, latencyNanoseconds: Int64(elapsed))
    }

    private func publishBytes() {
        if receivedBytes > 0 {
            metrics.receivedBytes.increment(by: receivedBytes)
            receivedBytes = 0
        }
        if sentBytes > 0 {
            metrics.sentBytes.increment(by: sentBytes)
            sentBytes = 0
        }
    }
}

extension DaemonMetrics {
    /// The metrics of a daemon of `role`, with the `command` labels of every request it
    /// answers (QUIT has no response, so no requests count under it).
    public convenience init(role: FDFSServerRole, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
                            derived: [UInt8: DerivedCounters] = [:]) {
        var names: [UInt8: String] = [:]
        for d in CommandRegistry.commands(for: role) where d.code != StorageCommand.quit.rawValue {
            names[d.code] = d.name
        }
        self.init(registry: registry, commandNames: names, derived: derived)
    }
}

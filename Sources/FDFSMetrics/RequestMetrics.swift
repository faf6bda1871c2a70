import NIOConcurrencyHelpers
public import Prometheus

/// The FastDFS port's request metrics: requests by command and status, their latency by
/// command, bytes in and out, connections. Labels are bounded: a command code the daemon does
/// not know is `unknown`, a status is one of the errno values the daemon answers with.
///
/// Recorded by the connection pipeline (`RequestMetricsHandler` in FDFSServerCore) on the
/// event loops: counters are atomics; the (command, status) counter is found in a cache each
/// connection keeps, so the registry's lock is taken once per connection and pair.
public final class RequestMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// Label value of every command code (`unknown` for codes the daemon does not answer).
    let names: [String]
    /// Latency histogram of every command code.
    let latency: [DurationHistogram]
    let derived: [DerivedCounters?]
    public let receivedBytes: Counter
    public let sentBytes: Counter
    public let openConnections: Gauge
    public let acceptedConnections: Counter
    private let counters = NIOLockedValueBox<[UInt16: Counter]>([:])

    static let requestsName = "fdfs_requests_total"
    static let requestsHelp = "FastDFS requests answered, by command and response status (0: success, else an errno)"

    /// Latency buckets from 100 µs (a small download on loopback) to 30 s (a large upload).
    public static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    init(registry: PrometheusCollectorRegistry, commandNames: [UInt8: String], derived: [UInt8: DerivedCounters]) {
        self.registry = registry
        let names = (0...255).map { commandNames[UInt8($0)] ?? "unknown" }
        self.names = names
        let latencyDescriptor = MetricNameDescriptor(metricName: "fdfs_request_duration_seconds", unitName: "",
                                                     helpText: "Time from a request's header to the end of its response, by command")
        var histograms: [String: DurationHistogram] = [:]
        self.latency = names.map { name in
            if let h = histograms[name] { return h }
            let h = registry.makeDurationHistogram(descriptor: latencyDescriptor, labels: [("command", name)], buckets: Self.latencyBuckets)
            histograms[name] = h
            return h
        }
        self.derived = (0...255).map { derived[UInt8($0)] }
        receivedBytes = registry.counter("fdfs_received_bytes_total", help: "Bytes of FastDFS packets received")
        sentBytes = registry.counter("fdfs_sent_bytes_total", help: "Bytes of FastDFS packets sent, file bodies included")
        openConnections = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "fdfs_connections_open", unitName: "",
                                                                              helpText: "FastDFS connections open now"))
        acceptedConnections = registry.counter("fdfs_connections_accepted_total", help: "FastDFS connections accepted")
        // Every command starts at zero with status 0, so the family is complete before traffic.
        for code in commandNames.keys { _ = counter(command: code, status: 0) }
    }

    /// The requests counter of one command and status (made on first use).
    public func counter(command: UInt8, status: UInt8) -> Counter {
        let key = UInt16(command) << 8 | UInt16(status)
        return counters.withLockedValue { cache in
            if let c = cache[key] { return c }
            let c = registry.counter(Self.requestsName, help: Self.requestsHelp,
                                     labels: [("command", names[Int(command)]), ("status", String(status))])
            cache[key] = c
            return c
        }
    }

    /// A request answered `latencyNanoseconds` after its header arrived.
    public func finished(command: UInt8, status: UInt8, counter: Counter, latencyNanoseconds: Int64) {
        counter.increment()
        latency[Int(command)].recordNanoseconds(latencyNanoseconds)
        if let d = derived[Int(command)] {
            (status == 0 ? d.succeeded : d.failed).increment()
        }
    }
}

/// HTTP responses by status code (`fdfs_http_responses_total{code}`), on the daemon's HTTP
/// port.
public final class HTTPResponseMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// The codes the gateway answers with, made at start.
    private let known: [Int: Counter]
    private let others = NIOLockedValueBox<[Int: Counter]>([:])
    public let sentBodyBytes: Counter

    static let name = "fdfs_http_responses_total"
    static let help = "HTTP responses sent, by status code"

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        var known: [Int: Counter] = [:]
        for code in [200, 206, 302, 304, 400, 403, 404, 405, 416, 500, 503] {
            known[code] = registry.counter(Self.name, help: Self.help, labels: [("code", String(code))])
        }
        self.known = known
        sentBodyBytes = registry.counter("fdfs_http_sent_body_bytes_total", help: "Bytes of HTTP response bodies sent (files and messages)")
    }

    /// One response sent with `code` and `bodyBytes` of body.
    public func responded(code: Int, bodyBytes: Int64) {
        sentBodyBytes.increment(by: bodyBytes)
        if let c = known[code] {
            c.increment()
            return
        }
        // Another code: made on first use. Codes are three digits, so the family stays bounded.
        let code = min(max(code, 100), 999)
        others.withLockedValue { cache in
            if let c = cache[code] { return c }
            let c = registry.counter(Self.name, help: Self.help, labels: [("code", String(code))])
            cache[code] = c
            return c
        }.increment()
    }
}

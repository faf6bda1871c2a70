import NIOConcurrencyHelpers
public import Prometheus

/// The metrics of one daemon: a Prometheus registry of its own (never the process-wide
/// default, so several daemons in one process, as in the tests, keep apart), the request
/// metrics of its FastDFS port, the HTTP responses of its HTTP port, and the families whose
/// values are read when `/metrics` is scraped.
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let requests: RequestMetrics
    public let http: HTTPResponseMetrics
    let snapshots: NIOLockedValueBox<SnapshotFamilies>

    /// `commandNames` names the FastDFS commands the daemon answers (the `command` label);
    /// `derived` counts some commands once more in families of their own (made in `registry`),
    /// by outcome.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), commandNames: [UInt8: String],
                derived: [UInt8: DerivedCounters] = [:]) {
        self.registry = registry
        self.requests = RequestMetrics(registry: registry, commandNames: commandNames, derived: derived)
        self.http = HTTPResponseMetrics(registry: registry)
        self.snapshots = NIOLockedValueBox(SnapshotFamilies(registry: registry))
    }

    /// The Prometheus text exposition (format 0.0.4) of everything, after `update` has set the
    /// families read at scrape time. Scrapes are serialised.
    public func exposition(_ update: (inout SnapshotFamilies) -> Void) -> [UInt8] {
        snapshots.withLockedValue { families in
            update(&families)
            families.removeStale()
            var out: [UInt8] = []
            out.reserveCapacity(16 * 1024)
            registry.emit(into: &out)
            return out
        }
    }

    /// The content type of `exposition`.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// Gauge families whose label sets come and go between scrapes (storages, peers, store
/// paths): each scrape sets the samples it has; a label set a scrape did not set is removed
/// from the exposition, so a deleted storage does not linger with its last value.
public struct SnapshotFamilies: Sendable {
    let registry: PrometheusCollectorRegistry
    private var live: [Key: Gauge] = [:]
    private var touched: Set<Key> = []

    struct Key: Hashable, Sendable {
        var name: String
        var labels: [String]
    }

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Sets one sample of a gauge family (created with its help text on first use).
    public mutating func set(_ name: String, help: String, labels: [(String, String)] = [], _ value: Double) {
        let key = Key(name: name, labels: labels.flatMap { [$0.0, $0.1] })
        touched.insert(key)
        if let gauge = live[key] {
            gauge.set(value)
            return
        }
        let descriptor = MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        let gauge = labels.isEmpty ? registry.makeGauge(descriptor: descriptor) : registry.makeGauge(descriptor: descriptor, labels: labels)
        gauge.set(value)
        live[key] = gauge
    }

    public mutating func set(_ name: String, help: String, labels: [(String, String)] = [], _ value: Int64) {
        set(name, help: help, labels: labels, Double(value))
    }

    mutating func removeStale() {
        for (key, gauge) in live where !touched.contains(key) {
            registry.unregisterGauge(gauge)
            live[key] = nil
        }
        touched.removeAll(keepingCapacity: true)
    }
}

/// Counters of one command by outcome, beside the per-command request counters (the
/// tracker's routing answers and refusals, its heartbeats).
public struct DerivedCounters: Sendable {
    public let succeeded: Counter
    public let failed: Counter

    public init(succeeded: Counter, failed: Counter) {
        self.succeeded = succeeded
        self.failed = failed
    }
}

extension PrometheusCollectorRegistry {
    /// A counter with its help text.
    public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        let descriptor = MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        return labels.isEmpty ? makeCounter(descriptor: descriptor) : makeCounter(descriptor: descriptor, labels: labels)
    }
}

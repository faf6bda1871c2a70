import Foundation

/// A `/metrics` page as the official Prometheus Python client parses it
/// (`prometheus_client.parser`, Debian's python3-prometheus-client, installed by tools/test):
/// a parser we did not write decides whether the exposition is valid.
public struct PrometheusText: Sendable {
    public struct Sample: Sendable, Decodable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public struct Family: Sendable, Decodable {
        public var name: String
        public var type: String
        public var help: String
        public var samples: [Sample]
    }

    /// By family name (the parser's: a counter's family name has no `_total`).
    public var families: [String: Family]

    /// The Python interpreter that has the parser (the system one, not a pyenv shim).
    public static let python = "/usr/bin/python3"

    static let script = """
        import sys, json
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for f in text_string_to_metric_families(sys.stdin.read()):
            out.append({"name": f.name, "type": f.type, "help": f.documentation,
                        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
        print(json.dumps(out))
        """

    /// Parses `exposition`; throws with the parser's message when it is not valid.
    public static func parse(_ exposition: [UInt8]) async throws -> PrometheusText {
        try await onOwnThread { try parseBlocking(exposition) }
    }

    static func parseBlocking(_ exposition: [UInt8]) throws -> PrometheusText {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // The page is small (tens of KiB): written whole, then the answer read whole.
        let writer = Thread {
            input.fileHandleForWriting.write(Data(exposition))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let json = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ParseError(description: "the Prometheus parser refused the page: " + String(decoding: message, as: UTF8.self))
        }
        let list = try JSONDecoder().decode([Family].self, from: json)
        return PrometheusText(families: Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }))
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Every sample named `name` (in any family) whose labels include `labels`.
    public func samples(_ name: String, _ labels: [String: String] = [:]) -> [Sample] {
        families.values.flatMap(\.samples).filter { s in
            s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value }
        }
    }

    /// The one sample named `name` with exactly these labels (nil when there is none).
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.values.lazy.flatMap(\.samples).first { $0.name == name && $0.labels == labels }?.value
    }

    /// The sum of the samples named `name` whose labels include `labels`.
    public func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples(name, labels).reduce(0) { $0 + $1.value }
    }
}

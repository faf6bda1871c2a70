public import FDFSProtocol

/// What one listening server needs: where to listen, how many connections it admits, from
/// whom, how long it waits on a peer, and how it frames requests.
public struct ServerSettings: Sendable {
    /// The address to listen on; `0.0.0.0` for all IPv4 interfaces.
    public var host: String
    /// The port to listen on; 0 picks a free port (tests), learnt back from
    /// `FDFSServer.waitUntilListening()`.
    public var port: Int
    /// `max_connections`: connections open at once; further ones are closed right after
    /// accept.
    public var maxConnections: Int
    /// `network_timeout`: how long a connection may wait on its peer in the middle of a packet
    /// (or before its first one), and how long a blocked response may stay unsent.
    public var networkTimeout: Duration
    /// `allow_hosts`.
    public var allowedHosts: AllowedHosts
    /// How requests are framed and bounded: `.server(.tracker, limits:)` or `.server(.storage, limits:)`.
    public var framingPolicy: FDFSFramingPolicy

    public init(host: String = "0.0.0.0", port: Int, maxConnections: Int = 256, networkTimeout: Duration = .seconds(30),
                allowedHosts: AllowedHosts = .everyone, framingPolicy: FDFSFramingPolicy) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.networkTimeout = networkTimeout
        self.allowedHosts = allowedHosts
        self.framingPolicy = framingPolicy
    }

    /// Checks the limits the server relies on; `FDFSServer.run()` calls it before binding.
    public func validate() throws(FDFSServerError) {
        guard (0...65535).contains(port) else {
            throw FDFSServerError(.invalidSetting, "port \(port) is not 0...65535")
        }
        guard maxConnections >= 1 else {
            throw FDFSServerError(.invalidSetting, "max_connections must be at least 1, got \(maxConnections)")
        }
        guard networkTimeout > .zero, networkTimeout <= Self.maxNetworkTimeout else {
            throw FDFSServerError(.invalidSetting, "network timeout must be positive and at most \(Self.maxNetworkTimeout), got \(networkTimeout)")
        }
    }

    /// The C servers accept at most one hour (`network_timeout` is 1...3600 s in the config).
    public static let maxNetworkTimeout = Duration.seconds(3600)

    /// Settings from the listening keys of a daemon's configuration, named as in
    /// `FDFSConfig.ServiceSettings` (this module does not depend on `FDFSConfig`, so the daemon
    /// passes the fields: `ServerSettings(bindAddresses: s.bindAddresses, port: s.port, ...)`).
    ///
    /// - Throws: `FDFSServerError` for more than one bind address, an `allow_hosts` value that
    ///   cannot be used, or limits out of range.
    public init(bindAddresses: [String], port: Int, maxConnections: Int, networkTimeoutSeconds: Int, allowHosts: [String],
                role: FDFSServerRole, limits: FDFSLimits = .default) throws(FDFSServerError) {
        let hosts = bindAddresses.map { $0.trimmingASCIIWhitespace() }.filter { !$0.isEmpty }
        guard hosts.count <= 1 else {
            throw FDFSServerError(.invalidBindAddress, "bind_addr lists \(hosts.count) addresses (\(hosts.joined(separator: ", "))); a server listens on one")
        }
        self.init(host: hosts.first ?? "0.0.0.0", port: port, maxConnections: maxConnections,
                  networkTimeout: .seconds(networkTimeoutSeconds), allowedHosts: try AllowedHosts(allowHosts),
                  framingPolicy: .server(role, limits: limits))
        try validate()
    }
}

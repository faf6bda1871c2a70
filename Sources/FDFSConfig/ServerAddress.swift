import FDFSModel

/// One `host[,host2][:port]` entry such as a `tracker_server` line (IPv6 as `[a,b]:port`).
///
/// Hosts are kept as written: IP literals or host names. Host names are not resolved here (the
/// daemons resolve them when they connect). Loopback addresses are accepted, unlike the C
/// storage server, because tests and local clusters run on 127.x.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public static let maxHostsPerServer = 2

    /// One or two hosts (inner and outer address of a multi-homed server), IPv6 without brackets.
    public var hosts: [String]
    public var port: Int

    public init(hosts: [String], port: Int) {
        precondition((1...Self.maxHostsPerServer).contains(hosts.count), "a server has one or two hosts")
        self.hosts = hosts
        self.port = port
    }

    public init(host: String, port: Int) { self.init(hosts: [host], port: port) }

    /// `host:port`, `a,b:port`, or `[a,b]:port` when a host is an IPv6 address.
    public var description: String {
        let list = hosts.joined(separator: ",")
        return hosts.contains(where: { $0.contains(":") }) ? "[\(list)]:\(port)" : "\(list):\(port)"
    }

    /// Parses `host[,host2][:port]` or `[v6a[,v6b]][:port]`.
    public static func parse(_ text: String, defaultPort: Int) throws(ConfigValueError) -> ServerAddress {
        let hostPart: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ConfigValueError("is not a server address (missing ']' after an IPv6 address list)")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw ConfigValueError("is not a server address (expected ':port' after ']')")
                }
                portText = rest.dropFirst()
            }
        } else {
            let colons = text.filter { $0 == ":" }.count
            guard colons <= 1 else {
                throw ConfigValueError("is not a server address (write IPv6 addresses in brackets, e.g. [::1]:22122)")
            }
            if let colon = text.lastIndex(of: ":") {
                hostPart = text[..<colon]
                portText = text[text.index(after: colon)...]
            } else {
                hostPart = text[...]
            }
        }

        var port = defaultPort
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw ConfigValueError("is not a server address (port '\(portText)' is not a number in 1...65535)")
            }
            port = value
        }

        let hosts = hostPart.split(separator: ",", omittingEmptySubsequences: false).map { String(trimASCIIWhitespace($0)) }
        guard hosts.count <= maxHostsPerServer else {
            throw ConfigValueError("is not a server address (at most \(maxHostsPerServer) comma-separated hosts)")
        }
        let bracketed = text.hasPrefix("[")
        for host in hosts {
            guard !host.isEmpty else { throw ConfigValueError("is not a server address (empty host)") }
            if bracketed {
                guard IPAddressLiteral(host) != nil else {
                    throw ConfigValueError("is not a server address ('\(host)' in brackets is not an IP address)")
                }
            } else {
                let looksNumeric = host.utf8.allSatisfy { isDigit($0) || $0 == UInt8(ascii: ".") }
                guard host.utf8.allSatisfy(isHostNameByte), !looksNumeric || IPv4Address(host) != nil else {
                    throw ConfigValueError("is not a server address ('\(host)' is neither an IPv4 address nor a host name)")
                }
            }
        }
        if hosts.count == 2, let a = IPAddressLiteral(hosts[0]), let b = IPAddressLiteral(hosts[1]),
           a.addressClass == b.addressClass {
            throw ConfigValueError("is not a valid server address (two addresses must be one inner and one outer address, or two different kinds of inner address)")
        }
        return ServerAddress(hosts: hosts, port: port)
    }

    /// The order FastDFS keeps server lists in (cluster spec §1.2, §4.5): duplicates (same first
    /// host and port) removed, sorted by the first host's text (`strcmp`) then port.
    public static func normalizedList(_ list: [ServerAddress]) -> [ServerAddress] {
        var seen = Set<Key>()
        let unique = list.filter { seen.insert(Key(host: $0.hosts[0], port: $0.port)).inserted }
        return unique.sorted { lhs, rhs in
            let order = ASCII.compare(lhs.hosts[0], rhs.hosts[0])
            return order != 0 ? order < 0 : lhs.port < rhs.port
        }
    }

    private struct Key: Hashable {
        var host: String
        var port: Int
    }
}

/// `[A-Za-z0-9._-]`: what may appear in an IPv4 literal or a DNS host name.
private func isHostNameByte(_ b: UInt8) -> Bool {
    isDigit(b) || (0x61...0x7A).contains(b | 0x20) || b == UInt8(ascii: ".") || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
}

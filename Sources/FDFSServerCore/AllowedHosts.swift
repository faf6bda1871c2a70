public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The FastDFS `allow_hosts` access list (cluster spec §8.1): which peers may connect.
///
/// Each configured value is one of
/// - `*`: everyone (as is an empty list);
/// - an IPv4 or IPv6 address: `10.0.0.7`, `fe80::1`;
/// - a CIDR block: `10.0.0.0/8`, `fd00::/8`;
/// - a range in brackets, expanded to addresses: `10.0.1.[1-15,20]`; a bound written with a
///   leading zero keeps its width, as libfastcommon does (`[01-08]` gives `01` … `08`).
///
/// Host names (`host[01-08].domain` included) are refused with an error rather than
/// ignored: resolving them is not supported yet, and dropping the entry would lock out the
/// clients it was meant to admit. An IPv4 peer seen through an IPv4-mapped IPv6 address
/// (`::ffff:10.0.0.7`, on a dual-stack listener) is matched as the IPv4 address.
public struct AllowedHosts: Hashable, Sendable, CustomStringConvertible {
    /// A list that admits everyone.
    public static let everyone = AllowedHosts(allowsEveryone: true, addresses: [], networks: [])
    /// Loopback only: 127.0.0.0/8 and ::1 (the default of `admin_hosts`).
    public static let loopback = try! AllowedHosts(["127.0.0.0/8", "::1"])

    /// The most addresses one bracket range may expand to; `[0-4294967295]` must not
    /// allocate gigabytes. A /16 worth is far more than any hand-written range needs.
    public static let maxRangeAddresses = 65_536

    /// True for an empty list or one that contains `*`.
    public let allowsEveryone: Bool
    /// Single addresses (4 or 16 bytes, network order), from literals and expanded ranges.
    let addresses: Set<[UInt8]>
    /// CIDR blocks.
    let networks: [Network]

    struct Network: Hashable, Sendable {
        /// The block's address with the host bits cleared.
        let prefix: [UInt8]
        let prefixBits: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == prefix.count else { return false }
            return Network.masked(address, prefixBits: prefixBits) == prefix
        }

        static func masked(_ address: [UInt8], prefixBits: Int) -> [UInt8] {
            var out = address
            for i in out.indices {
                let bitsInByte = max(0, min(8, prefixBits - i * 8))
                let mask: UInt8 = bitsInByte == 0 ? 0 : ~UInt8(0) << UInt8(8 - bitsInByte)
                out[i] &= mask
            }
            return out
        }
    }

    init(allowsEveryone: Bool, addresses: Set<[UInt8]>, networks: [Network]) {
        self.allowsEveryone = allowsEveryone
        self.addresses = addresses
        self.networks = networks
    }

    /// Parses the `allow_hosts` values, one entry per value (the key is repeated in the file).
    /// Blank values are skipped; an empty list admits everyone.
    public init(_ values: [String], key: String = "allow_hosts") throws(FDFSServerError) {
        var everyone = false
        var addresses: Set<[UInt8]> = []
        var networks: [Network] = []
        var sawEntry = false
        for raw in values {
            let value = raw.trimmingASCIIWhitespace()
            if value.isEmpty { continue }
            sawEntry = true
            if value == "*" {
                everyone = true
            } else if value.contains("/") {
                networks.append(try Self.parseCIDR(value, key: key))
            } else if value.contains("[") || value.contains("]") {
                addresses.formUnion(try Self.expandRange(value, key: key))
            } else {
                addresses.insert(try Self.parseAddress(value, entry: value, key: key))
            }
        }
        self.init(allowsEveryone: everyone || !sawEntry, addresses: addresses, networks: networks)
    }

    /// Whether a peer at `address` may connect. Unix-domain peers are admitted only when
    /// everyone is.
    public func allows(_ address: SocketAddress) -> Bool {
        if allowsEveryone { return true }
        guard let bytes = address.ipAddressBytes else { return false }
        let key = Self.unmappingIPv4(bytes)
        return addresses.contains(key) || networks.contains { $0.contains(key) }
    }

    public var description: String {
        allowsEveryone ? "everyone" : "\(addresses.count) addresses, \(networks.count) networks"
    }

    // MARK: Parsing

    static func parseCIDR(_ value: String, key: String) throws(FDFSServerError) -> Network {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw FDFSServerError(.invalidAllowHosts, "\(key) \"\(value)\": a CIDR block is written address/bits")
        }
        let address = try parseAddress(String(parts[0]), entry: value, key: key)
        let maxBits = address.count * 8
        guard let bits = Int(parts[1]), parts[1].allSatisfy(\.isASCIIDigit), (0...maxBits).contains(bits) else {
            throw FDFSServerError(.invalidAllowHosts, "\(key) \"\(value)\": prefix length must be 0...\(maxBits)")
        }
        return Network(prefix: Network.masked(address, prefixBits: bits), prefixBits: bits)
    }

    /// Expands `prefix[items]suffix`, items being `n` or `a-b` separated by commas.
    static func expandRange(_ value: String, key: String) throws(FDFSServerError) -> Set<[UInt8]> {
        guard let open = value.firstIndex(of: "["), let close = value.firstIndex(of: "]"), open < close,
              value.filter({ $0 == "[" || $0 == "]" }).count == 2 else {
            throw FDFSServerError(.invalidAllowHosts, "\(key) \"\(value)\": a range is one [...] group, e.g. 10.0.1.[1-15,20]")
        }
        let prefix = value[..<open]
        let suffix = value[value.index(after: close)...]
        var result: Set<[UInt8]> = []
        var expanded = 0
        for item in value[value.index(after: open)..<close].split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.trimmingASCIIWhitespace().split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }),
                  let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]), low <= high else {
                throw FDFSServerError(.invalidAllowHosts, "\(key) \"\(value)\": \"\(item)\" is not a number or a range low-high")
            }
            let width = bounds[0].count > 1 && bounds[0].first == "0" ? bounds[0].count : 0
            expanded += high - low + 1
            guard expanded <= maxRangeAddresses else {
                throw FDFSServerError(.invalidAllowHosts, "\(key) \"\(value)\": expands to more than \(maxRangeAddresses) addresses")
            }
            for n in low...high {
                var digits = String(n)
                if digits.count < width { digits = String(repeating: "0", count: width - digits.count) + digits }
                result.insert(try parseAddress(prefix + digits + suffix, entry: value, key: key))
            }
        }
        return result
    }

    /// An IPv4 or IPv6 literal as bytes; anything else is taken for a host name.
    static func parseAddress(_ text: String, entry: String, key: String) throws(FDFSServerError) -> [UInt8] {
        if let address = try? SocketAddress(ipAddress: text, port: 0), let bytes = address.ipAddressBytes {
            return unmappingIPv4(bytes)
        }
        // Digits and dots, or a colon, was meant as an address; other letters make a name.
        let looksNumeric = text.allSatisfy { $0.isASCIIDigit || $0 == "." } || text.contains(":")
        if text.isEmpty || looksNumeric || text.contains(where: { !($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) {
            throw FDFSServerError(.invalidAllowHosts, "\(key) \"\(entry)\": \"\(text)\" is not an IP address")
        }
        throw FDFSServerError(.hostNameNotSupported,
                              "\(key) \"\(entry)\": host names are not supported, use IP addresses, CIDR blocks or IP ranges")
    }

    /// `::ffff:a.b.c.d` as the 4 IPv4 bytes; other addresses unchanged.
    static func unmappingIPv4(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return bytes }
        return Array(bytes[12..<16])
    }
}

extension SocketAddress {
    /// The address bytes in network order: 4 for IPv4, 16 for IPv6, nil for Unix sockets.
    var ipAddressBytes: [UInt8]? {
        switch self {
        case .v4(let v4): withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6): withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket: nil
        }
    }

    /// `10.0.0.7:23000` or `[::1]:23000`, for logs (the default description is verbose).
    var logDescription: String {
        switch self {
        case .v4: "\(ipAddress ?? "?"):\(port ?? 0)"
        case .v6: "[\(ipAddress ?? "?")]:\(port ?? 0)"
        case .unixDomainSocket: description
        }
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

public import FDFSModel

/// An IPv4 or IPv6 address written as a literal (no host names, no brackets, no zone id).
/// The text form is canonical, as glibc's `inet_ntop` prints it, so that two spellings of the
/// same IPv6 address compare equal.
public struct IPAddressLiteral: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, network order.
    public let bytes: [UInt8]

    public init(_ address: IPv4Address) { bytes = address.bytes }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text; nil for anything else.
    public init?(_ text: String) {
        if let v4 = IPv4Address(text) {
            bytes = v4.bytes
        } else if let v6 = Self.parseIPv6(Substring(text)) {
            bytes = v6
        } else {
            return nil
        }
    }

    public var isIPv6: Bool { bytes.count == 16 }

    public var ipv4: IPv4Address? {
        bytes.count == 4 ? IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]) : nil
    }

    /// FastDFS's inner/outer classification used for dual-address servers. IPv6 addresses are
    /// always "outer", as in the C code (which classifies by IPv4 text prefixes).
    public var addressClass: IPv4Address.AddressClass { ipv4?.addressClass ?? .outer }

    public var description: String {
        if let ipv4 { return ipv4.description }
        return Self.formatIPv6(bytes)
    }

    // MARK: IPv6 text

    private static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard (2...45).contains(text.utf8.count), text.contains(":") else { return nil }
        var parts = text.split(separator: ":", omittingEmptySubsequences: false)
        // A leading or trailing "::" produces one extra empty part; a single ':' there is invalid.
        if text.hasPrefix("::") { parts.removeFirst() } else if text.hasPrefix(":") { return nil }
        if text.hasSuffix("::") { parts.removeLast() } else if text.hasSuffix(":") { return nil }
        let gaps = parts.indices.filter { parts[$0].isEmpty }
        guard gaps.count <= 1 else { return nil }

        var head: [UInt16] = [], tail: [UInt16] = []
        for (index, part) in parts.enumerated() where !part.isEmpty {
            var words: [UInt16]
            if part.contains(".") {
                // An embedded IPv4 address is only allowed as the last part.
                guard index == parts.count - 1, let v4 = IPv4Address(String(part)) else { return nil }
                words = [UInt16(v4.octets.0) << 8 | UInt16(v4.octets.1), UInt16(v4.octets.2) << 8 | UInt16(v4.octets.3)]
            } else {
                guard (1...4).contains(part.utf8.count), let word = UInt16(part, radix: 16),
                      part.utf8.allSatisfy({ isDigit($0) || (0x61...0x66).contains($0 | 0x20) }) else { return nil }
                words = [word]
            }
            if let gap = gaps.first, index > gap { tail += words } else { head += words }
        }
        let count = head.count + tail.count
        if gaps.isEmpty {
            guard count == 8 else { return nil }
        } else {
            guard count <= 7 else { return nil }
        }
        let all = head + Array(repeating: 0, count: 8 - count) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// glibc `inet_ntop` style: lower-case hex without leading zeros, the first longest run of at
    /// least two zero words written as `::`, and `::a.b.c.d` / `::ffff:a.b.c.d` for
    /// IPv4-compatible and IPv4-mapped addresses.
    private static func formatIPv6(_ bytes: [UInt8]) -> String {
        let words = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var best: (base: Int, length: Int) = (-1, 0)
        var current: (base: Int, length: Int) = (-1, 0)
        for (i, word) in words.enumerated() {
            if word == 0 {
                current = current.base < 0 ? (i, 1) : (current.base, current.length + 1)
                if current.length > best.length { best = current }
            } else {
                current = (-1, 0)
            }
        }
        if best.length < 2 { best = (-1, 0) }

        let v4Tail = "\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])"
        if best.base == 0 && best.length == 6 { return "::" + v4Tail }
        if best.base == 0 && best.length == 5 && words[5] == 0xFFFF { return "::ffff:" + v4Tail }

        var text = ""
        var i = 0
        while i < 8 {
            if i == best.base {
                text += "::"
                i += best.length
                continue
            }
            if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
            text += String(words[i], radix: 16)
            i += 1
        }
        return text
    }
}

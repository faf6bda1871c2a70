/// An IPv4 address as four octets, the form FastDFS embeds in file names.
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible {
    public var octets: (UInt8, UInt8, UInt8, UInt8)

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { octets = (a, b, c, d) }

    /// Parses dotted-quad text (`192.168.1.10`); nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var values: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let v = UInt8(part) else { return nil }
            values.append(v)
        }
        octets = (values[0], values[1], values[2], values[3])
    }

    public var bytes: [UInt8] { [octets.0, octets.1, octets.2, octets.3] }
    public var description: String { "\(octets.0).\(octets.1).\(octets.2).\(octets.3)" }

    /// FastDFS's address "type" used to pick the inner or outer address of a dual-IP storage:
    /// 10/8, 172.16/12, 192.168/16, or public.
    public var addressClass: AddressClass {
        switch (octets.0, octets.1) {
        case (10, _): .private10
        case (172, 16...31): .private172
        case (192, 168): .private192
        default: .outer
        }
    }

    public enum AddressClass: Sendable, Hashable { case private10, private172, private192, outer }

    public static func == (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}

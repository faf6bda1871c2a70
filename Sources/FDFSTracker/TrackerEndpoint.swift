/// A tracker as storages list it in JOIN: one or two addresses and a port
/// (`host[,host2]:port`, IPv6 as `[a,b]:port`, default port 22122; cluster spec §1.3).
public struct TrackerEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var ipAddresses: [String]
    public var port: Int

    public init(ipAddresses: [String], port: Int) {
        self.ipAddresses = ipAddresses
        self.port = port
    }

    public init?(line: String) {
        var hosts: Substring, portText: Substring?
        if line.hasPrefix("[") {
            guard let close = line.firstIndex(of: "]") else { return nil }
            hosts = line[line.index(after: line.startIndex)..<close]
            let rest = line[line.index(after: close)...]
            portText = rest.isEmpty ? nil : (rest.hasPrefix(":") ? rest.dropFirst() : nil)
            if !rest.isEmpty && portText == nil { return nil }
        } else if let colon = line.lastIndex(of: ":") {
            hosts = line[..<colon]
            portText = line[line.index(after: colon)...]
        } else {
            hosts = Substring(line)
            portText = nil
        }
        let ips = hosts.split(separator: ",").map(String.init)
        guard (1...2).contains(ips.count), ips.allSatisfy({ !$0.isEmpty }) else { return nil }
        var port = 22122
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { return nil }
            port = p
        }
        self.ipAddresses = ips
        self.port = port
    }

    public var description: String {
        let hosts = ipAddresses.joined(separator: ",")
        return ipAddresses.contains(where: { $0.contains(":") }) ? "[\(hosts)]:\(port)" : "\(hosts):\(port)"
    }
}

/// FastDFS's address "classes" for choosing between a storage's inner and outer address
/// (cluster spec §1.5): 10/8, 172.16/12, 192.168/16, or anything else.
enum AddressClass: Hashable {
    case private10, private172, private192, other

    init(_ ip: String) {
        let parts = ip.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 4 else { self = .other; return }
        switch (parts[0], parts[1]) {
        case (10, _): self = .private10
        case (172, 16...31): self = .private172
        case (192, 168): self = .private192
        default: self = .other
        }
    }

    /// The address of `addresses` to give a requester at `requesterIP`: the outer (second)
    /// one when its class matches the requester's, else the first.
    static func pick(_ addresses: [String], for requesterIP: String) -> String {
        guard addresses.count > 1 else { return addresses.first ?? "" }
        return AddressClass(addresses[1]) == AddressClass(requesterIP) ? addresses[1] : addresses[0]
    }
}

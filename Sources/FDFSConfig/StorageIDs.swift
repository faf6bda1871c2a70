public import FDFSModel

/// One line of storage_ids.conf: a storage server's numeric id, group, addresses and port.
public struct StorageIDEntry: Hashable, Sendable, CustomStringConvertible {
    public var id: StorageID
    public var groupName: GroupName
    /// One or two addresses; with two, index 0 is the inner and index 1 the outer address.
    public var addresses: [IPAddressLiteral]
    public var port: Int
    public var rwMode: StorageRWMode

    public init(id: StorageID, groupName: GroupName, addresses: [IPAddressLiteral],
                port: Int = StorageIDs.defaultPort, rwMode: StorageRWMode = .both) {
        precondition((1...2).contains(addresses.count), "a storage has one or two addresses")
        self.id = id
        self.groupName = groupName
        self.addresses = addresses
        self.port = port
        self.rwMode = rwMode
    }

    public var containsIPv6: Bool { addresses.contains(where: \.isIPv6) }

    /// The address list as written in the file and in FETCH_STORAGE_IDS: comma-separated, in
    /// brackets when an address is IPv6.
    public var addressText: String {
        let list = addresses.map(\.description).joined(separator: ",")
        return containsIPv6 ? "[\(list)]" : list
    }

    /// `id group address:port[ rw=mode]` (no line feed).
    public var description: String {
        "\(id) \(groupName) \(addressText):\(port)" + (rwMode == .both ? "" : " rw=\(rwMode.keyword)")
    }
}

/// The contents of storage_ids.conf (cluster spec §8.4): one storage per line,
/// `<id> <group> <host[,host2]>[:port] [rw=<mode>]`, fields separated by spaces or TABs, `#`
/// lines and empty lines ignored.
///
/// Hosts must be IP literals: host names are not resolved (not supported yet). Entries are
/// kept sorted by id text (`strcmp`), the order FETCH_STORAGE_IDS uses.
public struct StorageIDs: Hashable, Sendable {
    public static let defaultPort = 23000

    /// Entries sorted by id text.
    public let entries: [StorageIDEntry]
    private let indexByID: [StorageID: Int]
    private let indexByAddress: [AddressKey: Int]

    private struct AddressKey: Hashable {
        var address: String
        var port: Int
    }

    /// Builds a list from entries (sorted by id). Use `parse` to get validation.
    public init(entries: [StorageIDEntry]) {
        let sorted = entries.sorted { $0.id < $1.id }
        self.entries = sorted
        var byID: [StorageID: Int] = [:]
        var byAddress: [AddressKey: Int] = [:]
        for (index, entry) in sorted.enumerated() {
            byID[entry.id] = byID[entry.id] ?? index
            for address in entry.addresses {
                let key = AddressKey(address: address.description, port: entry.port)
                byAddress[key] = byAddress[key] ?? index
            }
        }
        indexByID = byID
        indexByAddress = byAddress
    }

    public static func == (lhs: StorageIDs, rhs: StorageIDs) -> Bool { lhs.entries == rhs.entries }
    public func hash(into hasher: inout Hasher) { hasher.combine(entries) }

    // MARK: Lookups

    public func entry(id: StorageID) -> StorageIDEntry? {
        indexByID[id].map { entries[$0] }
    }

    /// The storage listening on `ipAddress:port` (either of its addresses).
    public func entry(ipAddress: String, port: Int) -> StorageIDEntry? {
        let text = IPAddressLiteral(ipAddress)?.description ?? ipAddress
        return indexByAddress[AddressKey(address: text, port: port)].map { entries[$0] }
    }

    /// The storage of `groupName` listening on `ipAddress:port`.
    public func entry(groupName: GroupName, ipAddress: String, port: Int) -> StorageIDEntry? {
        guard let found = entry(ipAddress: ipAddress, port: port), found.groupName == groupName else { return nil }
        return found
    }

    /// True when any entry has an IPv6 address (decides `response_ip_addr_size = auto`).
    public var containsIPv6: Bool { entries.contains(where: \.containsIPv6) }

    // MARK: Format

    /// The FETCH_STORAGE_IDS text (protocol spec §4.13): one `id SP group SP address:port
    /// [SP rw=mode] LF` line per entry, in id order. `parse(text: formatted())` gives back an
    /// equal value.
    public func formatted() -> String {
        entries.map { $0.description + "\n" }.joined()
    }

    // MARK: Parse

    public static func load(path: String, limits: ConfigLimits = .default) throws(ConfigError) -> StorageIDs {
        let text = try ConfigFile.readText(path, location: ConfigLocation(path: path), maxBytes: limits.maxFileBytes)
        return try parse(text: text, path: path, limits: limits)
    }

    /// Parses storage_ids.conf text (also the concatenated FETCH_STORAGE_IDS lines).
    public static func parse(text: String, path: String, limits: ConfigLimits = .default) throws(ConfigError) -> StorageIDs {
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.count <= limits.maxLinesPerFile else {
            throw .limitExceeded(ConfigLocation(path: path), what: "lines in one file", limit: limits.maxLinesPerFile)
        }
        var entries: [StorageIDEntry] = []
        var idLines: [StorageID: ConfigLocation] = [:]
        var addressLines: [AddressKey: ConfigLocation] = [:]
        for (index, raw) in lines.enumerated() {
            let line = trimASCIIWhitespace(Substring(raw))
            if line.isEmpty || line.hasPrefix("#") { continue }
            let location = ConfigLocation(path: path, line: index + 1)
            guard entries.count < limits.maxItems else {
                throw .limitExceeded(location, what: "storage ids", limit: limits.maxItems)
            }
            let entry = try parseLine(line, location: location)

            if let first = idLines[entry.id] {
                throw .inconsistentValue(location, key: "id", reason: "duplicate storage id \(entry.id) (first defined at \(first))")
            }
            idLines[entry.id] = location
            for address in entry.addresses {
                let key = AddressKey(address: address.description, port: entry.port)
                if let first = addressLines[key] {
                    throw .inconsistentValue(location, key: "host",
                                             reason: "duplicate address \(address):\(entry.port) (first defined at \(first))")
                }
                addressLines[key] = location
            }
            entries.append(entry)
        }
        return StorageIDs(entries: entries)
    }

    private static func parseLine(_ line: Substring, location: ConfigLocation) throws(ConfigError) -> StorageIDEntry {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count >= 3 else {
            throw .invalidValue(location, key: "line", value: String(line),
                                reason: "is not a storage id line (expected '<id> <group> <host>[:port] [rw=<mode>]')")
        }
        let id = try parseID(fields[0], location: location)
        let group: GroupName
        do {
            group = try GroupName(fields[1])
        } catch {
            throw .invalidValue(location, key: "group", value: fields[1], reason: "is not a valid group name (\(error))")
        }
        let (addresses, port) = try parseHostPart(fields[2], location: location)

        var rwMode = StorageRWMode.both
        for option in fields.dropFirst(3) {
            guard option.lowercased().hasPrefix("rw=") else {
                throw .invalidValue(location, key: "option", value: option, reason: "is not a known option (expected rw=<mode>)")
            }
            let keyword = String(option.dropFirst(3))
            guard let mode = StorageRWMode(keyword: keyword) else {
                throw .invalidValue(location, key: "rw", value: keyword,
                                    reason: "is not a read/write mode (expected both, all, read, readonly, write, writeonly or none)")
            }
            rwMode = mode
        }
        return StorageIDEntry(id: id, groupName: group, addresses: addresses, port: port, rwMode: rwMode)
    }

    private static func parseID(_ text: String, location: ConfigLocation) throws(ConfigError) -> StorageID {
        let reason = "is not a valid storage id (decimal 1...16777215 without leading zeros)"
        guard let first = text.utf8.first, first != UInt8(ascii: "0"), text.utf8.count <= 8,
              text.utf8.allSatisfy(isDigit), let value = UInt32(text) else {
            throw .invalidValue(location, key: "id", value: text, reason: reason)
        }
        do {
            return try StorageID(numeric: value)
        } catch {
            throw .invalidValue(location, key: "id", value: text, reason: reason)
        }
    }

    /// `a[,b][:port]` or `[a[,b]][:port]`; returns the addresses ordered inner first.
    private static func parseHostPart(_ text: String, location: ConfigLocation) throws(ConfigError) -> ([IPAddressLiteral], Int) {
        func invalid(_ reason: String) -> ConfigError {
            .invalidValue(location, key: "host", value: text, reason: reason)
        }
        var hostList: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("has '[' without ']'") }
            hostList = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw invalid("has text after ']' that is not ':port'") }
                portText = rest.dropFirst()
            }
        } else {
            guard text.filter({ $0 == ":" }).count <= 1 else {
                throw invalid("is ambiguous; write IPv6 addresses in brackets, e.g. [fd00::1]:23000")
            }
            if let colon = text.firstIndex(of: ":") {
                hostList = text[..<colon]
                portText = text[text.index(after: colon)...]
            } else {
                hostList = text[...]
            }
        }

        var port = defaultPort
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw invalid("has port '\(portText)', expected a number in 1...65535")
            }
            port = value
        }

        let hosts = hostList.split(separator: ",", omittingEmptySubsequences: false)
        guard (1...2).contains(hosts.count) else { throw invalid("has more than two addresses") }
        var addresses: [IPAddressLiteral] = []
        for host in hosts {
            guard !host.isEmpty else { throw invalid("has an empty address") }
            guard let address = IPAddressLiteral(String(host)) else {
                throw invalid("contains '\(host)', which is not an IP address (host names are not supported yet in storage_ids.conf)")
            }
            addresses.append(address)
        }
        if addresses.count == 2 {
            guard addresses[0].addressClass != addresses[1].addressClass else {
                throw invalid("has two addresses of the same kind; one must be an inner and one an outer address, or two different kinds of inner address")
            }
            if addresses[0].addressClass == .outer { addresses.swapAt(0, 1) }
        }
        return (addresses, port)
    }
}

public import NIOCore
public import FDFSModel

/// Which generation of the group-stat / storage-stat records to read or write
/// (protocol spec §10.1). `current` is the 6.13.1+ layout; `legacy` the one of FastDFS
/// 6.12 and older (HTTP port and domain-name fields, no rw mode, no reserved MB).
public enum StatRecordLayout: Hashable, Sendable {
    case current
    case legacy
}

/// The 67-byte "storage brief" (cluster spec §0.2): used in GET_STORAGE_STATUS replies, change
/// notifications, REPORT_STATUS and REPLICA_CHG. Its IP field is always 46 bytes.
public struct StorageBrief: Hashable, Sendable {
    public static let size = 67
    public var status: StorageStatus
    public var port: Int32
    /// Storage id text (a numeric id, or the IP when ids are not used); may be empty in the
    /// leader entry or an all-zero "no trunk server" brief.
    public var id: String
    public var ipAddress: String

    public init(status: StorageStatus, port: Int32, id: String, ipAddress: String) {
        self.status = status
        self.port = port
        self.id = id
        self.ipAddress = ipAddress
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(status.wireByte)
        buffer.writeInt32(port)
        buffer.writeFixedText(id, width: FieldWidth.storageID)
        buffer.writeFixedText(ipAddress, width: FieldWidth.ipAddress)
    }

    public static func decode(from reader: inout FieldReader) throws(FDFSProtocolError) -> StorageBrief {
        StorageBrief(
            status: StorageStatus(wireByte: try reader.uint8("brief status")),
            port: try reader.int32("brief port"),
            id: try reader.text(width: FieldWidth.storageID, "brief id"),
            ipAddress: try reader.text(width: FieldWidth.ipAddress, "brief ip")
        )
    }
}

/// One group in LIST_ONE_GROUP / LIST_ALL_GROUPS replies (protocol spec §4.3): 113 bytes in the
/// current layout, 105 in the legacy one.
public struct GroupStat: Hashable, Sendable {
    public static func size(_ layout: StatRecordLayout) -> Int { layout == .current ? 113 : 105 }

    public var groupName: String
    public var totalMB: Int64 = 0
    public var freeMB: Int64 = 0
    /// Since 6.13.1 (0 in the legacy layout).
    public var reservedMB: Int64 = 0
    public var trunkFreeMB: Int64 = 0
    public var storageCount: Int64 = 0
    public var storagePort: Int64 = 0
    /// Legacy layout only.
    public var storageHTTPPort: Int64 = 0
    /// In the legacy layout both counts come from its single `active_count`.
    public var readableServerCount: Int64 = 0
    public var writableServerCount: Int64 = 0
    public var currentWriteServer: Int64 = 0
    public var storePathCount: Int64 = 0
    public var subdirCountPerPath: Int64 = 0
    /// -1 when trunk files are disabled.
    public var currentTrunkFileID: Int64 = -1

    public init(groupName: String) { self.groupName = groupName }

    /// free minus reserved, never negative: what monitor tools call "available".
    public var availableMB: Int64 { max(0, freeMB - reservedMB) }

    public func encode(into buffer: inout ByteBuffer, layout: StatRecordLayout = .current) {
        buffer.writeFixedText(groupName, width: FieldWidth.groupNameInRecord)
        switch layout {
        case .current:
            for v in [totalMB, freeMB, reservedMB, trunkFreeMB, storageCount, storagePort, readableServerCount,
                      writableServerCount, currentWriteServer, storePathCount, subdirCountPerPath, currentTrunkFileID] {
                buffer.writeInt64(v)
            }
        case .legacy:
            for v in [totalMB, freeMB, trunkFreeMB, storageCount, storagePort, storageHTTPPort, readableServerCount,
                      currentWriteServer, storePathCount, subdirCountPerPath, currentTrunkFileID] {
                buffer.writeInt64(v)
            }
        }
    }

    public static func decode(from r: inout FieldReader, layout: StatRecordLayout = .current) throws(FDFSProtocolError) -> GroupStat {
        var g = GroupStat(groupName: try r.text(width: FieldWidth.groupNameInRecord, "group name"))
        g.totalMB = try r.int64("total_mb")
        g.freeMB = try r.int64("free_mb")
        if layout == .current { g.reservedMB = try r.int64("reserved_mb") }
        g.trunkFreeMB = try r.int64("trunk_free_mb")
        g.storageCount = try r.int64("storage_count")
        g.storagePort = try r.int64("storage_port")
        if layout == .legacy { g.storageHTTPPort = try r.int64("storage_http_port") }
        g.readableServerCount = try r.int64("readable_server_count")
        g.writableServerCount = layout == .current ? try r.int64("writable_server_count") : g.readableServerCount
        g.currentWriteServer = try r.int64("current_write_server")
        g.storePathCount = try r.int64("store_path_count")
        g.subdirCountPerPath = try r.int64("subdir_count_per_path")
        g.currentTrunkFileID = try r.int64("current_trunk_file_id")
        return g
    }
}

/// One storage in a LIST_STORAGE reply (protocol spec §4.5): 471 + W bytes in the current
/// layout (487 or 517), 598 + W in the legacy one (614 or 644).
public struct StorageStat: Hashable, Sendable {
    public static func size(_ layout: StatRecordLayout, _ ip: IPAddressSize) -> Int {
        (layout == .current ? 471 : 598) + ip.rawValue
    }

    public var status: StorageStatus
    /// Since 6.13 (written as `both` readers in the legacy layout are not told).
    public var rwMode: StorageRWMode = .both
    public var id: String
    public var ipAddress: String
    /// Legacy layout only (128 bytes).
    public var domainName: String = ""
    /// The id of the storage it synced its old data from, or "".
    public var sourceID: String = ""
    public var version: String = ""
    public var joinTime: Int64 = 0
    public var upTime: Int64 = 0
    public var totalMB: Int64 = 0
    public var freeMB: Int64 = 0
    /// Since 6.13.1.
    public var reservedMB: Int64 = 0
    public var uploadPriority: Int64 = 0
    public var storePathCount: Int64 = 0
    public var subdirCountPerPath: Int64 = 0
    public var currentWritePath: Int64 = 0
    public var storagePort: Int64 = 0
    /// Legacy layout only.
    public var storageHTTPPort: Int64 = 0
    public var statistics = StorageStatistics()
    public var isTrunkServer: Bool = false

    public init(status: StorageStatus, id: String, ipAddress: String) {
        self.status = status
        self.id = id
        self.ipAddress = ipAddress
    }

    public func encode(into b: inout ByteBuffer, layout: StatRecordLayout = .current, ipAddressSize: IPAddressSize) {
        b.writeInteger(status.wireByte)
        if layout == .current { b.writeInteger(rwMode.rawValue) }
        b.writeFixedText(id, width: FieldWidth.storageID)
        b.writeFixedText(ipAddress, width: ipAddressSize.rawValue)
        if layout == .legacy { b.writeFixedText(domainName, width: 128) }
        b.writeFixedText(sourceID, width: FieldWidth.storageID)
        b.writeFixedText(version, width: FieldWidth.version)
        b.writeInt64(joinTime)
        b.writeInt64(upTime)
        b.writeInt64(totalMB)
        b.writeInt64(freeMB)
        if layout == .current { b.writeInt64(reservedMB) }
        b.writeInt64(uploadPriority)
        b.writeInt64(storePathCount)
        b.writeInt64(subdirCountPerPath)
        b.writeInt64(currentWritePath)
        b.writeInt64(storagePort)
        if layout == .legacy { b.writeInt64(storageHTTPPort) }
        statistics.encode(into: &b)
        b.writeInteger(UInt8(isTrunkServer ? 1 : 0))
    }

    public static func decode(
        from r: inout FieldReader, layout: StatRecordLayout = .current, ipAddressSize: IPAddressSize
    ) throws(FDFSProtocolError) -> StorageStat {
        let status = StorageStatus(wireByte: try r.uint8("status"))
        let rw = layout == .current ? StorageRWMode(rawValue: try r.uint8("rw_mode")) : .both
        var s = StorageStat(status: status, id: try r.text(width: FieldWidth.storageID, "id"),
                            ipAddress: try r.text(width: ipAddressSize.rawValue, "ip_addr"))
        s.rwMode = rw
        if layout == .legacy { s.domainName = try r.text(width: 128, "domain_name") }
        s.sourceID = try r.text(width: FieldWidth.storageID, "src_id")
        s.version = try r.text(width: FieldWidth.version, "version")
        s.joinTime = try r.int64("join_time")
        s.upTime = try r.int64("up_time")
        s.totalMB = try r.int64("total_mb")
        s.freeMB = try r.int64("free_mb")
        if layout == .current { s.reservedMB = try r.int64("reserved_mb") }
        s.uploadPriority = try r.int64("upload_priority")
        s.storePathCount = try r.int64("store_path_count")
        s.subdirCountPerPath = try r.int64("subdir_count_per_path")
        s.currentWritePath = try r.int64("current_write_path")
        s.storagePort = try r.int64("storage_port")
        if layout == .legacy { s.storageHTTPPort = try r.int64("storage_http_port") }
        s.statistics = try StorageStatistics.decode(from: &r)
        s.isTrunkServer = try r.uint8("if_trunk_server") != 0
        return s
    }
}

/// An address as `ip:port` text (IPv6 as `[addr]:port`), used by GET_STORAGE_STATUS,
/// GET_SERVER_ID, GET_LEADER and the leader-election commands (protocol spec §2.3).
public struct IPPort: Hashable, Sendable, CustomStringConvertible {
    public var ip: String
    public var port: Int

    public init(ip: String, port: Int) {
        self.ip = ip
        self.port = port
    }

    /// Parses `a.b.c.d:port` or `[v6]:port`; nil without a valid port (1...65535).
    public init?(parsing text: String) {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.firstIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              portText.count <= 5, let port = Int(portText), (1...65535).contains(port) else { return nil }
        self.ip = String(host)
        self.port = port
    }

    public var description: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

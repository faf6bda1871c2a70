public import NIOCore
public import FDFSModel

// Client/admin -> tracker: listings, deletion, status and parameters (protocol spec §4.3-§4.20).

/// A request whose body is exactly a 16-byte group name (90, 108).
public protocol GroupOnlyRequest: FDFSRequest {
    var group: GroupName { get }
    init(group: GroupName)
}

extension GroupOnlyRequest {
    public func encode(into buffer: inout ByteBuffer) { buffer.writeGroup(group) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == FieldWidth.groupName, "body must be the 16-byte group name, got \(r.remaining) bytes")
        return Self(group: try r.group())
    }
}

/// A request with an empty body.
public protocol EmptyRequest: FDFSRequest {
    init()
}

extension EmptyRequest {
    public func encode(into buffer: inout ByteBuffer) {}
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        _ = try EmptyBody.decode(from: &r, headerStatus: headerStatus)
        return Self()
    }
}

/// SERVER_LIST_ONE_GROUP (90).
public struct ListOneGroupRequest: GroupOnlyRequest {
    public typealias Response = GroupStatList
    public static let command = TrackerCommand.listOneGroup.rawValue
    public var group: GroupName
    public init(group: GroupName) { self.group = group }
}

/// SERVER_LIST_ALL_GROUPS (91).
public struct ListAllGroupsRequest: EmptyRequest {
    public typealias Response = GroupStatList
    public static let command = TrackerCommand.listAllGroups.rawValue
    public init() {}
}

/// Reply of 90 (one record) and 91 (one per group): n group-stat records, no count.
public struct GroupStatList: FDFSBody {
    public var groups: [GroupStat]
    public var layout: StatRecordLayout

    public init(groups: [GroupStat], layout: StatRecordLayout = .current) {
        self.groups = groups
        self.layout = layout
    }

    public func encode(into b: inout ByteBuffer) {
        for g in groups { g.encode(into: &b, layout: layout) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let n = r.remaining
        let layout: StatRecordLayout
        if n % GroupStat.size(.current) == 0 {
            layout = .current
        } else if n % GroupStat.size(.legacy) == 0 {
            layout = .legacy
        } else {
            throw FDFSProtocolError(.wrongBodyLength, command: r.command, "group-stat list of \(n) bytes is not a multiple of 113 (or 105)")
        }
        var groups: [GroupStat] = []
        for _ in 0..<(n / GroupStat.size(layout)) { groups.append(try GroupStat.decode(from: &r, layout: layout)) }
        return Self(groups: groups, layout: layout)
    }
}

/// SERVER_LIST_STORAGE (92): group + optional storage id (body 16...31 bytes).
public struct ListStorageRequest: FDFSRequest {
    public typealias Response = StorageStatList
    public static let command = TrackerCommand.listStorage.rawValue
    public var group: GroupName
    public var storageID: String?

    public init(group: GroupName, storageID: String? = nil) {
        self.group = group
        self.storageID = storageID
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        if let storageID { b.writeString(storageID) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining >= 16 && r.remaining < 32, "body must be 16...31 bytes, got \(r.remaining)")
        let group = try r.group()
        let id = r.remainingText()
        return Self(group: group, storageID: id.isEmpty ? nil : id)
    }
}

/// Reply of 92: n storage-stat records (487 or 517 bytes each, legacy 614/644), no count.
public struct StorageStatList: FDFSBody {
    public var storages: [StorageStat]
    public var layout: StatRecordLayout
    public var ipAddressSize: IPAddressSize

    public init(storages: [StorageStat], layout: StatRecordLayout = .current, ipAddressSize: IPAddressSize) {
        self.storages = storages
        self.layout = layout
        self.ipAddressSize = ipAddressSize
    }

    public func encode(into b: inout ByteBuffer) {
        for s in storages { s.encode(into: &b, layout: layout, ipAddressSize: ipAddressSize) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let n = r.remaining
        // The C client tests 487 first, then 517; older layouts after that.
        let candidates: [(StatRecordLayout, IPAddressSize)] = [(.current, .ipv4), (.current, .ipv6), (.legacy, .ipv4), (.legacy, .ipv6)]
        guard let (layout, size) = candidates.first(where: { n % StorageStat.size($0.0, $0.1) == 0 }) else {
            throw FDFSProtocolError(.wrongBodyLength, command: r.command, "storage-stat list of \(n) bytes is not a multiple of 487 or 517")
        }
        var list: [StorageStat] = []
        for _ in 0..<(n / StorageStat.size(layout, size)) {
            list.append(try StorageStat.decode(from: &r, layout: layout, ipAddressSize: size))
        }
        return Self(storages: list, layout: layout, ipAddressSize: size)
    }
}

/// A request of group (16) + a storage id text of `idLength` bytes (93, 94).
public protocol GroupAndStorageIDRequest: FDFSRequest {
    var group: GroupName { get }
    var storageID: String { get }
    init(group: GroupName, storageID: String)
    static var idLength: ClosedRange<Int> { get }
}

extension GroupAndStorageIDRequest {
    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeString(storageID)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let n = r.remaining - FieldWidth.groupName
        try r.requireLength(idLength.contains(n), "storage id of \(n) bytes is outside \(idLength.lowerBound)...\(idLength.upperBound)")
        return Self(group: try r.group(), storageID: r.remainingText())
    }
}

/// SERVER_DELETE_STORAGE (93): group + storage id (1...15 bytes).
public struct DeleteStorageRequest: GroupAndStorageIDRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerCommand.deleteStorage.rawValue
    public static let idLength = 1...15
    public var group: GroupName
    public var storageID: String
    public init(group: GroupName, storageID: String) {
        self.group = group
        self.storageID = storageID
    }
}

/// SERVER_DELETE_GROUP (108).
public struct DeleteGroupRequest: GroupOnlyRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerCommand.deleteGroup.rawValue
    public var group: GroupName
    public init(group: GroupName) { self.group = group }
}

/// SERVER_SET_TRUNK_SERVER (94): group + optional storage id (0...15 bytes; empty = let the
/// tracker choose).
public struct SetTrunkServerRequest: GroupAndStorageIDRequest {
    public typealias Response = SetTrunkServerResponse
    public static let command = TrackerCommand.setTrunkServer.rawValue
    public static let idLength = 0...15
    public var group: GroupName
    public var storageID: String
    public init(group: GroupName, storageID: String = "") {
        self.group = group
        self.storageID = storageID
    }
}

/// Reply of 94: the trunk server's id followed by one NUL byte.
public struct SetTrunkServerResponse: FDFSBody {
    public var storageID: String
    public init(storageID: String) { self.storageID = storageID }
    public func encode(into b: inout ByteBuffer) {
        b.writeString(storageID)
        b.writeInteger(UInt8(0))
    }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining >= 1 && r.remaining <= 16, "set-trunk reply must be 1...16 bytes, got \(r.remaining)")
        return Self(storageID: try r.text(width: r.remaining, "trunk server id"))
    }
}

/// SERVER_GET_LEADER (95): empty; the reply is the leader's `ip:port` text.
public struct GetLeaderRequest: EmptyRequest {
    public typealias Response = IPPortBody
    public static let command = TrackerCommand.getLeader.rawValue
    public init() {}
}

/// An `ip:port` text body (no terminator): GET_LEADER reply, leader-election requests.
public struct IPPortBody: FDFSBody {
    public var address: IPPort
    public init(_ address: IPPort) { self.address = address }
    public func encode(into b: inout ByteBuffer) { b.writeString(address.description) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining <= FieldWidth.ipPortText, "ip:port text of \(r.remaining) bytes is longer than 52")
        let text = r.remainingText()
        guard let a = IPPort(parsing: text) else {
            throw FDFSProtocolError(.invalidField, command: r.command, "'\(text)' is not ip:port")
        }
        return Self(a)
    }
}

/// SERVER_TRACKER_CLUSTER_STAT (96): 3 bytes of filter.
public struct TrackerClusterStatRequest: FDFSRequest {
    public typealias Response = TrackerClusterStatResponse
    public static let command = TrackerCommand.trackerClusterStat.rawValue
    /// bit 0x01: filter on isActive; bit 0x02: filter on isLeader.
    public var filterBy: UInt8
    public var isActive: Bool
    public var isLeader: Bool

    public init(filterBy: UInt8 = 0, isActive: Bool = false, isLeader: Bool = false) {
        self.filterBy = filterBy
        self.isActive = isActive
        self.isLeader = isLeader
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(filterBy)
        b.writeInteger(UInt8(isActive ? 1 : 0))
        b.writeInteger(UInt8(isLeader ? 1 : 0))
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 3, "body must be 3 bytes, got \(r.remaining)")
        return Self(filterBy: try r.uint8("filter_by"), isActive: try r.uint8("is_active") != 0, isLeader: try r.uint8("is_leader") != 0)
    }
}

/// One tracker in a 96 reply (90 bytes).
public struct TrackerStatRecord: Hashable, Sendable {
    public static let size = 90
    public var host: String
    public var isLeader: Bool
    public var isActive: Bool
    public var connectionAllocCount: Int32
    public var connectionCurrentCount: Int32
    public var connectionMaxCount: Int32
    public var version: String
    public var upTime: Int64
    public var lastHeartbeatTime: Int64

    public init(host: String, isLeader: Bool, isActive: Bool, connectionAllocCount: Int32 = 0, connectionCurrentCount: Int32 = 0,
                connectionMaxCount: Int32 = 0, version: String, upTime: Int64, lastHeartbeatTime: Int64) {
        self.host = host
        self.isLeader = isLeader
        self.isActive = isActive
        self.connectionAllocCount = connectionAllocCount
        self.connectionCurrentCount = connectionCurrentCount
        self.connectionMaxCount = connectionMaxCount
        self.version = version
        self.upTime = upTime
        self.lastHeartbeatTime = lastHeartbeatTime
    }
}

/// Reply of 96: u8 count + count x 90 bytes.
public struct TrackerClusterStatResponse: FDFSBody {
    public var trackers: [TrackerStatRecord]
    public init(trackers: [TrackerStatRecord]) { self.trackers = trackers }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(UInt8(truncatingIfNeeded: trackers.count))
        for t in trackers {
            b.writeFixedText(t.host, width: FieldWidth.ipPortText)
            b.writeInteger(UInt8(t.isLeader ? 1 : 0))
            b.writeInteger(UInt8(t.isActive ? 1 : 0))
            b.writeInt32(t.connectionAllocCount)
            b.writeInt32(t.connectionCurrentCount)
            b.writeInt32(t.connectionMaxCount)
            b.writeFixedText(t.version, width: FieldWidth.version)
            b.writeInt64(t.upTime)
            b.writeInt64(t.lastHeartbeatTime)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let count = Int(try r.uint8("count"))
        try r.requireLength(r.remaining == count * TrackerStatRecord.size, "\(count) tracker records need \(count * 90) bytes, got \(r.remaining)")
        var list: [TrackerStatRecord] = []
        for _ in 0..<count {
            list.append(TrackerStatRecord(
                host: try r.text(width: FieldWidth.ipPortText, "host"), isLeader: try r.uint8("is_leader") != 0,
                isActive: try r.uint8("is_active") != 0, connectionAllocCount: try r.int32("alloc"),
                connectionCurrentCount: try r.int32("current"), connectionMaxCount: try r.int32("max"),
                version: try r.text(width: FieldWidth.version, "version"), upTime: try r.int64("up_time"),
                lastHeartbeatTime: try r.int64("last_heartbeat_time")))
        }
        return Self(trackers: list)
    }
}

/// SERVER_STORAGE_CLUSTER_STAT (97): 4 bytes of filter.
public struct StorageClusterStatRequest: FDFSRequest {
    public typealias Response = StorageClusterStatResponse
    public static let command = TrackerCommand.storageClusterStat.rawValue
    /// 0x01: by is_trunk_server; 0x02: by status.
    public var filterBy: UInt8
    /// `=` (0x3D) or `!` (0x21).
    public var operation: UInt8
    public var status: StorageStatus
    public var isTrunkServer: Bool

    public init(filterBy: UInt8 = 0, operation: UInt8 = 0, status: StorageStatus = .initial, isTrunkServer: Bool = false) {
        self.filterBy = filterBy
        self.operation = operation
        self.status = status
        self.isTrunkServer = isTrunkServer
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(filterBy)
        b.writeInteger(operation)
        b.writeInteger(status.wireByte)
        b.writeInteger(UInt8(isTrunkServer ? 1 : 0))
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 4, "body must be 4 bytes, got \(r.remaining)")
        return Self(filterBy: try r.uint8("filter_by"), operation: try r.uint8("op_type"),
                    status: StorageStatus(wireByte: try r.uint8("status")), isTrunkServer: try r.uint8("is_trunk") != 0)
    }
}

/// One storage in a 97 reply (106 bytes).
public struct StorageClusterStatRecord: Hashable, Sendable {
    public static let size = 106
    public var id: String
    public var host: String
    public var isTrunkServer: Bool
    public var status: StorageStatus
    public var connectionAllocCount: Int32
    public var connectionCurrentCount: Int32
    public var connectionMaxCount: Int32
    public var version: String
    public var upTime: Int64
    public var lastHeartbeatTime: Int64

    public init(id: String, host: String, isTrunkServer: Bool, status: StorageStatus, connectionAllocCount: Int32 = 0,
                connectionCurrentCount: Int32 = 0, connectionMaxCount: Int32 = 0, version: String, upTime: Int64, lastHeartbeatTime: Int64) {
        self.id = id
        self.host = host
        self.isTrunkServer = isTrunkServer
        self.status = status
        self.connectionAllocCount = connectionAllocCount
        self.connectionCurrentCount = connectionCurrentCount
        self.connectionMaxCount = connectionMaxCount
        self.version = version
        self.upTime = upTime
        self.lastHeartbeatTime = lastHeartbeatTime
    }
}

/// Reply of 97: u8 use_storage_id, u8 use_trunk_file, i32 count, then count x 106 bytes.
public struct StorageClusterStatResponse: FDFSBody {
    public var useStorageID: Bool
    public var useTrunkFile: Bool
    public var storages: [StorageClusterStatRecord]

    public init(useStorageID: Bool, useTrunkFile: Bool, storages: [StorageClusterStatRecord]) {
        self.useStorageID = useStorageID
        self.useTrunkFile = useTrunkFile
        self.storages = storages
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(UInt8(useStorageID ? 1 : 0))
        b.writeInteger(UInt8(useTrunkFile ? 1 : 0))
        b.writeInt32(Int32(storages.count))
        for s in storages {
            b.writeFixedText(s.id, width: FieldWidth.storageID)
            b.writeFixedText(s.host, width: FieldWidth.ipPortText)
            b.writeInteger(UInt8(s.isTrunkServer ? 1 : 0))
            b.writeInteger(s.status.wireByte)
            b.writeInt32(s.connectionAllocCount)
            b.writeInt32(s.connectionCurrentCount)
            b.writeInt32(s.connectionMaxCount)
            b.writeFixedText(s.version, width: FieldWidth.version)
            b.writeInt64(s.upTime)
            b.writeInt64(s.lastHeartbeatTime)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let useIDs = try r.uint8("use_storage_id") != 0
        let useTrunk = try r.uint8("use_trunk_file") != 0
        let count = Int(try r.int32("count"))
        try r.requireLength(count >= 0 && r.remaining == count * StorageClusterStatRecord.size,
                            "\(count) storage records need \(count * 106) bytes, got \(r.remaining)")
        var list: [StorageClusterStatRecord] = []
        for _ in 0..<count {
            list.append(StorageClusterStatRecord(
                id: try r.text(width: FieldWidth.storageID, "id"), host: try r.text(width: FieldWidth.ipPortText, "host"),
                isTrunkServer: try r.uint8("is_trunk_server") != 0, status: StorageStatus(wireByte: try r.uint8("status")),
                connectionAllocCount: try r.int32("alloc"), connectionCurrentCount: try r.int32("current"),
                connectionMaxCount: try r.int32("max"), version: try r.text(width: FieldWidth.version, "version"),
                upTime: try r.int64("up_time"), lastHeartbeatTime: try r.int64("last_heartbeat_time")))
        }
        return Self(useStorageID: useIDs, useTrunkFile: useTrunk, storages: list)
    }
}

/// SERVER_STORAGE_VOLUMN_STAT (98): 4 bytes of filter.
public struct StorageVolumeStatRequest: FDFSRequest {
    public typealias Response = StorageVolumeStatResponse
    public static let command = TrackerCommand.storageVolumeStat.rawValue
    /// 0x01 disk available, 0x02 trunk available, 0x04 space available.
    public var filterBy: UInt8
    public var isDiskAvailable: Bool
    public var isTrunkAvailable: Bool
    public var isSpaceAvailable: Bool

    public init(filterBy: UInt8 = 0, isDiskAvailable: Bool = false, isTrunkAvailable: Bool = false, isSpaceAvailable: Bool = false) {
        self.filterBy = filterBy
        self.isDiskAvailable = isDiskAvailable
        self.isTrunkAvailable = isTrunkAvailable
        self.isSpaceAvailable = isSpaceAvailable
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(filterBy)
        for f in [isDiskAvailable, isTrunkAvailable, isSpaceAvailable] { b.writeInteger(UInt8(f ? 1 : 0)) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 4, "body must be 4 bytes, got \(r.remaining)")
        return Self(filterBy: try r.uint8("filter_by"), isDiskAvailable: try r.uint8("disk") != 0,
                    isTrunkAvailable: try r.uint8("trunk") != 0, isSpaceAvailable: try r.uint8("space") != 0)
    }
}

/// One group in a 98 reply (59 bytes).
public struct VolumeStatRecord: Hashable, Sendable {
    public static let size = 59
    public var groupName: String
    public var totalMB: Int64
    public var freeMB: Int64
    public var reservedMB: Int64
    public var availableMB: Int64
    public var trunkFreeMB: Int64
    public var isDiskAvailable: Bool
    public var isTrunkAvailable: Bool

    public init(groupName: String, totalMB: Int64, freeMB: Int64, reservedMB: Int64, availableMB: Int64, trunkFreeMB: Int64,
                isDiskAvailable: Bool, isTrunkAvailable: Bool) {
        self.groupName = groupName
        self.totalMB = totalMB
        self.freeMB = freeMB
        self.reservedMB = reservedMB
        self.availableMB = availableMB
        self.trunkFreeMB = trunkFreeMB
        self.isDiskAvailable = isDiskAvailable
        self.isTrunkAvailable = isTrunkAvailable
    }
}

/// Reply of 98: u8 use_trunk_file, i32 count, then count x 59 bytes.
public struct StorageVolumeStatResponse: FDFSBody {
    public var useTrunkFile: Bool
    public var groups: [VolumeStatRecord]

    public init(useTrunkFile: Bool, groups: [VolumeStatRecord]) {
        self.useTrunkFile = useTrunkFile
        self.groups = groups
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(UInt8(useTrunkFile ? 1 : 0))
        b.writeInt32(Int32(groups.count))
        for g in groups {
            b.writeFixedText(g.groupName, width: FieldWidth.groupNameInRecord)
            for v in [g.totalMB, g.freeMB, g.reservedMB, g.availableMB, g.trunkFreeMB] { b.writeInt64(v) }
            b.writeInteger(UInt8(g.isDiskAvailable ? 1 : 0))
            b.writeInteger(UInt8(g.isTrunkAvailable ? 1 : 0))
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let useTrunk = try r.uint8("use_trunk_file") != 0
        let count = Int(try r.int32("count"))
        try r.requireLength(count >= 0 && r.remaining == count * VolumeStatRecord.size,
                            "\(count) volume records need \(count * 59) bytes, got \(r.remaining)")
        var list: [VolumeStatRecord] = []
        for _ in 0..<count {
            list.append(VolumeStatRecord(
                groupName: try r.text(width: FieldWidth.groupNameInRecord, "group"), totalMB: try r.int64("total_mb"),
                freeMB: try r.int64("free_mb"), reservedMB: try r.int64("reserved_mb"), availableMB: try r.int64("avail_mb"),
                trunkFreeMB: try r.int64("trunk_free_mb"), isDiskAvailable: try r.uint8("disk") != 0,
                isTrunkAvailable: try r.uint8("trunk") != 0))
        }
        return Self(useTrunkFile: useTrunk, groups: list)
    }
}

/// A request of group (16) + `ip:port` text (71 and 70; body 17...68 bytes).
public protocol GroupAndAddressRequest: FDFSRequest {
    var group: GroupName { get }
    var address: IPPort { get }
    init(group: GroupName, address: IPPort)
}

extension GroupAndAddressRequest {
    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeString(address.description)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining > 16 && r.remaining <= 16 + FieldWidth.ipPortText, "body must be 17...68 bytes, got \(r.remaining)")
        let group = try r.group()
        let text = r.remainingText()
        guard let address = IPPort(parsing: text) else {
            throw FDFSProtocolError(.invalidField, command: command, "'\(text)' is not ip:port")
        }
        return Self(group: group, address: address)
    }
}

/// STORAGE_GET_STATUS (71): the status of the storage at `ip:port`; reply a brief.
public struct GetStorageStatusRequest: GroupAndAddressRequest {
    public typealias Response = StorageBriefBody
    public static let command = TrackerCommand.getStorageStatus.rawValue
    public var group: GroupName
    public var address: IPPort
    public init(group: GroupName, address: IPPort) {
        self.group = group
        self.address = address
    }
}

/// STORAGE_GET_SERVER_ID (70): the id of the storage at `ip:port`; reply the id text.
public struct GetServerIDRequest: GroupAndAddressRequest {
    public typealias Response = TextBody
    public static let command = TrackerCommand.getServerID.rawValue
    public var group: GroupName
    public var address: IPPort
    public init(group: GroupName, address: IPPort) {
        self.group = group
        self.address = address
    }
}

/// A body that is exactly one 67-byte storage brief.
public struct StorageBriefBody: FDFSBody {
    public var brief: StorageBrief
    public init(_ brief: StorageBrief) { self.brief = brief }
    public func encode(into b: inout ByteBuffer) { brief.encode(into: &b) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == StorageBrief.size, "a storage brief is 67 bytes, got \(r.remaining)")
        return Self(try StorageBrief.decode(from: &r))
    }
}

/// STORAGE_GET_MY_IP (60): group (17) + port (i32) = 21 bytes; reply the IP text.
public struct GetMyIPRequest: FDFSRequest {
    public typealias Response = TextBody
    public static let command = TrackerCommand.getMyIP.rawValue
    public var group: GroupName
    public var port: Int32

    public init(group: GroupName, port: Int32) {
        self.group = group
        self.port = port
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group, width: FieldWidth.groupNameInRecord)
        b.writeInt32(port)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 21, "body must be 21 bytes, got \(r.remaining)")
        return Self(group: try r.group(width: FieldWidth.groupNameInRecord), port: try r.int32("port"))
    }
}

/// STORAGE_GET_GROUP_NAME (109): port (i32) alone, or IP text + port; reply a 16-byte group.
public struct GetGroupNameRequest: FDFSRequest {
    public typealias Response = GroupNameBody
    public static let command = TrackerCommand.getGroupName.rawValue
    /// nil: the tracker uses the requester's address.
    public var ipAddress: String?
    public var port: Int32

    public init(ipAddress: String? = nil, port: Int32) {
        self.ipAddress = ipAddress
        self.port = port
    }

    public func encode(into b: inout ByteBuffer) {
        if let ipAddress { b.writeString(ipAddress) }
        b.writeInt32(port)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining >= 4, "body must be at least the 4-byte port, got \(r.remaining)")
        let ipLength = r.remaining - 4
        // The C tracker answers ENAMETOOLONG for an IP of 46 bytes or more.
        guard ipLength < FieldWidth.ipAddress else {
            throw FDFSProtocolError(.nameTooLong, command: command, "IP text of \(ipLength) bytes is longer than 45")
        }
        let ip = ipLength > 0 ? try r.text(count: ipLength, "ip") : nil
        return Self(ipAddress: ip, port: try r.int32("port"))
    }
}

/// A 16-byte group name body (GET_GROUP_NAME reply).
public struct GroupNameBody: FDFSBody {
    public var group: GroupName
    public init(_ group: GroupName) { self.group = group }
    public func encode(into b: inout ByteBuffer) { b.writeGroup(group) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 16, "group name reply must be 16 bytes, got \(r.remaining)")
        return Self(try r.group())
    }
}

/// STORAGE_FETCH_STORAGE_IDS (69): start index (i32) + allow_empty (u8) = 5 bytes.
public struct FetchStorageIDsRequest: FDFSRequest {
    public typealias Response = FetchStorageIDsResponse
    public static let command = TrackerCommand.fetchStorageIDs.rawValue
    public var startIndex: Int32
    public var allowEmpty: Bool

    public init(startIndex: Int32 = 0, allowEmpty: Bool = false) {
        self.startIndex = startIndex
        self.allowEmpty = allowEmpty
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt32(startIndex)
        b.writeInteger(UInt8(allowEmpty ? 1 : 0))
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 5, "body must be 5 bytes, got \(r.remaining)")
        return Self(startIndex: try r.int32("start_index"), allowEmpty: try r.uint8("allow_empty") != 0)
    }
}

/// Reply of 69: total (i32), count in this reply (i32), then storage_ids.conf lines.
public struct FetchStorageIDsResponse: FDFSBody {
    public var total: Int32
    public var count: Int32
    public var text: String

    public init(total: Int32, count: Int32, text: String) {
        self.total = total
        self.count = count
        self.text = text
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt32(total)
        b.writeInt32(count)
        b.writeString(text)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let total = try r.int32("total")
        let count = try r.int32("count")
        guard total >= 0, count >= 0, count <= total else {
            throw FDFSProtocolError(.invalidField, command: r.command, "count \(count) / total \(total) are inconsistent")
        }
        return Self(total: total, count: count, text: r.remainingText())
    }
}

/// TRACKER_GET_STATUS (64): empty; reply is_leader (u8), running time, restart interval (i64).
public struct TrackerGetStatusRequest: EmptyRequest {
    public typealias Response = TrackerRunningStatus
    public static let command = TrackerCommand.trackerGetStatus.rawValue
    public init() {}
}

public struct TrackerRunningStatus: FDFSBody {
    public var isLeader: Bool
    public var runningTimeSeconds: Int64
    public var restartIntervalSeconds: Int64

    public init(isLeader: Bool, runningTimeSeconds: Int64, restartIntervalSeconds: Int64) {
        self.isLeader = isLeader
        self.runningTimeSeconds = runningTimeSeconds
        self.restartIntervalSeconds = restartIntervalSeconds
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(UInt8(isLeader ? 1 : 0))
        b.writeInt64(runningTimeSeconds)
        b.writeInt64(restartIntervalSeconds)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 17, "tracker status reply must be 17 bytes, got \(r.remaining)")
        return Self(isLeader: try r.uint8("is_leader") != 0, runningTimeSeconds: try r.int64("running_time"),
                    restartIntervalSeconds: try r.int64("restart_interval"))
    }
}

/// STORAGE_PARAMETER_REQ (75): empty; reply `key=value\n` lines.
public struct ParameterRequest: EmptyRequest {
    public typealias Response = TrackerParameters
    public static let command = TrackerCommand.parameterRequest.rawValue
    public init() {}
}

/// The tracker's parameters pushed to storages, in wire order (protocol spec §4.19).
public struct TrackerParameters: FDFSBody, CustomStringConvertible {
    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    /// The C fetcher's buffer: the whole reply must be shorter than this.
    public static let maxBytes = 1024
    public var entries: [Entry]
    public init(entries: [Entry]) { self.entries = entries }

    public subscript(key: String) -> String? { entries.first { $0.key == key }?.value }

    /// The wire text: `key=value` lines.
    public var text: String { entries.map { "\($0.key)=\($0.value)\n" }.joined() }
    public var description: String { text }

    public func encode(into b: inout ByteBuffer) {
        b.writeString(text)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining < maxBytes, "parameter reply of \(r.remaining) bytes exceeds 1023")
        let text = r.remainingText()
        var entries: [Entry] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw FDFSProtocolError(.invalidField, command: r.command, "parameter line '\(line)' has no '='")
            }
            entries.append(Entry(String(line[..<eq]), String(line[line.index(after: eq)...])))
        }
        guard text.isEmpty || text.hasSuffix("\n") else {
            throw FDFSProtocolError(.invalidField, command: r.command, "parameter text does not end with a newline")
        }
        return Self(entries: entries)
    }
}

/// ACTIVE_TEST (111) on tracker and storage: empty request, empty reply.
public struct ActiveTestRequest: EmptyRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerCommand.activeTest.rawValue
    public init() {}
}

/// QUIT (82): empty; no reply, the receiver closes the connection.
public struct QuitRequest: EmptyRequest {
    public typealias Response = NoReply
    public static let command = TrackerCommand.quit.rawValue
    public init() {}
}

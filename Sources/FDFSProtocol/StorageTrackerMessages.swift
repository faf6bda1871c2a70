public import NIOCore
public import FDFSModel

// Storage -> tracker: join, heartbeat, reports and sync bookkeeping (cluster spec §1).

/// STORAGE_JOIN (81): a 145-byte fixed part, then one `host[,host2]:port\n` line per tracker.
public struct StorageJoinRequest: FDFSRequest {
    public typealias Response = StorageJoinResponse
    public static let command = StorageToTrackerCommand.join.rawValue
    public static let fixedSize = 145
    public static let maxTrackers = 16

    public var group: GroupName
    public var storagePort: Int64
    public var storePathCount: Int64
    public var subdirCountPerPath: Int64
    public var uploadPriority: Int64
    public var joinTime: Int64
    public var upTime: Int64
    public var version: String
    /// True while the storage has not completed its sync-destination request.
    public var initFlag: Bool
    /// The storage's own status as it last learned it; `.unknown` (-1) when it does not know.
    public var status: StorageStatus
    /// Own id when storage ids are in use, else nil.
    public var storageID: StorageID?
    /// The tracker's address as the storage dialled it.
    public var currentTrackerIP: String
    /// Every configured tracker as `host[,host2]:port` text, in tracker-index order.
    public var trackers: [String]

    public init(group: GroupName, storagePort: Int64, storePathCount: Int64, subdirCountPerPath: Int64, uploadPriority: Int64,
                joinTime: Int64, upTime: Int64, version: String, initFlag: Bool, status: StorageStatus,
                storageID: StorageID?, currentTrackerIP: String, trackers: [String]) {
        self.group = group
        self.storagePort = storagePort
        self.storePathCount = storePathCount
        self.subdirCountPerPath = subdirCountPerPath
        self.uploadPriority = uploadPriority
        self.joinTime = joinTime
        self.upTime = upTime
        self.version = version
        self.initFlag = initFlag
        self.status = status
        self.storageID = storageID
        self.currentTrackerIP = currentTrackerIP
        self.trackers = trackers
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group, width: FieldWidth.groupNameInRecord)
        for v in [storagePort, storePathCount, subdirCountPerPath, uploadPriority, joinTime, upTime] { b.writeInt64(v) }
        b.writeFixedText(version, width: FieldWidth.version)
        b.writeInteger(UInt8(initFlag ? 1 : 0))
        b.writeInteger(status.wireByte)
        b.writeStorageID(storageID)
        b.writeFixedText(currentTrackerIP, width: FieldWidth.ipAddress)
        b.writeInt64(Int64(trackers.count))
        for t in trackers { b.writeString(t + "\n") }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining >= fixedSize, "join body must be at least 145 bytes, got \(r.remaining)")
        let group = try r.group(width: FieldWidth.groupNameInRecord)
        let port = try r.int64("storage_port")
        let paths = try r.int64("store_path_count")
        let subdirs = try r.int64("subdir_count_per_path")
        let priority = try r.int64("upload_priority")
        let joinTime = try r.int64("join_time")
        let upTime = try r.int64("up_time")
        let version = try r.text(width: FieldWidth.version, "version")
        let initFlag = try r.uint8("init_flag") != 0
        let status = StorageStatus(wireByte: try r.uint8("status"))
        let id = try r.storageID()
        let trackerIP = try r.text(width: FieldWidth.ipAddress, "current_tracker_ip")
        let count = try r.int64("tracker_count")
        guard (1...Int64(maxTrackers)).contains(count) else {
            throw FDFSProtocolError(.invalidField, command: command, "tracker_count \(count) is outside 1...16")
        }
        try r.requireLength(r.remaining <= 100 * Int(count), "tracker list of \(r.remaining) bytes is longer than 100 per tracker")
        let text = r.remainingText()
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.last == "" else {
            throw FDFSProtocolError(.invalidField, command: command, "tracker list line without newline")
        }
        lines.removeLast()
        guard lines.count == Int(count) else {
            throw FDFSProtocolError(.invalidField, command: command, "tracker_count \(count) but \(lines.count) tracker lines")
        }
        return Self(group: group, storagePort: port, storePathCount: paths, subdirCountPerPath: subdirs, uploadPriority: priority,
                    joinTime: joinTime, upTime: upTime, version: version, initFlag: initFlag, status: status, storageID: id,
                    currentTrackerIP: trackerIP, trackers: lines)
    }
}

/// Reply of 81: the storage's status on this tracker and its recorded sync source (17 bytes).
public struct StorageJoinResponse: FDFSBody {
    public var status: StorageStatus
    public var syncSourceID: StorageID?

    public init(status: StorageStatus, syncSourceID: StorageID?) {
        self.status = status
        self.syncSourceID = syncSourceID
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(status.wireByte)
        b.writeStorageID(syncSourceID)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 17, "join reply must be 17 bytes, got \(r.remaining)")
        return Self(status: StorageStatus(wireByte: try r.uint8("status")), syncSourceID: try r.storageID("sync source id"))
    }
}

/// STORAGE_BEAT (83): empty, or the 348-byte statistics block when something changed.
public struct StorageBeatRequest: FDFSRequest {
    public typealias Response = ChangeNotification
    public static let command = StorageToTrackerCommand.beat.rawValue
    public var statistics: StorageStatistics?

    public init(statistics: StorageStatistics? = nil) { self.statistics = statistics }

    public func encode(into b: inout ByteBuffer) { statistics?.encode(into: &b) }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        switch r.remaining {
        case 0: return Self()
        case StorageStatistics.size: return Self(statistics: try StorageStatistics.decode(from: &r))
        default: throw FDFSProtocolError(.wrongBodyLength, command: command, "beat body must be 0 or 348 bytes, got \(r.remaining)")
        }
    }
}

/// The reply to BEAT, REPORT_DISK_USAGE and SYNC_REPORT (cluster spec §1.5): a flags byte,
/// then the briefs the flags announce (leader, trunk server, group members, in that order).
public struct ChangeNotification: FDFSBody {
    public struct Flags: OptionSet, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let trackerLeader = Flags(rawValue: 0x01)
        public static let trunkServer = Flags(rawValue: 0x02)
        public static let groupServers = Flags(rawValue: 0x04)
    }

    /// The storage's limit: 1 + 34 x 67 bytes.
    public static let maxBriefs = 34
    public var flags: Flags
    public var briefs: [StorageBrief]

    public init(flags: Flags = [], briefs: [StorageBrief] = []) {
        self.flags = flags
        self.briefs = briefs
    }

    /// The leader brief, when the leader flag is set.
    public var leader: StorageBrief? { flags.contains(.trackerLeader) ? briefs.first : nil }
    /// The trunk-server brief, when that flag is set.
    public var trunkServer: StorageBrief? {
        guard flags.contains(.trunkServer) else { return nil }
        let index = flags.contains(.trackerLeader) ? 1 : 0
        return index < briefs.count ? briefs[index] : nil
    }
    /// The group members, when that flag is set.
    public var groupServers: [StorageBrief] {
        guard flags.contains(.groupServers) else { return [] }
        let skip = (flags.contains(.trackerLeader) ? 1 : 0) + (flags.contains(.trunkServer) ? 1 : 0)
        return Array(briefs.dropFirst(skip))
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(flags.rawValue)
        for brief in briefs { brief.encode(into: &b) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let n = r.remaining - 1
        try r.requireLength(n >= 0 && n % StorageBrief.size == 0 && n / StorageBrief.size <= maxBriefs,
                            "change notification must be 1 + k x 67 bytes (k <= 34), got \(r.remaining)")
        let flags = Flags(rawValue: try r.uint8("flags"))
        var briefs: [StorageBrief] = []
        for _ in 0..<(n / StorageBrief.size) { briefs.append(try StorageBrief.decode(from: &r)) }
        return Self(flags: flags, briefs: briefs)
    }
}

/// STORAGE_REPORT_DISK_USAGE (84): total and free MB of every store path.
public struct ReportDiskUsageRequest: FDFSRequest {
    public typealias Response = ChangeNotification
    public static let command = StorageToTrackerCommand.reportDiskUsage.rawValue

    public struct PathUsage: Hashable, Sendable {
        public var totalMB: Int64
        public var freeMB: Int64
        public init(totalMB: Int64, freeMB: Int64) {
            self.totalMB = totalMB
            self.freeMB = freeMB
        }
    }

    public var paths: [PathUsage]
    public init(paths: [PathUsage]) { self.paths = paths }

    public func encode(into b: inout ByteBuffer) {
        for p in paths {
            b.writeInt64(p.totalMB)
            b.writeInt64(p.freeMB)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining % 16 == 0 && r.remaining / 16 <= RemoteFilename.maxStorePathCount,
                            "disk usage body must be n x 16 bytes (n <= 256), got \(r.remaining)")
        var paths: [PathUsage] = []
        for _ in 0..<(r.remaining / 16) { paths.append(PathUsage(totalMB: try r.int64("total_mb"), freeMB: try r.int64("free_mb"))) }
        return Self(paths: paths)
    }
}

/// A body of 1...32 storage briefs (REPLICA_CHG).
public struct ReplicaChangeRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.replicaChange.rawValue
    public static let maxBriefs = 32
    public var briefs: [StorageBrief]
    public init(briefs: [StorageBrief]) { self.briefs = briefs }

    public func encode(into b: inout ByteBuffer) {
        for brief in briefs { brief.encode(into: &b) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let n = r.remaining / StorageBrief.size
        try r.requireLength(r.remaining % StorageBrief.size == 0 && (1...maxBriefs).contains(n),
                            "replica change must be 1...32 x 67 bytes, got \(r.remaining)")
        var briefs: [StorageBrief] = []
        for _ in 0..<n { briefs.append(try StorageBrief.decode(from: &r)) }
        return Self(briefs: briefs)
    }
}

/// The 24-byte "sync info": source storage id (16) + until timestamp (i64).
public struct SyncInfo: Hashable, Sendable {
    public static let size = 24
    public var sourceID: StorageID?
    public var untilTimestamp: Int64

    public init(sourceID: StorageID?, untilTimestamp: Int64) {
        self.sourceID = sourceID
        self.untilTimestamp = untilTimestamp
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeStorageID(sourceID)
        b.writeInt64(untilTimestamp)
    }

    public static func decode(from r: inout FieldReader) throws(FDFSProtocolError) -> SyncInfo {
        SyncInfo(sourceID: try r.storageID("sync source id"), untilTimestamp: try r.int64("until timestamp"))
    }
}

/// Reply of 86, 87 and 79: empty (no source) or a sync info.
public struct OptionalSyncInfo: FDFSBody {
    public var info: SyncInfo?
    public init(_ info: SyncInfo?) { self.info = info }
    public func encode(into b: inout ByteBuffer) { info?.encode(into: &b) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        switch r.remaining {
        case 0: return Self(nil)
        case SyncInfo.size: return Self(try SyncInfo.decode(from: &r))
        default: throw FDFSProtocolError(.wrongBodyLength, command: r.command, "sync info reply must be 0 or 24 bytes, got \(r.remaining)")
        }
    }
}

/// STORAGE_SYNC_SRC_REQ (86): group + destination storage id (32 bytes).
public struct SyncSourceRequest: FDFSRequest {
    public typealias Response = OptionalSyncInfo
    public static let command = StorageToTrackerCommand.syncSourceRequest.rawValue
    public var group: GroupName
    public var destinationID: StorageID

    public init(group: GroupName, destinationID: StorageID) {
        self.group = group
        self.destinationID = destinationID
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeStorageID(destinationID)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 32, "body must be 32 bytes, got \(r.remaining)")
        let group = try r.group()
        guard let id = try r.storageID("destination id") else {
            throw FDFSProtocolError(.invalidName, command: command, "destination storage id is empty")
        }
        return Self(group: group, destinationID: id)
    }
}

/// STORAGE_SYNC_DEST_REQ (87): empty; reply the assigned source, or empty when none is needed.
public struct SyncDestRequest: EmptyRequest {
    public typealias Response = OptionalSyncInfo
    public static let command = StorageToTrackerCommand.syncDestRequest.rawValue
    public init() {}
}

/// STORAGE_SYNC_DEST_QUERY (79): empty; reply the recorded source or empty.
public struct SyncDestQueryRequest: EmptyRequest {
    public typealias Response = OptionalSyncInfo
    public static let command = StorageToTrackerCommand.syncDestQuery.rawValue
    public init() {}
}

/// STORAGE_SYNC_NOTIFY (88): the storage's own sync source and until timestamp (24 bytes).
public struct SyncNotifyRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.syncNotify.rawValue
    public var info: SyncInfo
    public init(info: SyncInfo) { self.info = info }
    public func encode(into b: inout ByteBuffer) { info.encode(into: &b) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == SyncInfo.size, "body must be 24 bytes, got \(r.remaining)")
        return Self(info: try SyncInfo.decode(from: &r))
    }
}

/// STORAGE_SYNC_REPORT (89): for each known peer, its id and the newest source timestamp
/// received from it (20 bytes each).
public struct SyncReportRequest: FDFSRequest {
    public typealias Response = ChangeNotification
    public static let command = StorageToTrackerCommand.syncReport.rawValue

    public struct Entry: Hashable, Sendable {
        public var peerID: StorageID?
        public var syncedTimestamp: Int32
        public init(peerID: StorageID?, syncedTimestamp: Int32) {
            self.peerID = peerID
            self.syncedTimestamp = syncedTimestamp
        }
    }

    public var entries: [Entry]
    public init(entries: [Entry]) { self.entries = entries }

    public func encode(into b: inout ByteBuffer) {
        for e in entries {
            b.writeStorageID(e.peerID)
            b.writeInt32(e.syncedTimestamp)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let n = r.remaining / 20
        try r.requireLength(r.remaining % 20 == 0 && n >= 1 && n <= 32, "sync report must be 1...32 x 20 bytes, got \(r.remaining)")
        var entries: [Entry] = []
        for _ in 0..<n { entries.append(Entry(peerID: try r.storageID("peer id"), syncedTimestamp: try r.int32("timestamp"))) }
        return Self(entries: entries)
    }
}

/// STORAGE_REPORT_IP_CHANGED (78): group + old IP (46) + new IP (46) = 108 bytes.
public struct ReportIPChangedRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.reportIPChanged.rawValue
    public var group: GroupName
    public var oldIP: String
    public var newIP: String

    public init(group: GroupName, oldIP: String, newIP: String) {
        self.group = group
        self.oldIP = oldIP
        self.newIP = newIP
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeFixedText(oldIP, width: FieldWidth.ipAddress)
        b.writeFixedText(newIP, width: FieldWidth.ipAddress)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 108, "body must be 108 bytes, got \(r.remaining)")
        return Self(group: try r.group(), oldIP: try r.text(width: FieldWidth.ipAddress, "old ip"),
                    newIP: try r.text(width: FieldWidth.ipAddress, "new ip"))
    }
}

/// STORAGE_CHANGELOG_REQ (77): empty on a joined connection, else group + storage id.
/// The reply is a piece of `storage_changelog.dat`.
public struct ChangelogRequest: FDFSRequest {
    public typealias Response = RawBody
    public static let command = StorageToTrackerCommand.changelogRequest.rawValue
    public struct Requester: Hashable, Sendable {
        public var group: GroupName
        public var storageID: StorageID
        public init(group: GroupName, storageID: StorageID) {
            self.group = group
            self.storageID = storageID
        }
    }

    public var requester: Requester?
    public init(requester: Requester? = nil) { self.requester = requester }

    public func encode(into b: inout ByteBuffer) {
        if let requester {
            b.writeGroup(requester.group)
            b.writeStorageID(requester.storageID)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        switch r.remaining {
        case 0: return Self()
        case 32:
            let group = try r.group()
            guard let id = try r.storageID() else { throw FDFSProtocolError(.invalidName, command: command, "storage id is empty") }
            return Self(requester: Requester(group: group, storageID: id))
        default: throw FDFSProtocolError(.wrongBodyLength, command: command, "body must be 0 or 32 bytes, got \(r.remaining)")
        }
    }
}

/// STORAGE_REPORT_STATUS (76): group + one brief (83 bytes).
public struct ReportStatusRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.reportStatus.rawValue
    public var group: GroupName
    public var brief: StorageBrief

    public init(group: GroupName, brief: StorageBrief) {
        self.group = group
        self.brief = brief
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        brief.encode(into: &b)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 83, "body must be 83 bytes, got \(r.remaining)")
        return Self(group: try r.group(), brief: try StorageBrief.decode(from: &r))
    }
}

/// A body that is one i64 (REPORT_TRUNK_FREE request, TRUNK_GET_BINLOG_SIZE reply).
public struct Int64Body: FDFSBody {
    public var value: Int64
    public init(_ value: Int64) { self.value = value }
    public func encode(into b: inout ByteBuffer) { b.writeInt64(value) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 8, "body must be 8 bytes, got \(r.remaining)")
        return Self(try r.int64("value"))
    }
}

/// A body that is one i32 (REPORT_TRUNK_FID request, FETCH_TRUNK_FID reply).
public struct Int32Body: FDFSBody {
    public var value: Int32
    public init(_ value: Int32) { self.value = value }
    public func encode(into b: inout ByteBuffer) { b.writeInt32(value) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 4, "body must be 4 bytes, got \(r.remaining)")
        return Self(try r.int32("value"))
    }
}

/// STORAGE_REPORT_TRUNK_FREE (74): trunk free space in MB.
public struct ReportTrunkFreeRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.reportTrunkFree.rawValue
    public var freeMB: Int64
    public init(freeMB: Int64) { self.freeMB = freeMB }
    public func encode(into b: inout ByteBuffer) { b.writeInt64(freeMB) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        Self(freeMB: try Int64Body.decode(from: &r, headerStatus: headerStatus).value)
    }
}

/// STORAGE_REPORT_TRUNK_FID (73): the current trunk file id.
public struct ReportTrunkFileIDRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.reportTrunkFileID.rawValue
    public var trunkFileID: Int32
    public init(trunkFileID: Int32) { self.trunkFileID = trunkFileID }
    public func encode(into b: inout ByteBuffer) { b.writeInt32(trunkFileID) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        Self(trunkFileID: try Int32Body.decode(from: &r, headerStatus: headerStatus).value)
    }
}

/// STORAGE_FETCH_TRUNK_FID (72): empty; reply the group's trunk file id (i32).
public struct FetchTrunkFileIDRequest: EmptyRequest {
    public typealias Response = Int32Body
    public static let command = StorageToTrackerCommand.fetchTrunkFileID.rawValue
    public init() {}
}

/// STORAGE_CHANGE_STATUS (59): the status the storage wants this tracker to record (1 byte).
public struct ChangeStatusRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.changeStatus.rawValue
    public var status: StorageStatus
    public init(status: StorageStatus) { self.status = status }
    public func encode(into b: inout ByteBuffer) { b.writeInteger(status.wireByte) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 1, "body must be 1 byte, got \(r.remaining)")
        return Self(status: StorageStatus(wireByte: try r.uint8("status")))
    }
}

/// NOTIFY_RESELECT_LEADER (68): empty both ways (storage or tracker -> leader).
public struct NotifyReselectLeaderRequest: EmptyRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToTrackerCommand.notifyReselectLeader.rawValue
    public init() {}
}

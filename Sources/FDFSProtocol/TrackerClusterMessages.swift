public import NIOCore
public import FDFSModel

// Tracker <-> tracker: leader election and system-file copy (cluster spec §3.5, §4.2), and the
// tracker -> storage trunk commands (§1.14).

/// TRACKER_JOIN_LEADER (58): follower start time (i64) + version (8) + service port (i64).
public struct JoinLeaderRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerToTrackerCommand.joinLeader.rawValue
    public var startTime: Int64
    public var version: String
    public var port: Int64

    public init(startTime: Int64, version: String, port: Int64) {
        self.startTime = startTime
        self.version = version
        self.port = port
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(startTime)
        b.writeFixedText(version, width: FieldWidth.version)
        b.writeInt64(port)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 24, "body must be 24 bytes, got \(r.remaining)")
        return Self(startTime: try r.int64("start time"), version: try r.text(width: FieldWidth.version, "version"), port: try r.int64("port"))
    }
}

/// TRACKER_PING_LEADER (65): the follower's three connection counters (3 x i32).
public struct PingLeaderRequest: FDFSRequest {
    public typealias Response = PingLeaderResponse
    public static let command = TrackerToTrackerCommand.pingLeader.rawValue
    public var connectionAllocCount: Int32
    public var connectionCurrentCount: Int32
    public var connectionMaxCount: Int32

    public init(connectionAllocCount: Int32, connectionCurrentCount: Int32, connectionMaxCount: Int32) {
        self.connectionAllocCount = connectionAllocCount
        self.connectionCurrentCount = connectionCurrentCount
        self.connectionMaxCount = connectionMaxCount
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt32(connectionAllocCount)
        b.writeInt32(connectionCurrentCount)
        b.writeInt32(connectionMaxCount)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 12, "body must be 12 bytes, got \(r.remaining)")
        return Self(connectionAllocCount: try r.int32("alloc"), connectionCurrentCount: try r.int32("current"),
                    connectionMaxCount: try r.int32("max"))
    }
}

/// Reply of 65: empty, or for every group its trunk server (group 16 + id 16).
public struct PingLeaderResponse: FDFSBody {
    public struct Entry: Hashable, Sendable {
        public var group: GroupName
        /// nil: the group has no trunk server.
        public var trunkServerID: StorageID?
        public init(group: GroupName, trunkServerID: StorageID?) {
            self.group = group
            self.trunkServerID = trunkServerID
        }
    }

    public var entries: [Entry]
    public init(entries: [Entry] = []) { self.entries = entries }

    public func encode(into b: inout ByteBuffer) {
        for e in entries {
            b.writeGroup(e.group)
            b.writeStorageID(e.trunkServerID)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining % 32 == 0, "ping reply must be n x 32 bytes, got \(r.remaining)")
        var entries: [Entry] = []
        for _ in 0..<(r.remaining / 32) { entries.append(Entry(group: try r.group(), trunkServerID: try r.storageID("trunk server id"))) }
        return Self(entries: entries)
    }
}

/// TRACKER_NOTIFY_NEXT_LEADER (66): the candidate's `ip:port`.
public struct NotifyNextLeaderRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerToTrackerCommand.notifyNextLeader.rawValue
    public var leader: IPPort
    public init(leader: IPPort) { self.leader = leader }
    public func encode(into b: inout ByteBuffer) { IPPortBody(leader).encode(into: &b) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        Self(leader: try IPPortBody.decode(from: &r, headerStatus: headerStatus).address)
    }
}

/// TRACKER_COMMIT_NEXT_LEADER (67): the candidate's `ip:port`.
public struct CommitNextLeaderRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerToTrackerCommand.commitNextLeader.rawValue
    public var leader: IPPort
    public init(leader: IPPort) { self.leader = leader }
    public func encode(into b: inout ByteBuffer) { IPPortBody(leader).encode(into: &b) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        Self(leader: try IPPortBody.decode(from: &r, headerStatus: headerStatus).address)
    }
}

/// TRACKER_GET_SYS_FILES_START (61): empty both ways; the source then holds its file lock.
public struct GetSysFilesStartRequest: EmptyRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerToTrackerCommand.getSysFilesStart.rawValue
    public init() {}
}

/// TRACKER_GET_SYS_FILES_END (62): empty both ways; releases the lock.
public struct GetSysFilesEndRequest: EmptyRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerToTrackerCommand.getSysFilesEnd.rawValue
    public init() {}
}

/// TRACKER_GET_ONE_SYS_FILE (63): file index (0 groups, 1 storages, 2 sync timestamps,
/// 3 changelog) + offset.
public struct GetOneSysFileRequest: FDFSRequest {
    public typealias Response = SysFilePiece
    public static let command = TrackerToTrackerCommand.getOneSysFile.rawValue
    public var fileIndex: UInt8
    public var offset: Int64

    public init(fileIndex: UInt8, offset: Int64) {
        self.fileIndex = fileIndex
        self.offset = offset
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(fileIndex)
        b.writeInt64(offset)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 9, "body must be 9 bytes, got \(r.remaining)")
        let index = try r.uint8("file index")
        guard index <= 3 else { throw FDFSProtocolError(.invalidField, command: command, "file index \(index) is outside 0...3") }
        let offset = try r.int64("offset")
        guard offset >= 0 else { throw FDFSProtocolError(.invalidField, command: command, "offset \(offset) is negative") }
        return Self(fileIndex: index, offset: offset)
    }
}

/// Reply of 63: the whole file's size, then at most 8173 bytes from the offset.
public struct SysFilePiece: FDFSBody {
    public static let maxContentBytes = 8173
    public var fileSize: Int64
    public var content: [UInt8]

    public init(fileSize: Int64, content: [UInt8]) {
        self.fileSize = fileSize
        self.content = content
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(fileSize)
        b.writeBytes(content)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let size = try r.int64("file size")
        try r.requireLength(r.remaining <= maxContentBytes, "file piece of \(r.remaining) bytes exceeds 8173")
        return Self(fileSize: size, content: r.remainingBytes())
    }
}

/// TRUNK_GET_BINLOG_SIZE (31), tracker -> storage: empty; reply the trunk binlog size.
public struct TrunkGetBinlogSizeRequest: EmptyRequest {
    public typealias Response = Int64Body
    public static let command = TrackerToStorageCommand.trunkGetBinlogSize.rawValue
    public init() {}
}

/// TRUNK_DELETE_BINLOG_MARKS (32), tracker -> storage: empty both ways.
public struct TrunkDeleteBinlogMarksRequest: EmptyRequest {
    public typealias Response = EmptyBody
    public static let command = TrackerToStorageCommand.trunkDeleteBinlogMarks.rawValue
    public init() {}
}

public import NIOCore
public import FDFSModel

// Storage -> storage: replication (cluster spec §6.5), disk recovery (§7.6) and trunk space
// (§6.6). Timestamps are i32, lengths i64; group fields may carry stale bytes after the NUL,
// which readers ignore.

/// REPORT_SERVER_ID (9): the sender's storage id (16 bytes, must not be empty).
public struct ReportServerIDRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToStorageCommand.reportServerID.rawValue
    public var storageID: StorageID
    public init(storageID: StorageID) { self.storageID = storageID }
    public func encode(into b: inout ByteBuffer) { b.writeStorageID(storageID) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        Self(storageID: try r.storageIDBody("sender id"))
    }
}

/// SYNC_CREATE_FILE (16) and SYNC_UPDATE_FILE (18): name length, file size, timestamp, group,
/// name, then the content. A header status of 17 (EEXIST) on 16 means "same file, no content".
public protocol SyncFileRequest: FDFSStreamingRequest where Response == EmptyBody {
    var timestamp: Int32 { get }
    var group: GroupName { get }
    var filename: String { get }
    var fileSize: Int64 { get }
    /// False: the header status is non-zero and no content follows.
    var hasContent: Bool { get }
    init(timestamp: Int32, group: GroupName, filename: String, fileSize: Int64, hasContent: Bool)
}

extension SyncFileRequest {
    public static var fixedPrefixLength: Int { 16 }
    public var contentLength: Int64 { hasContent ? fileSize : 0 }
    public var headerStatus: UInt8 { hasContent ? 0 : FDFSStatus.EEXIST.rawValue }

    public static func framing(prefix: ByteBuffer, headerStatus: UInt8) throws(FDFSProtocolError) -> StreamFraming {
        let l = try prefixField(prefix, at: 0, "filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let size = try prefixField(prefix, at: 8, "file size", in: 0...Int64.max)
        return StreamFraming(fixedLength: 36 + Int(l), contentLength: headerStatus == 0 ? size : 0)
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(filename.utf8.count))
        b.writeInt64(fileSize)
        b.writeInt32(timestamp)
        b.writeGroup(group)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let l = try r.length("filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let size = try r.length("file size", in: 0...Int64.max)
        let ts = try r.int32("timestamp")
        let group = try r.group()
        return Self(timestamp: ts, group: group, filename: try r.text(count: l, "filename"), fileSize: Int64(size), hasContent: headerStatus == 0)
    }
}

public struct SyncCreateFileRequest: SyncFileRequest {
    public static let command = StorageToStorageCommand.syncCreateFile.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var filename: String
    public var fileSize: Int64
    public var hasContent: Bool
    public init(timestamp: Int32, group: GroupName, filename: String, fileSize: Int64, hasContent: Bool = true) {
        self.timestamp = timestamp
        self.group = group
        self.filename = filename
        self.fileSize = fileSize
        self.hasContent = hasContent
    }
}

public struct SyncUpdateFileRequest: SyncFileRequest {
    public static let command = StorageToStorageCommand.syncUpdateFile.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var filename: String
    public var fileSize: Int64
    public var hasContent: Bool
    public init(timestamp: Int32, group: GroupName, filename: String, fileSize: Int64, hasContent: Bool = true) {
        self.timestamp = timestamp
        self.group = group
        self.filename = filename
        self.fileSize = fileSize
        self.hasContent = hasContent
    }
}

/// SYNC_DELETE_FILE (17): timestamp, group, name.
public struct SyncDeleteFileRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToStorageCommand.syncDeleteFile.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var filename: String

    public init(timestamp: Int32, group: GroupName, filename: String) {
        self.timestamp = timestamp
        self.group = group
        self.filename = filename
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt32(timestamp)
        b.writeGroup(group)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining > 20 && r.remaining <= 20 + FieldWidth.maxRemoteFilename, "body must be 21...147 bytes, got \(r.remaining)")
        return Self(timestamp: try r.int32("timestamp"), group: try r.group(), filename: r.remainingText())
    }
}

/// Two names with their lengths in front: SYNC_CREATE_LINK (19) and SYNC_RENAME_FILE (40).
public protocol SyncTwoNameRequest: FDFSRequest {
    var timestamp: Int32 { get }
    var group: GroupName { get }
    var firstName: String { get }
    var secondName: String { get }
    init(timestamp: Int32, group: GroupName, firstName: String, secondName: String)
}

extension SyncTwoNameRequest {
    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(firstName.utf8.count))
        b.writeInt64(Int64(secondName.utf8.count))
        b.writeInt32(timestamp)
        b.writeGroup(group)
        b.writeString(firstName)
        b.writeString(secondName)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let a = try r.length("first name length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let b = try r.length("second name length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let ts = try r.int32("timestamp")
        let group = try r.group()
        try r.requireLength(r.remaining == a + b, "names of \(a) + \(b) bytes announced, \(r.remaining) present")
        return Self(timestamp: ts, group: group, firstName: try r.text(count: a, "first name"), secondName: try r.text(count: b, "second name"))
    }
}

/// SYNC_CREATE_LINK (19): the link name, then the name of the file it points to.
public struct SyncCreateLinkRequest: SyncTwoNameRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToStorageCommand.syncCreateLink.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var linkName: String
    public var sourceName: String
    public var firstName: String { linkName }
    public var secondName: String { sourceName }
    public init(timestamp: Int32, group: GroupName, firstName: String, secondName: String) {
        self.timestamp = timestamp
        self.group = group
        self.linkName = firstName
        self.sourceName = secondName
    }
}

/// SYNC_RENAME_FILE (40): the new (regular) name, then the old appender name.
public struct SyncRenameFileRequest: SyncTwoNameRequest {
    public typealias Response = AcknowledgementBody
    public static let command = StorageToStorageCommand.syncRenameFile.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var newName: String
    public var oldName: String
    public var firstName: String { newName }
    public var secondName: String { oldName }
    public init(timestamp: Int32, group: GroupName, firstName: String, secondName: String) {
        self.timestamp = timestamp
        self.group = group
        self.newName = firstName
        self.oldName = secondName
    }
}

/// SYNC_APPEND_FILE (25) and SYNC_MODIFY_FILE (35): name length, offset, length, timestamp,
/// group, name, then the data.
public protocol SyncRangeRequest: FDFSStreamingRequest where Response == EmptyBody {
    var timestamp: Int32 { get }
    var group: GroupName { get }
    var filename: String { get }
    var offset: Int64 { get }
    var length: Int64 { get }
    init(timestamp: Int32, group: GroupName, filename: String, offset: Int64, length: Int64)
}

extension SyncRangeRequest {
    public static var fixedPrefixLength: Int { 24 }
    public var contentLength: Int64 { length }

    public static func framing(prefix: ByteBuffer, headerStatus: UInt8) throws(FDFSProtocolError) -> StreamFraming {
        let l = try prefixField(prefix, at: 0, "filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        _ = try prefixField(prefix, at: 8, "offset", in: 0...Int64.max)
        return StreamFraming(fixedLength: 44 + Int(l), contentLength: try prefixField(prefix, at: 16, "length", in: 0...Int64.max))
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(filename.utf8.count))
        b.writeInt64(offset)
        b.writeInt64(length)
        b.writeInt32(timestamp)
        b.writeGroup(group)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let l = try r.length("filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let offset = try r.length("offset", in: 0...Int64.max)
        let length = try r.length("length", in: 0...Int64.max)
        let ts = try r.int32("timestamp")
        let group = try r.group()
        return Self(timestamp: ts, group: group, filename: try r.text(count: l, "filename"), offset: Int64(offset), length: Int64(length))
    }
}

public struct SyncAppendFileRequest: SyncRangeRequest {
    public static let command = StorageToStorageCommand.syncAppendFile.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var filename: String
    public var offset: Int64
    public var length: Int64
    public init(timestamp: Int32, group: GroupName, filename: String, offset: Int64, length: Int64) {
        self.timestamp = timestamp
        self.group = group
        self.filename = filename
        self.offset = offset
        self.length = length
    }
}

public struct SyncModifyFileRequest: SyncRangeRequest {
    public static let command = StorageToStorageCommand.syncModifyFile.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var filename: String
    public var offset: Int64
    public var length: Int64
    public init(timestamp: Int32, group: GroupName, filename: String, offset: Int64, length: Int64) {
        self.timestamp = timestamp
        self.group = group
        self.filename = filename
        self.offset = offset
        self.length = length
    }
}

/// SYNC_TRUNCATE_FILE (37): name length, old size, new size, timestamp, group, name.
public struct SyncTruncateFileRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToStorageCommand.syncTruncateFile.rawValue
    public var timestamp: Int32
    public var group: GroupName
    public var filename: String
    public var oldSize: Int64
    public var newSize: Int64

    public init(timestamp: Int32, group: GroupName, filename: String, oldSize: Int64, newSize: Int64) {
        self.timestamp = timestamp
        self.group = group
        self.filename = filename
        self.oldSize = oldSize
        self.newSize = newSize
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(filename.utf8.count))
        b.writeInt64(oldSize)
        b.writeInt64(newSize)
        b.writeInt32(timestamp)
        b.writeGroup(group)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let l = try r.length("filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let old = try r.length("old size", in: 0...Int64.max)
        let new = try r.length("new size", in: 0...Int64.max)
        let ts = try r.int32("timestamp")
        let group = try r.group()
        try r.requireLength(r.remaining == l, "filename length \(l) but \(r.remaining) bytes follow")
        return Self(timestamp: ts, group: group, filename: try r.text(count: l, "filename"), oldSize: Int64(old), newSize: Int64(new))
    }
}

/// FETCH_ONE_PATH_BINLOG (26): group + store path index (17 bytes). Disk recovery.
public struct FetchOnePathBinlogRequest: FDFSRequest {
    public typealias Response = FetchOnePathBinlogResponse
    public static let command = StorageToStorageCommand.fetchOnePathBinlog.rawValue
    public var group: GroupName
    public var storePathIndex: UInt8

    public init(group: GroupName, storePathIndex: UInt8) {
        self.group = group
        self.storePathIndex = storePathIndex
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeInteger(storePathIndex)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 17, "body must be 17 bytes, got \(r.remaining)")
        return Self(group: try r.group(), storePathIndex: try r.uint8("store path index"))
    }
}

/// Reply of 26: binlog text then its length as an i64 trailer. The header announces 2^58
/// bytes ("unbounded") and the sender closes the connection after the trailer.
public struct FetchOnePathBinlogResponse: FDFSBody {
    public static let unboundedLength: Int64 = 1 << 58
    public var binlogText: [UInt8]
    public init(binlogText: [UInt8]) { self.binlogText = binlogText }

    public func encode(into b: inout ByteBuffer) {
        b.writeBytes(binlogText)
        b.writeInt64(Int64(binlogText.count))
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining >= 8, "binlog export must end with an 8-byte count")
        let text = try r.bytes(count: r.remaining - 8, "binlog text")
        let count = try r.int64("trailer count")
        guard count == Int64(text.count) else {
            throw FDFSProtocolError(.invalidField, command: r.command, "trailer says \(count) bytes, \(text.count) received")
        }
        return Self(binlogText: text)
    }
}

/// Where a small file sits in a trunk file (15 bytes): store path, sub path high/low, trunk
/// file id, offset, size.
public struct TrunkInfo: Hashable, Sendable {
    public static let size = 15
    public var storePathIndex: UInt8
    public var subdirHigh: UInt8
    public var subdirLow: UInt8
    public var trunkFileID: Int32
    public var offset: Int32
    public var size: Int32

    public init(storePathIndex: UInt8, subdirHigh: UInt8, subdirLow: UInt8, trunkFileID: Int32, offset: Int32, size: Int32) {
        self.storePathIndex = storePathIndex
        self.subdirHigh = subdirHigh
        self.subdirLow = subdirLow
        self.trunkFileID = trunkFileID
        self.offset = offset
        self.size = size
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(storePathIndex)
        b.writeInteger(subdirHigh)
        b.writeInteger(subdirLow)
        b.writeInt32(trunkFileID)
        b.writeInt32(offset)
        b.writeInt32(size)
    }

    public static func decode(from r: inout FieldReader) throws(FDFSProtocolError) -> TrunkInfo {
        TrunkInfo(storePathIndex: try r.uint8("store path"), subdirHigh: try r.uint8("sub high"), subdirLow: try r.uint8("sub low"),
                  trunkFileID: try r.int32("trunk file id"), offset: try r.int32("offset"), size: try r.int32("size"))
    }
}

/// A 15-byte trunk info body (reply of TRUNK_ALLOC_SPACE).
public struct TrunkInfoBody: FDFSBody {
    public var info: TrunkInfo
    public init(_ info: TrunkInfo) { self.info = info }
    public func encode(into b: inout ByteBuffer) { info.encode(into: &b) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == TrunkInfo.size, "trunk info must be 15 bytes, got \(r.remaining)")
        return Self(try TrunkInfo.decode(from: &r))
    }
}

/// TRUNK_ALLOC_SPACE (27): group + file size (i32) + store path index (21 bytes).
public struct TrunkAllocSpaceRequest: FDFSRequest {
    public typealias Response = TrunkInfoBody
    public static let command = StorageToStorageCommand.trunkAllocSpace.rawValue
    public var group: GroupName
    public var fileSize: Int32
    public var storePathIndex: UInt8

    public init(group: GroupName, fileSize: Int32, storePathIndex: UInt8) {
        self.group = group
        self.fileSize = fileSize
        self.storePathIndex = storePathIndex
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeInt32(fileSize)
        b.writeInteger(storePathIndex)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 21, "body must be 21 bytes, got \(r.remaining)")
        return Self(group: try r.group(), fileSize: try r.int32("file size"), storePathIndex: try r.uint8("store path index"))
    }
}

/// Group + trunk info (31 bytes): TRUNK_ALLOC_CONFIRM (28, header status = upload outcome)
/// and TRUNK_FREE_SPACE (29).
public protocol TrunkSpaceRequest: FDFSRequest where Response == EmptyBody {
    var group: GroupName { get }
    var info: TrunkInfo { get }
    init(group: GroupName, info: TrunkInfo, headerStatus: UInt8)
}

extension TrunkSpaceRequest {
    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        info.encode(into: &b)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 31, "body must be 31 bytes, got \(r.remaining)")
        return Self(group: try r.group(), info: try TrunkInfo.decode(from: &r), headerStatus: headerStatus)
    }
}

public struct TrunkAllocConfirmRequest: TrunkSpaceRequest {
    public static let command = StorageToStorageCommand.trunkAllocConfirm.rawValue
    public var group: GroupName
    public var info: TrunkInfo
    /// The outcome of the upload that used the space (0 = success).
    public var outcome: UInt8
    public var headerStatus: UInt8 { outcome }
    public init(group: GroupName, info: TrunkInfo, headerStatus: UInt8) {
        self.group = group
        self.info = info
        self.outcome = headerStatus
    }
}

public struct TrunkFreeSpaceRequest: TrunkSpaceRequest {
    public static let command = StorageToStorageCommand.trunkFreeSpace.rawValue
    public var group: GroupName
    public var info: TrunkInfo
    public init(group: GroupName, info: TrunkInfo, headerStatus: UInt8 = 0) {
        self.group = group
        self.info = info
    }
}

/// TRUNK_SYNC_BINLOG (30): complete trunk binlog lines.
public struct TrunkSyncBinlogRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToStorageCommand.trunkSyncBinlog.rawValue
    public var lines: [UInt8]
    public init(lines: [UInt8]) { self.lines = lines }
    public func encode(into b: inout ByteBuffer) { b.writeBytes(lines) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let bytes = r.remainingBytes()
        guard bytes.isEmpty || bytes.last == UInt8(ascii: "\n") else {
            throw FDFSProtocolError(.invalidField, command: command, "trunk binlog text must end with a complete line")
        }
        return Self(lines: bytes)
    }
}

/// TRUNK_TRUNCATE_BINLOG_FILE (33): empty both ways.
public struct TrunkTruncateBinlogFileRequest: EmptyRequest {
    public typealias Response = EmptyBody
    public static let command = StorageToStorageCommand.trunkTruncateBinlogFile.rawValue
    public init() {}
}

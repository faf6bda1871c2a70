public import NIOCore

// Generated from the 348-byte table of protocol spec §4.5 / cluster spec §1.4; keep the field
// order: it is the wire order.

/// The storage statistics block: three connection counters (i32) and 42 cumulative
/// counters and timestamps (i64), 348 bytes. Sent in STORAGE_BEAT and embedded in every
/// storage-stat record.
public struct StorageStatistics: Hashable, Sendable {
    public static let size = 348

    public var connectionAllocCount: Int32 = 0
    public var connectionCurrentCount: Int32 = 0
    public var connectionMaxCount: Int32 = 0
    /// `total_upload_count`
    public var totalUploadCount: Int64 = 0
    /// `success_upload_count`
    public var successUploadCount: Int64 = 0
    /// `total_append_count`
    public var totalAppendCount: Int64 = 0
    /// `success_append_count`
    public var successAppendCount: Int64 = 0
    /// `total_modify_count`
    public var totalModifyCount: Int64 = 0
    /// `success_modify_count`
    public var successModifyCount: Int64 = 0
    /// `total_truncate_count`
    public var totalTruncateCount: Int64 = 0
    /// `success_truncate_count`
    public var successTruncateCount: Int64 = 0
    /// `total_set_meta_count`
    public var totalSetMetaCount: Int64 = 0
    /// `success_set_meta_count`
    public var successSetMetaCount: Int64 = 0
    /// `total_delete_count`
    public var totalDeleteCount: Int64 = 0
    /// `success_delete_count`
    public var successDeleteCount: Int64 = 0
    /// `total_download_count`
    public var totalDownloadCount: Int64 = 0
    /// `success_download_count`
    public var successDownloadCount: Int64 = 0
    /// `total_get_meta_count`
    public var totalGetMetaCount: Int64 = 0
    /// `success_get_meta_count`
    public var successGetMetaCount: Int64 = 0
    /// `total_create_link_count`
    public var totalCreateLinkCount: Int64 = 0
    /// `success_create_link_count`
    public var successCreateLinkCount: Int64 = 0
    /// `total_delete_link_count`
    public var totalDeleteLinkCount: Int64 = 0
    /// `success_delete_link_count`
    public var successDeleteLinkCount: Int64 = 0
    /// `total_upload_bytes`
    public var totalUploadBytes: Int64 = 0
    /// `success_upload_bytes`
    public var successUploadBytes: Int64 = 0
    /// `total_append_bytes`
    public var totalAppendBytes: Int64 = 0
    /// `success_append_bytes`
    public var successAppendBytes: Int64 = 0
    /// `total_modify_bytes`
    public var totalModifyBytes: Int64 = 0
    /// `success_modify_bytes`
    public var successModifyBytes: Int64 = 0
    /// `total_download_bytes`
    public var totalDownloadBytes: Int64 = 0
    /// `success_download_bytes`
    public var successDownloadBytes: Int64 = 0
    /// `total_sync_in_bytes`
    public var totalSyncInBytes: Int64 = 0
    /// `success_sync_in_bytes`
    public var successSyncInBytes: Int64 = 0
    /// `total_sync_out_bytes`
    public var totalSyncOutBytes: Int64 = 0
    /// `success_sync_out_bytes`
    public var successSyncOutBytes: Int64 = 0
    /// `total_file_open_count`
    public var totalFileOpenCount: Int64 = 0
    /// `success_file_open_count`
    public var successFileOpenCount: Int64 = 0
    /// `total_file_read_count`
    public var totalFileReadCount: Int64 = 0
    /// `success_file_read_count`
    public var successFileReadCount: Int64 = 0
    /// `total_file_write_count`
    public var totalFileWriteCount: Int64 = 0
    /// `success_file_write_count`
    public var successFileWriteCount: Int64 = 0
    /// `last_source_update`
    public var lastSourceUpdate: Int64 = 0
    /// `last_sync_update`
    public var lastSyncUpdate: Int64 = 0
    /// `last_synced_timestamp`
    public var lastSyncedTimestamp: Int64 = 0
    /// `last_heart_beat_time`
    public var lastHeartBeatTime: Int64 = 0

    public init() {}

    /// The i64 fields in wire order, by their FastDFS names (for the tracker's storage file
    /// and for tools).
    public static let int64FieldNames: [String] = [
        "total_upload_count",
        "success_upload_count",
        "total_append_count",
        "success_append_count",
        "total_modify_count",
        "success_modify_count",
        "total_truncate_count",
        "success_truncate_count",
        "total_set_meta_count",
        "success_set_meta_count",
        "total_delete_count",
        "success_delete_count",
        "total_download_count",
        "success_download_count",
        "total_get_meta_count",
        "success_get_meta_count",
        "total_create_link_count",
        "success_create_link_count",
        "total_delete_link_count",
        "success_delete_link_count",
        "total_upload_bytes",
        "success_upload_bytes",
        "total_append_bytes",
        "success_append_bytes",
        "total_modify_bytes",
        "success_modify_bytes",
        "total_download_bytes",
        "success_download_bytes",
        "total_sync_in_bytes",
        "success_sync_in_bytes",
        "total_sync_out_bytes",
        "success_sync_out_bytes",
        "total_file_open_count",
        "success_file_open_count",
        "total_file_read_count",
        "success_file_read_count",
        "total_file_write_count",
        "success_file_write_count",
        "last_source_update",
        "last_sync_update",
        "last_synced_timestamp",
        "last_heart_beat_time",
    ]

    /// The i64 fields in wire order.
    public var int64Fields: [Int64] {
        get {
            [
                totalUploadCount,
                successUploadCount,
                totalAppendCount,
                successAppendCount,
                totalModifyCount,
                successModifyCount,
                totalTruncateCount,
                successTruncateCount,
                totalSetMetaCount,
                successSetMetaCount,
                totalDeleteCount,
                successDeleteCount,
                totalDownloadCount,
                successDownloadCount,
                totalGetMetaCount,
                successGetMetaCount,
                totalCreateLinkCount,
                successCreateLinkCount,
                totalDeleteLinkCount,
                successDeleteLinkCount,
                totalUploadBytes,
                successUploadBytes,
                totalAppendBytes,
                successAppendBytes,
                totalModifyBytes,
                successModifyBytes,
                totalDownloadBytes,
                successDownloadBytes,
                totalSyncInBytes,
                successSyncInBytes,
                totalSyncOutBytes,
                successSyncOutBytes,
                totalFileOpenCount,
                successFileOpenCount,
                totalFileReadCount,
                successFileReadCount,
                totalFileWriteCount,
                successFileWriteCount,
                lastSourceUpdate,
                lastSyncUpdate,
                lastSyncedTimestamp,
                lastHeartBeatTime,
            ]
        }
        set {
            precondition(newValue.count == Self.int64FieldNames.count, "42 statistics fields expected")
            totalUploadCount = newValue[0]
            successUploadCount = newValue[1]
            totalAppendCount = newValue[2]
            successAppendCount = newValue[3]
            totalModifyCount = newValue[4]
            successModifyCount = newValue[5]
            totalTruncateCount = newValue[6]
            successTruncateCount = newValue[7]
            totalSetMetaCount = newValue[8]
            successSetMetaCount = newValue[9]
            totalDeleteCount = newValue[10]
            successDeleteCount = newValue[11]
            totalDownloadCount = newValue[12]
            successDownloadCount = newValue[13]
            totalGetMetaCount = newValue[14]
            successGetMetaCount = newValue[15]
            totalCreateLinkCount = newValue[16]
            successCreateLinkCount = newValue[17]
            totalDeleteLinkCount = newValue[18]
            successDeleteLinkCount = newValue[19]
            totalUploadBytes = newValue[20]
            successUploadBytes = newValue[21]
            totalAppendBytes = newValue[22]
            successAppendBytes = newValue[23]
            totalModifyBytes = newValue[24]
            successModifyBytes = newValue[25]
            totalDownloadBytes = newValue[26]
            successDownloadBytes = newValue[27]
            totalSyncInBytes = newValue[28]
            successSyncInBytes = newValue[29]
            totalSyncOutBytes = newValue[30]
            successSyncOutBytes = newValue[31]
            totalFileOpenCount = newValue[32]
            successFileOpenCount = newValue[33]
            totalFileReadCount = newValue[34]
            successFileReadCount = newValue[35]
            totalFileWriteCount = newValue[36]
            successFileWriteCount = newValue[37]
            lastSourceUpdate = newValue[38]
            lastSyncUpdate = newValue[39]
            lastSyncedTimestamp = newValue[40]
            lastHeartBeatTime = newValue[41]
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInt32(connectionAllocCount)
        buffer.writeInt32(connectionCurrentCount)
        buffer.writeInt32(connectionMaxCount)
        for value in int64Fields { buffer.writeInt64(value) }
    }

    public static func decode(from reader: inout FieldReader) throws(FDFSProtocolError) -> StorageStatistics {
        var s = StorageStatistics()
        s.connectionAllocCount = try reader.int32("connection alloc count")
        s.connectionCurrentCount = try reader.int32("connection current count")
        s.connectionMaxCount = try reader.int32("connection max count")
        var values: [Int64] = []
        values.reserveCapacity(Self.int64FieldNames.count)
        for name in Self.int64FieldNames { values.append(try reader.int64(name)) }
        s.int64Fields = values
        return s
    }
}

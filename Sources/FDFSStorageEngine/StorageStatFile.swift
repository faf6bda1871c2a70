/// The storage's operation counters as `storage_stat.dat` persists them: the 40 values of
/// §7.2 other than the subdirectory cursor, each with the C name in camel case. Counts are
/// numbers of requests, `…Bytes` are bytes.
///
/// This is deliberately not the protocol's statistics record (no FDFSProtocol dependency):
/// the file order differs from the wire order, and ``StorageStatFile/counterKeys`` is the one
/// place that fixes the file order.
public struct StorageCounters: Hashable, Sendable {
    public var totalUploadCount: Int64 = 0
    public var successUploadCount: Int64 = 0
    public var totalAppendCount: Int64 = 0
    public var successAppendCount: Int64 = 0
    public var totalModifyCount: Int64 = 0
    public var successModifyCount: Int64 = 0
    public var totalTruncateCount: Int64 = 0
    public var successTruncateCount: Int64 = 0
    public var totalDownloadCount: Int64 = 0
    public var successDownloadCount: Int64 = 0
    /// Unix time (seconds) of the last file change by a client of this storage.
    public var lastSourceUpdate: Int64 = 0
    /// Unix time (seconds) of the last file change received from a peer.
    public var lastSyncUpdate: Int64 = 0
    public var totalSetMetaCount: Int64 = 0
    public var successSetMetaCount: Int64 = 0
    public var totalDeleteCount: Int64 = 0
    public var successDeleteCount: Int64 = 0
    public var totalGetMetaCount: Int64 = 0
    public var successGetMetaCount: Int64 = 0
    public var totalCreateLinkCount: Int64 = 0
    public var successCreateLinkCount: Int64 = 0
    public var totalDeleteLinkCount: Int64 = 0
    public var successDeleteLinkCount: Int64 = 0
    public var totalUploadBytes: Int64 = 0
    public var successUploadBytes: Int64 = 0
    public var totalAppendBytes: Int64 = 0
    public var successAppendBytes: Int64 = 0
    public var totalModifyBytes: Int64 = 0
    public var successModifyBytes: Int64 = 0
    public var totalDownloadBytes: Int64 = 0
    public var successDownloadBytes: Int64 = 0
    public var totalSyncInBytes: Int64 = 0
    public var successSyncInBytes: Int64 = 0
    public var totalSyncOutBytes: Int64 = 0
    public var successSyncOutBytes: Int64 = 0
    public var totalFileOpenCount: Int64 = 0
    public var successFileOpenCount: Int64 = 0
    public var totalFileReadCount: Int64 = 0
    public var successFileReadCount: Int64 = 0
    public var totalFileWriteCount: Int64 = 0
    public var successFileWriteCount: Int64 = 0

    public init() {}

    /// The counter stored under a C key name (`"total_upload_count"`), nil for other keys; lets
    /// a caller map these counters to another record (the wire statistics) by name.
    public func value(forKey key: String) -> Int64? {
        StorageStatFile.counterKeys.first { $0.key == key }.map { self[keyPath: $0.property] }
    }

    /// Sets the counter stored under a C key name; false (nothing changed) for other keys.
    @discardableResult
    public mutating func setValue(_ value: Int64, forKey key: String) -> Bool {
        guard let property = StorageStatFile.counterKeys.first(where: { $0.key == key })?.property else { return false }
        self[keyPath: property] = value
        return true
    }
}

/// `<base_path>/data/storage_stat.dat` (cluster spec §7.2): the counters and the round-robin
/// subdirectory cursor (§7.4), rewritten every `sync_stat_file_interval` seconds.
///
/// Reading: a key that is missing is 0 (C `iniGetInt64Value(..., 0)`); a file with fewer than
/// 12 keys is refused, as the C storage refuses it (`ENOENT`). Unknown keys are ignored and not
/// kept: C rewrites the file from its fixed key list, so they would not survive there either,
/// and keeping them would make `format()` depend on where a value was read from.
public struct StorageStatFile: KeyValueStateFile, Hashable {
    public static let fileName = "storage_stat.dat"

    /// `<base_path>/data/storage_stat.dat`.
    public static func path(basePath: String) -> String { basePath + "/data/" + fileName }

    /// The C loader's minimum number of keys.
    public static let minimumKeyCount = 12

    public var counters: StorageCounters
    /// The round-robin subdirectory cursor (§7.4): first-level directory index.
    public var distPathIndexHigh: Int64
    /// Second-level directory index.
    public var distPathIndexLow: Int64
    /// Files written into the current subdirectory since the cursor last moved.
    public var distWriteFileCount: Int64

    public init(counters: StorageCounters = StorageCounters(), distPathIndexHigh: Int64 = 0, distPathIndexLow: Int64 = 0, distWriteFileCount: Int64 = 0) {
        self.counters = counters
        self.distPathIndexHigh = distPathIndexHigh
        self.distPathIndexLow = distPathIndexLow
        self.distWriteFileCount = distWriteFileCount
    }

    /// The 40 counter keys in file order (§7.2) with their properties. `last_source_update` and
    /// `last_sync_update` sit after the download counters here, unlike on the wire.
    ///
    /// Computed, not stored: key paths are not `Sendable`, so a stored table would be global
    /// mutable state to the compiler; building it once per file read or write costs nothing.
    public static var counterKeys: [(key: String, property: WritableKeyPath<StorageCounters, Int64>)] {
        [
            ("total_upload_count", \.totalUploadCount),
            ("success_upload_count", \.successUploadCount),
            ("total_append_count", \.totalAppendCount),
            ("success_append_count", \.successAppendCount),
            ("total_modify_count", \.totalModifyCount),
            ("success_modify_count", \.successModifyCount),
            ("total_truncate_count", \.totalTruncateCount),
            ("success_truncate_count", \.successTruncateCount),
            ("total_download_count", \.totalDownloadCount),
            ("success_download_count", \.successDownloadCount),
            ("last_source_update", \.lastSourceUpdate),
            ("last_sync_update", \.lastSyncUpdate),
            ("total_set_meta_count", \.totalSetMetaCount),
            ("success_set_meta_count", \.successSetMetaCount),
            ("total_delete_count", \.totalDeleteCount),
            ("success_delete_count", \.successDeleteCount),
            ("total_get_meta_count", \.totalGetMetaCount),
            ("success_get_meta_count", \.successGetMetaCount),
            ("total_create_link_count", \.totalCreateLinkCount),
            ("success_create_link_count", \.successCreateLinkCount),
            ("total_delete_link_count", \.totalDeleteLinkCount),
            ("success_delete_link_count", \.successDeleteLinkCount),
            ("total_upload_bytes", \.totalUploadBytes),
            ("success_upload_bytes", \.successUploadBytes),
            ("total_append_bytes", \.totalAppendBytes),
            ("success_append_bytes", \.successAppendBytes),
            ("total_modify_bytes", \.totalModifyBytes),
            ("success_modify_bytes", \.successModifyBytes),
            ("total_download_bytes", \.totalDownloadBytes),
            ("success_download_bytes", \.successDownloadBytes),
            ("total_sync_in_bytes", \.totalSyncInBytes),
            ("success_sync_in_bytes", \.successSyncInBytes),
            ("total_sync_out_bytes", \.totalSyncOutBytes),
            ("success_sync_out_bytes", \.successSyncOutBytes),
            ("total_file_open_count", \.totalFileOpenCount),
            ("success_file_open_count", \.successFileOpenCount),
            ("total_file_read_count", \.totalFileReadCount),
            ("success_file_read_count", \.successFileReadCount),
            ("total_file_write_count", \.totalFileWriteCount),
            ("success_file_write_count", \.successFileWriteCount),
        ]
    }

    /// Every key in file order (the counters, then the cursor): 43 lines.
    public static var keys: [(key: String, property: WritableKeyPath<StorageStatFile, Int64>)] {
        let cursor: [(key: String, property: WritableKeyPath<StorageStatFile, Int64>)] = [
            ("dist_path_index_high", \.distPathIndexHigh),
            ("dist_path_index_low", \.distPathIndexLow),
            ("dist_write_file_count", \.distWriteFileCount),
        ]
        let counters: WritableKeyPath<StorageStatFile, StorageCounters> = \.counters
        let counterLines: [(key: String, property: WritableKeyPath<StorageStatFile, Int64>)] =
            counterKeys.map { (key: $0.key, property: counters.appending(path: $0.property)) }
        return counterLines + cursor
    }

    public init(parsing text: String, path: String) throws(StateFileError) {
        let file = try KeyValueFile(parsing: text, path: path)
        try file.requireMinimumCount(Self.minimumKeyCount)
        self.init()
        for (key, property) in Self.keys {
            self[keyPath: property] = try file.int64(key, default: 0)
        }
    }

    public func format() -> String {
        KeyValueFile.format(Self.keys.map { ($0.key, String(self[keyPath: $0.property])) })
    }
}

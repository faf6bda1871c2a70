public import FDFSModel

/// `<base_path>/data/sync/<peer>.mark` (cluster spec §5.6): how far this storage has replayed
/// its binlog to one destination peer. (Trunk sync marks in `data/trunk/` use the same names.)
///
/// Reading: as in C, a file with fewer than 7 keys is refused, and so are a negative
/// `binlog_index` or `binlog_offset`. Stricter than C, each of the 7 keys must be present
/// (C would fall back to -1 / 0 for a key replaced by some other key, which restarts the
/// replay from an invalid or initial position); unknown keys are ignored.
public struct SyncMark: KeyValueStateFile, Hashable {
    public static let fileExtension = ".mark"
    /// The C loader's minimum number of keys.
    public static let minimumKeyCount = 7

    public enum Key {
        public static let binlogIndex = "binlog_index"
        public static let binlogOffset = "binlog_offset"
        public static let needSyncOld = "need_sync_old"
        public static let syncOldDone = "sync_old_done"
        public static let untilTimestamp = "until_timestamp"
        public static let scanRowCount = "scan_row_count"
        public static let syncRowCount = "sync_row_count"
    }

    /// Index of the binlog file the reader is in (`binlog.NNN`).
    public var binlogIndex: Int
    /// Byte offset in that binlog file of the first record not yet confirmed.
    public var binlogOffset: Int64
    /// True when this storage is the designated sync source for the peer (sends old data).
    public var needSyncOld: Bool
    /// True once the old-data pass reached the end of the binlog.
    public var syncOldDone: Bool
    /// Unix time (seconds) obtained from SYNC_SRC_REQ.
    public var untilTimestamp: Int64
    /// Binlog records scanned for this peer.
    public var scanRowCount: Int64
    /// Records successfully pushed to this peer.
    public var syncRowCount: Int64

    public init(
        binlogIndex: Int = 0, binlogOffset: Int64 = 0, needSyncOld: Bool = false, syncOldDone: Bool = false,
        untilTimestamp: Int64 = 0, scanRowCount: Int64 = 0, syncRowCount: Int64 = 0
    ) {
        self.binlogIndex = binlogIndex
        self.binlogOffset = binlogOffset
        self.needSyncOld = needSyncOld
        self.syncOldDone = syncOldDone
        self.untilTimestamp = untilTimestamp
        self.scanRowCount = scanRowCount
        self.syncRowCount = syncRowCount
    }

    public init(parsing text: String, path: String) throws(StateFileError) {
        let file = try KeyValueFile(parsing: text, path: path)
        try file.requireMinimumCount(Self.minimumKeyCount)
        guard let binlogIndex = try file.int(Key.binlogIndex, in: 0...Int(Int32.max)) else {
            throw .missingKey(path: path, key: Key.binlogIndex)
        }
        self.binlogIndex = binlogIndex
        binlogOffset = try file.requiredInt64(Key.binlogOffset)
        guard binlogOffset >= 0 else {
            throw .invalidValue(path: path, key: Key.binlogOffset, value: String(binlogOffset), expected: "an offset >= 0")
        }
        guard let needSyncOld = try file.booleanFlag(Key.needSyncOld) else { throw .missingKey(path: path, key: Key.needSyncOld) }
        self.needSyncOld = needSyncOld
        guard let syncOldDone = try file.booleanFlag(Key.syncOldDone) else { throw .missingKey(path: path, key: Key.syncOldDone) }
        self.syncOldDone = syncOldDone
        untilTimestamp = try file.requiredInt64(Key.untilTimestamp)
        scanRowCount = try file.requiredInt64(Key.scanRowCount)
        syncRowCount = try file.requiredInt64(Key.syncRowCount)
    }

    /// The C `storage_write_to_mark_file` output.
    public func format() -> String {
        KeyValueFile.format([
            (Key.binlogIndex, String(binlogIndex)),
            (Key.binlogOffset, String(binlogOffset)),
            (Key.needSyncOld, needSyncOld ? "1" : "0"),
            (Key.syncOldDone, syncOldDone ? "1" : "0"),
            (Key.untilTimestamp, String(untilTimestamp)),
            (Key.scanRowCount, String(scanRowCount)),
            (Key.syncRowCount, String(syncRowCount)),
        ])
    }

    // MARK: - File names

    /// `<base_path>/data/sync`.
    public static func directory(basePath: String) -> String { basePath + "/data/sync" }

    /// `<base_path>/data/sync/<fileName>`.
    public static func path(basePath: String, fileName: String) -> String { directory(basePath: basePath) + "/" + fileName }

    /// `<peer id>.mark`: the name with `use_storage_id`.
    public static func fileName(peerID: StorageID) -> String { peerID.rawValue + fileExtension }

    /// `<peer ip>_<own port>.mark`: the name without storage ids. The port is this storage's own
    /// service port, not the peer's (all storages of a group share one port anyway).
    public static func fileName(peerIPAddress: String, ownPort: Int) -> String {
        peerIPAddress + "_" + String(ownPort) + fileExtension
    }

    /// The §5.6 naming rule. With ids on and no id-named file, the caller renames an existing
    /// `fileName(peerIPAddress:ownPort:)` file to this name.
    public static func fileName(useStorageID: Bool, peerID: StorageID, peerIPAddress: String, ownPort: Int) -> String {
        useStorageID ? fileName(peerID: peerID) : fileName(peerIPAddress: peerIPAddress, ownPort: ownPort)
    }

    /// The new name of an `<ip>_<oldPort>.mark` file after this storage's port changed (§1.5);
    /// nil when `fileName` is not such a file (an id-named mark, another port, another file).
    public static func fileNameAfterPortChange(_ fileName: String, oldPort: Int, newPort: Int) -> String? {
        let oldSuffix = "_" + String(oldPort) + fileExtension
        guard fileName.hasSuffix(oldSuffix), fileName.count > oldSuffix.count else { return nil }
        return String(fileName.dropLast(oldSuffix.count)) + "_" + String(newPort) + fileExtension
    }

    /// The name a mark file gets when its peer is deleted (§5.6): `<name>.<YYYYMMDDhhmmss>`.
    public static func deletedFileName(_ fileName: String, timestamp: String) -> String { fileName + "." + timestamp }

    /// As above, with the timestamp from a unix time. C formats the local time of the storage
    /// host, so pass the host's UTC offset (at `unixTime`) to produce the same name; 0 gives UTC.
    public static func deletedFileName(_ fileName: String, unixTime: Int64, utcOffsetSeconds: Int = 0) -> String {
        deletedFileName(fileName, timestamp: renameTimestamp(unixTime: unixTime, utcOffsetSeconds: utcOffsetSeconds))
    }

    /// `YYYYMMDDhhmmss` of `unixTime` shifted by `utcOffsetSeconds` (proleptic Gregorian; no
    /// Foundation, so the pure computation is the same on every platform).
    public static func renameTimestamp(unixTime: Int64, utcOffsetSeconds: Int = 0) -> String {
        let local = unixTime + Int64(utcOffsetSeconds)
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondsOfDay = local - days * 86_400
        // Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil inverse).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return pad(year, 4) + pad(month, 2) + pad(day, 2)
            + pad(secondsOfDay / 3600, 2) + pad(secondsOfDay / 60 % 60, 2) + pad(secondsOfDay % 60, 2)
    }
}

/// `<base_path>/data/.data_init_flag` (cluster spec §7.2): who this storage is across restarts.
///
/// The C storage 6.16.1 writes the keys in this order and nothing else; unknown keys (such as
/// `last_http_port` of FastDFS 5.x) are ignored on reading and therefore dropped by the next
/// rewrite, as the C storage does.
public struct StorageInitFlag: KeyValueStateFile, Hashable {
    public static let fileName = ".data_init_flag"

    /// `<base_path>/data/.data_init_flag`.
    public static func path(basePath: String) -> String { basePath + "/data/" + fileName }

    public enum Key {
        public static let storageJoinTime = "storage_join_time"
        public static let syncOldDone = "sync_old_done"
        public static let syncSourceServer = "sync_src_server"
        public static let syncUntilTimestamp = "sync_until_timestamp"
        public static let lastIPAddresses = "last_ip_addr"
        public static let lastServerPort = "last_server_port"
        public static let currentTrunkFileID = "current_trunk_file_id"
        public static let trunkLastCompressTime = "trunk_last_compress_time"
        public static let trunkBinlogCompressStage = "trunk_binlog_compress_stage"
        /// Followed by the decimal store path index: `store_path_mark0`.
        public static let storePathMarkPrefix = "store_path_mark"
    }

    /// Unix time (seconds) of the very first start; sent as join_time in JOIN.
    public var storageJoinTime: Int64
    /// True once the SYNC_DEST_REQ phase has completed (§2.4); not "the data copy finished".
    public var syncOldDone: Bool
    /// Id (or, without storage ids, IP address) of this storage's sync source; empty for none.
    public var syncSourceServer: String
    /// Unix time (seconds) that came with the sync source; 0 for none.
    public var syncUntilTimestamp: Int64
    /// This storage's IP address(es) at the last run, comma separated as written (§1.5 IP change).
    public var lastIPAddresses: String
    /// Service port at the last run; 0 when the file had none (see ``isLastServerPortMissing``).
    public var lastServerPort: Int
    public var currentTrunkFileID: Int64
    /// Unix time (seconds) of the last trunk binlog compression.
    public var trunkLastCompressTime: Int64
    /// 0...9, the crash-recovery state of trunk binlog compression.
    public var trunkBinlogCompressStage: Int
    /// `store_path_mark<i>` by store path index: the 75-character marks of ``StorePathMark``,
    /// kept as text because C compares them as strings.
    public var storePathMarks: [Int: String]

    public init(
        storageJoinTime: Int64, syncOldDone: Bool = false, syncSourceServer: String = "", syncUntilTimestamp: Int64 = 0,
        lastIPAddresses: String = "", lastServerPort: Int, currentTrunkFileID: Int64 = 0, trunkLastCompressTime: Int64 = 0,
        trunkBinlogCompressStage: Int = 0, storePathMarks: [Int: String] = [:]
    ) {
        self.storageJoinTime = storageJoinTime
        self.syncOldDone = syncOldDone
        self.syncSourceServer = syncSourceServer
        self.syncUntilTimestamp = syncUntilTimestamp
        self.lastIPAddresses = lastIPAddresses
        self.lastServerPort = lastServerPort
        self.currentTrunkFileID = currentTrunkFileID
        self.trunkLastCompressTime = trunkLastCompressTime
        self.trunkBinlogCompressStage = trunkBinlogCompressStage
        self.storePathMarks = storePathMarks
    }

    /// The file of a first start (§7.2): joined now, `sync_old_done=0`, no sync source, the
    /// current port.
    public static func new(now unixTime: Int64, serverPort: Int, ipAddresses: String = "") -> StorageInitFlag {
        StorageInitFlag(storageJoinTime: unixTime, lastIPAddresses: ipAddresses, lastServerPort: serverPort)
    }

    /// The last IP addresses one by one.
    public var lastIPAddressList: [String] {
        lastIPAddresses.split(separator: ",").map { String($0) }.filter { !$0.isEmpty }
    }

    /// The C storage then stores the current port and rewrites the file at once (§7.2).
    public var isLastServerPortMissing: Bool { lastServerPort == 0 }

    /// Applies the missing-port rule: returns true when the port was missing and has been set,
    /// i.e. when the caller must save the file.
    public mutating func adoptServerPortIfMissing(_ port: Int) -> Bool {
        guard isLastServerPortMissing else { return false }
        lastServerPort = port
        return true
    }

    /// `storage_join_time`, `sync_old_done` and `sync_src_server` are mandatory, as in C
    /// (missing: startup fails); every other key defaults to 0 / empty.
    public init(parsing text: String, path: String) throws(StateFileError) {
        let file = try KeyValueFile(parsing: text, path: path)
        storageJoinTime = try file.requiredInt64(Key.storageJoinTime)
        guard let syncOldDone = try file.integerFlag(Key.syncOldDone) else {
            throw .missingKey(path: path, key: Key.syncOldDone)
        }
        self.syncOldDone = syncOldDone
        syncSourceServer = try file.requiredString(Key.syncSourceServer)
        syncUntilTimestamp = try file.int64(Key.syncUntilTimestamp, default: 0)
        lastIPAddresses = file[Key.lastIPAddresses] ?? ""
        lastServerPort = try file.int(Key.lastServerPort, in: 0...65535) ?? 0
        currentTrunkFileID = try file.int64(Key.currentTrunkFileID, default: 0)
        trunkLastCompressTime = try file.int64(Key.trunkLastCompressTime, default: 0)
        trunkBinlogCompressStage = try file.int(Key.trunkBinlogCompressStage, in: 0...9) ?? 0
        storePathMarks = [:]
        for entry in file.entries where entry.key.hasPrefix(Key.storePathMarkPrefix) {
            let suffix = entry.key.dropFirst(Key.storePathMarkPrefix.count)
            // A non-numeric suffix is some other key; C only looks up store_path_mark0...N-1.
            guard !suffix.isEmpty, suffix.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { continue }
            guard let index = Int(suffix), index < 256, String(index) == suffix else {
                throw .invalidValue(path: path, key: entry.key, value: entry.value, expected: "store_path_mark0 ... store_path_mark255")
            }
            storePathMarks[index] = entry.value
        }
    }

    /// The C `storage_write_to_sync_ini_file` output: the nine fixed keys, then one
    /// `store_path_mark<i>` per store path that has a mark, in index order.
    public func format() -> String {
        var pairs: [(key: String, value: String)] = [
            (Key.storageJoinTime, String(storageJoinTime)),
            (Key.syncOldDone, syncOldDone ? "1" : "0"),
            (Key.syncSourceServer, syncSourceServer),
            (Key.syncUntilTimestamp, String(syncUntilTimestamp)),
            (Key.lastIPAddresses, lastIPAddresses),
            (Key.lastServerPort, String(lastServerPort)),
            (Key.currentTrunkFileID, String(currentTrunkFileID)),
            (Key.trunkLastCompressTime, String(trunkLastCompressTime)),
            (Key.trunkBinlogCompressStage, String(trunkBinlogCompressStage)),
        ]
        for index in storePathMarks.keys.sorted() {
            pairs.append((Key.storePathMarkPrefix + String(index), storePathMarks[index]!))
        }
        return KeyValueFile.format(pairs)
    }
}

public import FDFSModel
public import FDFSProtocol

/// One storage server as a tracker knows it: identity, the status of the cluster state
/// machine (cluster spec §2), what it reported, and its sync bookkeeping. This is also the
/// unit of `storage_servers_new.dat` (§3.3).
public struct TrackedStorage: Hashable, Sendable {
    public var id: StorageID
    public var group: GroupName
    /// One or two addresses (inner first); `ipAddresses[0]` is the one written as `ip_addr`.
    public var ipAddresses: [String]
    public var port: Int
    public var status: StorageStatus
    public var rwMode: StorageRWMode = .both
    public var version: String = ""
    /// `storage_join_time` of the storage: its very first start.
    public var joinTime: Int64 = 0
    /// Start time of the storage process; 0 while not connected.
    public var upTime: Int64 = 0
    public var totalMB: Int64 = 0
    public var freeMB: Int64 = 0
    /// Per store path, from REPORT_DISK_USAGE.
    public var pathUsage: [ReportDiskUsageRequest.PathUsage] = []
    public var storePathCount: Int = 0
    public var subdirCountPerPath: Int = 0
    public var uploadPriority: Int64 = 0
    /// The store path the tracker tells uploaders to use (round robin or most free).
    public var currentWritePath: Int = 0
    /// The storage it copies its old data from (new-member procedure, §2.4).
    public var syncSourceID: StorageID? = nil
    public var syncUntilTimestamp: Int64 = 0
    /// How far into `storage_changelog.dat` this storage has read.
    public var changelogOffset: Int64 = 0
    /// The counters of the 348-byte block, including `lastSourceUpdate`, `lastSyncUpdate`,
    /// `lastSyncedTimestamp` and `lastHeartBeatTime` (which the tracker maintains itself).
    public var statistics = StorageStatistics()

    public init(id: StorageID, group: GroupName, ipAddresses: [String], port: Int, status: StorageStatus) {
        self.id = id
        self.group = group
        self.ipAddresses = ipAddresses
        self.port = port
        self.status = status
    }

    public var primaryIPAddress: String { ipAddresses.first ?? "" }
}

/// One group as a tracker knows it; the unit of `storage_groups_new.dat` (§3.2).
public struct TrackedGroup: Hashable, Sendable {
    public var name: GroupName
    /// The port all members use; -1 when mixed ports are allowed (ids in file names).
    public var storagePort: Int = 0
    public var storePathCount: Int = 0
    public var subdirCountPerPath: Int = 0
    public var currentTrunkFileID: Int64 = 0
    public var trunkServerID: StorageID? = nil
    public var lastTrunkServerID: StorageID? = nil

    public init(name: GroupName) { self.name = name }
}

/// `storage_sync_timestamp.dat` (§3.4): for one group and one source storage, the newest
/// source timestamp each destination (in the group's storage order) reported as received.
public struct SyncTimestampRow: Hashable, Sendable {
    public var group: GroupName
    public var sourceID: StorageID
    public var timestamps: [Int64]

    public init(group: GroupName, sourceID: StorageID, timestamps: [Int64]) {
        self.group = group
        self.sourceID = sourceID
        self.timestamps = timestamps
    }
}

/// Everything a tracker persists: what its data files hold, in file order (groups by name;
/// storages by group name, then in the order they were first added).
public struct ClusterSnapshot: Hashable, Sendable {
    public var groups: [TrackedGroup]
    public var storages: [TrackedStorage]
    public var syncTimestamps: [SyncTimestampRow]

    public init(groups: [TrackedGroup] = [], storages: [TrackedStorage] = [], syncTimestamps: [SyncTimestampRow] = []) {
        self.groups = groups
        self.storages = storages
        self.syncTimestamps = syncTimestamps
    }
}

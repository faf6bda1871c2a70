public import FDFSConfig
public import FDFSModel
public import FDFSProtocol

/// The tracker settings the cluster state machine needs, taken once from tracker.conf and
/// storage_ids.conf. Values, so that tests can build any policy directly.
public struct TrackerPolicy: Sendable {
    public var storeLookup: StoreLookup = .roundRobin
    public var storeGroup: GroupName? = nil
    public var storeServer: StoreServerSelection = .roundRobin
    public var storePath: StorePathSelection = .roundRobin
    public var downloadServer: DownloadServerSelection = .roundRobin
    public var reservedStorageSpace: ReservedStorageSpace = .bytes(1024 * 1024 * 1024)
    public var checkActiveIntervalSeconds: Int64 = 100
    public var storageSyncFileMaxDelaySeconds: Int64 = 86400
    public var storageSyncFileMaxTimeSeconds: Int64 = 300
    public var storageIPChangedAutoAdjust = true
    public var useStorageID = false
    public var trustStorageServerID = true
    public var idTypeInFilename: IDTypeInFilename = .ip
    public var storeSlaveFileUseLink = false
    public var ipAddressSize: IPAddressSize = .ipv4
    public var storageIDs: StorageIDs? = nil
    public var trunk = TrunkSettings()
    /// This tracker's own service port (to find itself in the storages' tracker lists).
    public var port: Int = 22122

    public init() {}

    public init(configuration c: TrackerConfiguration, storageIDs: StorageIDs?) {
        storeLookup = c.storeLookup
        storeGroup = c.storeGroup
        storeServer = c.effectiveStoreServer
        storePath = c.storePath
        downloadServer = c.downloadServer
        reservedStorageSpace = c.reservedStorageSpace
        checkActiveIntervalSeconds = Int64(c.checkActiveIntervalSeconds)
        storageSyncFileMaxDelaySeconds = Int64(c.storageSyncFileMaxDelaySeconds)
        storageSyncFileMaxTimeSeconds = Int64(c.storageSyncFileMaxTimeSeconds)
        storageIPChangedAutoAdjust = c.storageIPChangedAutoAdjust
        useStorageID = c.useStorageID
        trustStorageServerID = c.trustStorageServerID
        idTypeInFilename = c.effectiveIDTypeInFilename
        storeSlaveFileUseLink = c.storeSlaveFileUseLink
        ipAddressSize = c.responseIPAddrSizeBytes(storageIDs: storageIDs) == IPAddressSize.ipv6.rawValue ? .ipv6 : .ipv4
        self.storageIDs = storageIDs
        trunk = c.trunk
        port = c.port
    }

    static let bytesPerMB: Int64 = 1024 * 1024

    /// The reserved space of something with `totalMB`, in MB (fixed, or total x ratio).
    func reservedMB(totalMB: Int64) -> Int64 {
        switch reservedStorageSpace {
        case .bytes(let n): n / Self.bytesPerMB
        case .percent(let p): Int64(Double(totalMB) * p / 100)
        }
    }

    /// Whether free space is above the reserve (a group, or a storage as a whole).
    func hasSpace(totalMB: Int64, freeMB: Int64) -> Bool {
        switch reservedStorageSpace {
        case .bytes(let n): freeMB > n / Self.bytesPerMB
        case .percent(let p): totalMB > 0 && Double(freeMB) / Double(totalMB) * 100 > p
        }
    }

    /// Whether one store path is above its share of the reserve (cluster spec §7.3).
    func pathHasSpace(_ usage: ReportDiskUsageRequest.PathUsage, pathCount: Int) -> Bool {
        switch reservedStorageSpace {
        case .bytes(let n): usage.freeMB > n / Self.bytesPerMB / Int64(max(1, pathCount))
        case .percent(let p): usage.totalMB > 0 && Double(usage.freeMB) / Double(usage.totalMB) * 100 > p
        }
    }

    /// The `key=value` lines of STORAGE_PARAMETER_REQ, in the C order (protocol spec §4.19).
    var parameters: TrackerParameters {
        func flag(_ b: Bool) -> String { b ? "1" : "0" }
        let reserved: String = switch reservedStorageSpace {
        case .bytes(let n): "\(n / Self.bytesPerMB)MB"
        case .percent(let p): String(format2: p) + "%"
        }
        let t = trunk
        return TrackerParameters(entries: [
            .init("use_storage_id", flag(useStorageID)),
            .init("id_type_in_filename", idTypeInFilename.rawValue),
            .init("trust_storage_server_id", flag(trustStorageServerID)),
            .init("response_ip_addr_size", String(ipAddressSize.rawValue)),
            .init("storage_ip_changed_auto_adjust", flag(storageIPChangedAutoAdjust)),
            .init("storage_sync_file_max_delay", String(storageSyncFileMaxDelaySeconds)),
            .init("store_path", String(storePath.rawValue)),
            .init("reserved_storage_space", reserved),
            .init("use_trunk_file", flag(t.useTrunkFile)),
            .init("slot_min_size", String(t.slotMinSizeBytes)),
            .init("slot_max_size", String(t.slotMaxSizeBytes)),
            .init("trunk_alloc_alignment_size", String(t.allocAlignmentSizeBytes)),
            .init("trunk_file_size", String(t.trunkFileSizeBytes)),
            .init("trunk_create_file_advance", flag(t.createFileAdvance)),
            .init("trunk_create_file_time_base", t.createFileTimeBase.description),
            .init("trunk_create_file_interval", String(t.createFileIntervalSeconds)),
            .init("trunk_create_file_space_threshold", String(t.createFileSpaceThresholdBytes)),
            .init("trunk_init_check_occupying", flag(t.initCheckOccupying)),
            .init("trunk_init_reload_from_binlog", flag(t.initReloadFromBinlog)),
            .init("trunk_free_space_merge", flag(t.freeSpaceMerge)),
            .init("delete_unused_trunk_files", flag(t.deleteUnusedTrunkFiles)),
            .init("trunk_compress_binlog_min_interval", String(t.compressBinlogMinIntervalSeconds)),
            .init("trunk_compress_binlog_interval", String(t.compressBinlogIntervalSeconds)),
            .init("trunk_compress_binlog_time_base", t.compressBinlogTimeBase.description),
            .init("trunk_binlog_max_backups", String(t.binlogMaxBackups)),
            .init("store_slave_file_use_link", flag(storeSlaveFileUseLink)),
        ])
    }
}

extension String {
    /// Two decimals, as the C tracker prints a percentage (`10.00`).
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        self = "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }
}

public import FDFSModel

/// `store_lookup`: how the tracker picks the group for an upload.
public enum StoreLookup: Int, Hashable, Sendable {
    case roundRobin = 0
    /// Always `store_group`.
    case specifiedGroup = 1
    /// The group with the most free space.
    case loadBalance = 2
}

/// `store_server`: how the tracker picks the storage inside a group for an upload.
public enum StoreServerSelection: Int, Hashable, Sendable {
    case roundRobin = 0
    /// The first storage by id/IP order.
    case firstByIP = 1
    /// The storage with the lowest `upload_priority`.
    case firstByPriority = 2
}

/// `store_path`: how a storage picks the store path for an upload (pushed to storages).
public enum StorePathSelection: Int, Hashable, Sendable {
    case roundRobin = 0
    /// The path with the most free space.
    case loadBalance = 2
}

/// `download_server`: how the tracker picks the storage for a download.
public enum DownloadServerSelection: Int, Hashable, Sendable {
    case roundRobin = 0
    /// The storage the file was uploaded to, when possible.
    case sourceFirst = 1
}

/// `id_type_in_filename`: what new file names carry as the source storage.
public enum IDTypeInFilename: String, Hashable, Sendable {
    case ip, id

    public static func parse(_ text: String) throws(ConfigValueError) -> IDTypeInFilename {
        try ConfigValue.parseKeyword(text, ["ip": .ip, "id": .id])
    }
}

/// `response_ip_addr_size`: the width of IP fields in replies to clients (protocol spec §10.2).
public enum ResponseIPAddrSize: Hashable, Sendable {
    /// 16 bytes, or 46 when `use_storage_id` is on and storage_ids.conf has an IPv6 address.
    case auto
    /// Any other text selects 46 bytes (the C tracker treats every value but `auto` so, even
    /// `IPv4`). The text is kept as written.
    case explicit(String)

    public static let ipv4FieldBytes = 16
    public static let ipv6FieldBytes = 46

    public static func parse(_ text: String) -> ResponseIPAddrSize {
        text.lowercased() == "auto" ? .auto : .explicit(text)
    }

    /// The field width in bytes.
    public func resolvedBytes(useStorageID: Bool, storageIDsContainIPv6: Bool) -> Int {
        switch self {
        case .auto: useStorageID && storageIDsContainIPv6 ? Self.ipv6FieldBytes : Self.ipv4FieldBytes
        case .explicit: Self.ipv6FieldBytes
        }
    }
}

/// Trunk-file settings (small files packed into large trunk files). All pushed to storages.
public struct TrunkSettings: Hashable, Sendable {
    public var useTrunkFile = false
    /// `slot_min_size`, after the C adjustments (at most 64 KB, at least the alignment).
    public var slotMinSizeBytes = 256
    /// `slot_max_size`, default `trunk_file_size / 8`, at most `trunk_file_size / 2`.
    public var slotMaxSizeBytes = 8 * 1024 * 1024
    public var allocAlignmentSizeBytes = 0
    public var freeSpaceMerge = false
    public var deleteUnusedTrunkFiles = false
    /// `trunk_file_size`, at least 4 MB.
    public var trunkFileSizeBytes = 64 * 1024 * 1024
    public var createFileAdvance = false
    public var createFileTimeBase = TimeOfDay(hour: 2, minute: 0)
    public var createFileIntervalSeconds = 86400
    public var createFileSpaceThresholdBytes: Int64 = 0
    public var initCheckOccupying = false
    public var initReloadFromBinlog = false
    public var compressBinlogMinIntervalSeconds = 0
    public var compressBinlogIntervalSeconds = 0
    public var compressBinlogTimeBase = TimeOfDay(hour: 3, minute: 0)
    public var binlogMaxBackups = 0

    public init() {}

    static let maxSlotMinSizeBytes = 64 * 1024
    static let minTrunkFileSizeBytes = 4 * 1024 * 1024

    /// Reads the trunk keys and applies the C tracker's adjustments, each with a warning.
    static func read(_ r: inout ConfigReader) throws(ConfigError) -> TrunkSettings {
        var t = TrunkSettings()
        let intMax = Int64(Int32.max)
        t.useTrunkFile = try r.bool("use_trunk_file", default: false)

        t.slotMinSizeBytes = Int(try r.size("slot_min_size", default: 256, in: 1...intMax))
        if t.slotMinSizeBytes > maxSlotMinSizeBytes {
            r.warn(r.location(of: "slot_min_size"), key: "slot_min_size", "\(t.slotMinSizeBytes) is too large, using 64KB")
            t.slotMinSizeBytes = maxSlotMinSizeBytes
        }

        t.trunkFileSizeBytes = Int(try r.size("trunk_file_size", default: 64 * 1024 * 1024, in: 0...intMax))
        if t.trunkFileSizeBytes < minTrunkFileSizeBytes {
            r.warn(r.location(of: "trunk_file_size"), key: "trunk_file_size", "\(t.trunkFileSizeBytes) is too small, using 4MB")
            t.trunkFileSizeBytes = minTrunkFileSizeBytes
        }

        t.slotMaxSizeBytes = Int(try r.size("slot_max_size", default: Int64(t.trunkFileSizeBytes / 8), in: 0...intMax))
        guard t.slotMaxSizeBytes > t.slotMinSizeBytes else {
            throw r.inconsistent("slot_max_size", "slot_max_size (\(t.slotMaxSizeBytes)) must be larger than slot_min_size (\(t.slotMinSizeBytes))")
        }
        if t.slotMaxSizeBytes > t.trunkFileSizeBytes / 2 {
            r.warn(r.location(of: "slot_max_size"), key: "slot_max_size",
                   "\(t.slotMaxSizeBytes) is larger than half of trunk_file_size, using \(t.trunkFileSizeBytes / 2)")
            t.slotMaxSizeBytes = t.trunkFileSizeBytes / 2
        }

        t.allocAlignmentSizeBytes = Int(try r.size("trunk_alloc_alignment_size", default: 0, in: 0...Int64(maxSlotMinSizeBytes)))
        if t.slotMinSizeBytes < t.allocAlignmentSizeBytes {
            r.warn(r.location(of: "slot_min_size"), key: "slot_min_size",
                   "\(t.slotMinSizeBytes) is smaller than trunk_alloc_alignment_size, using \(t.allocAlignmentSizeBytes)")
            t.slotMinSizeBytes = t.allocAlignmentSizeBytes
        }

        t.freeSpaceMerge = try r.bool("trunk_free_space_merge", default: false)
        t.deleteUnusedTrunkFiles = try r.bool("delete_unused_trunk_files", default: false)
        t.createFileAdvance = try r.bool("trunk_create_file_advance", default: false)
        t.createFileTimeBase = try r.time("trunk_create_file_time_base", default: TimeOfDay(hour: 2, minute: 0))
        t.createFileIntervalSeconds = try r.int("trunk_create_file_interval", default: 86400, in: 0...Int(Int32.max))
        t.createFileSpaceThresholdBytes = try r.size("trunk_create_file_space_threshold", default: 0)
        t.initCheckOccupying = try r.bool("trunk_init_check_occupying", default: false)
        t.initReloadFromBinlog = try r.bool("trunk_init_reload_from_binlog", default: false)
        t.compressBinlogMinIntervalSeconds = try r.int("trunk_compress_binlog_min_interval", default: 0, in: 0...Int(Int32.max))
        t.compressBinlogIntervalSeconds = try r.int("trunk_compress_binlog_interval", default: 0, in: 0...Int(Int32.max))
        t.compressBinlogTimeBase = try r.time("trunk_compress_binlog_time_base", default: TimeOfDay(hour: 3, minute: 0))
        t.binlogMaxBackups = try r.int("trunk_binlog_max_backups", default: 0, in: 0...10000)
        return t
    }
}

/// tracker.conf (cluster spec §8.2). Shared daemon keys live in `service` and can be read
/// directly (`config.port`, `config.networkTimeoutSeconds`).
@dynamicMemberLookup
public struct TrackerConfiguration: ConfigurationFile, Hashable {
    public static let defaultPort = 22122

    /// The file this configuration was read from.
    public var path: String
    public var service: ServiceSettings
    public var responseIPAddrSize: ResponseIPAddrSize = .auto
    public var storeLookup: StoreLookup = .roundRobin
    /// `store_group`: required when `storeLookup` is `.specifiedGroup`.
    public var storeGroup: GroupName?
    /// `store_server` as written; see `effectiveStoreServer`.
    public var storeServer: StoreServerSelection = .roundRobin
    public var storePath: StorePathSelection = .roundRobin
    public var downloadServer: DownloadServerSelection = .roundRobin
    public var reservedStorageSpace: ReservedStorageSpace = .bytes(1024 * 1024 * 1024)
    /// `check_active_interval`: liveness-check period and heartbeat timeout.
    public var checkActiveIntervalSeconds = 100
    public var storageIPChangedAutoAdjust = true
    public var storageSyncFileMaxDelaySeconds = 86400
    public var storageSyncFileMaxTimeSeconds = 300
    public var trunk = TrunkSettings()
    public var useStorageID = false
    /// `storage_ids_filename`, resolved against the directory of tracker.conf; required when
    /// `useStorageID` is true.
    public var storageIDsPath: String?
    /// `id_type_in_filename` as written; see `effectiveIDTypeInFilename`.
    public var idTypeInFilename: IDTypeInFilename = .ip
    public var trustStorageServerID = true
    public var storeSlaveFileUseLink = false
    /// `http.server_port`: the tracker's HTTP port for `/healthz` (docs/http.md); 0, the
    /// default, turns it off. C tracker samples set 8080 here.
    public var httpServerPort = 0
    /// `admin_hosts` (our extension; repeated or comma-separated, `allow_hosts` syntax): who may
    /// delete storages and groups. Loopback only by default; `*` admits everyone, as FastDFS does.
    public var adminHosts: [String] = TrackerConfiguration.defaultAdminHosts
    public static let defaultAdminHosts = ConfigReader.defaultAdminHosts
    /// Unknown keys and adjusted values; the daemon should log them.
    public var warnings: [ConfigWarning] = []

    public subscript<T>(dynamicMember keyPath: KeyPath<ServiceSettings, T>) -> T { service[keyPath: keyPath] }

    /// `store_server` after the C rule: round robin becomes first-by-IP when trunk files are used.
    public var effectiveStoreServer: StoreServerSelection {
        trunk.useTrunkFile && storeServer == .roundRobin ? .firstByIP : storeServer
    }

    /// `id_type_in_filename` is only honoured with `use_storage_id`.
    public var effectiveIDTypeInFilename: IDTypeInFilename { useStorageID ? idTypeInFilename : .ip }

    /// The IP field width in client replies, given the loaded storage ids (if any).
    public func responseIPAddrSizeBytes(storageIDs: StorageIDs?) -> Int {
        responseIPAddrSize.resolvedBytes(useStorageID: useStorageID, storageIDsContainIPv6: storageIDs?.containsIPv6 ?? false)
    }

    /// Loads storage_ids.conf when `use_storage_id` is on; nil otherwise.
    public func loadStorageIDs(limits: ConfigLimits = .default) throws(ConfigError) -> StorageIDs? {
        guard useStorageID, let storageIDsPath else { return nil }
        return try StorageIDs.load(path: storageIDsPath, limits: limits)
    }

    // MARK: Loading

    public init(document: ConfigDocument) throws(ConfigError) {
        var r = ConfigReader(document)
        path = document.path
        service = try ServiceSettings.read(&r, defaultPort: Self.defaultPort, defaultNetworkTimeoutSeconds: 60)

        responseIPAddrSize = try r.value("response_ip_addr_size", default: .auto) { (t: String) throws(ConfigValueError) in
            ResponseIPAddrSize.parse(t)
        }
        storeLookup = try r.value("store_lookup", default: .roundRobin) { (t: String) throws(ConfigValueError) in
            try ConfigValue.parseChoice(t, StoreLookup.init(rawValue:), "0 (round robin), 1 (specified group) or 2 (most free space)")
        }
        storeGroup = try r.optional("store_group", ConfigReader.parseGroupName)
        if storeLookup == .specifiedGroup && storeGroup == nil {
            throw r.missing("store_group", "required when store_lookup is 1")
        }
        storeServer = try r.value("store_server", default: .roundRobin) { (t: String) throws(ConfigValueError) in
            try ConfigValue.parseChoice(t, StoreServerSelection.init(rawValue:), "0 (round robin), 1 (first by IP/id) or 2 (first by priority)")
        }
        storePath = try r.value("store_path", default: .roundRobin) { (t: String) throws(ConfigValueError) in
            try ConfigValue.parseChoice(t, StorePathSelection.init(rawValue:), "0 (round robin) or 2 (most free space)")
        }
        downloadServer = try r.value("download_server", default: .roundRobin) { (t: String) throws(ConfigValueError) in
            try ConfigValue.parseChoice(t, DownloadServerSelection.init(rawValue:), "0 (round robin) or 1 (source first)")
        }
        reservedStorageSpace = try r.value("reserved_storage_space", default: .bytes(1024 * 1024 * 1024),
                                           ConfigValue.parseReservedStorageSpace)
        checkActiveIntervalSeconds = try r.int("check_active_interval", default: 100, in: 1...86400)
        storageIPChangedAutoAdjust = try r.bool("storage_ip_changed_auto_adjust", default: true)
        storageSyncFileMaxDelaySeconds = try r.int("storage_sync_file_max_delay", default: 86400, in: 1...Int(Int32.max))
        storageSyncFileMaxTimeSeconds = try r.int("storage_sync_file_max_time", default: 300, in: 1...Int(Int32.max))
        trunk = try TrunkSettings.read(&r)

        useStorageID = try r.bool("use_storage_id", default: false)
        storageIDsPath = try r.storageIDsPath(required: useStorageID, because: "required when use_storage_id is true")
        idTypeInFilename = try r.value("id_type_in_filename", default: .ip, IDTypeInFilename.parse)
        trustStorageServerID = try r.bool("trust_storage_server_id", default: true)
        storeSlaveFileUseLink = try r.bool("store_slave_file_use_link", default: false)
        adminHosts = r.adminHosts()

        if service.addressFamily == .ipv6 && !(useStorageID && idTypeInFilename == .id) {
            throw r.inconsistent("address_family", "IPv6 requires use_storage_id = true and id_type_in_filename = id")
        }

        httpServerPort = try r.int("http.server_port", default: 0, in: 0...65535)
        // The C tracker's checker of storages' HTTP ports; files that set these keys are valid.
        r.accept(["http.check_alive_interval", "http.check_alive_type", "http.check_alive_uri"])
        warnings = r.finish()
    }
}

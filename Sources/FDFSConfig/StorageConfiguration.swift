public import FDFSModel

/// One `store_path<N>` with its `store_path<N>_readonly` flag.
public struct StorePath: Hashable, Sendable {
    /// The directory (trailing slashes removed).
    public var path: String
    /// No new uploads go to a read-only path.
    public var isReadOnly: Bool

    public init(path: String, isReadOnly: Bool = false) {
        self.path = path
        self.isReadOnly = isReadOnly
    }
}

/// `sync_max_threads`: the number of peer-sync dispatchers (also the batch size).
public enum SyncMaxThreads: Hashable, Sendable {
    /// `auto`, `0` or absent: twice the store path count.
    case auto
    case count(Int)

    public static func parse(_ text: String) throws(ConfigValueError) -> SyncMaxThreads {
        if text.lowercased() == "auto" { return .auto }
        let n = try ConfigValue.parseInteger(text, in: 0...StorageConfiguration.maxSyncThreads)
        return n == 0 ? .auto : .count(n)
    }
}

/// `file_distribute_path_mode`: how uploads are spread over the 256 x 256 directories.
public enum FileDistributePathMode: Int, Hashable, Sendable {
    case roundRobin = 0
    case hash = 1
}

/// `file_signature_method` of the FastDHT de-duplication.
public enum FileSignatureMethod: String, Hashable, Sendable {
    case hash, md5

    public static func parse(_ text: String) throws(ConfigValueError) -> FileSignatureMethod {
        try ConfigValue.parseKeyword(text, ["hash": .hash, "md5": .md5])
    }
}

/// `[access-log] time_precision`.
public enum AccessLogTimePrecision: String, Hashable, Sendable {
    case seconds = "s", milliseconds = "ms", microseconds = "us"

    public static func parse(_ text: String) throws(ConfigValueError) -> AccessLogTimePrecision {
        try ConfigValue.parseKeyword(text, [
            "s": .seconds, "second": .seconds, "seconds": .seconds,
            "ms": .milliseconds, "msec": .milliseconds, "millisecond": .milliseconds, "milliseconds": .milliseconds,
            "us": .microseconds, "usec": .microseconds, "microsecond": .microseconds, "microseconds": .microseconds,
        ])
    }
}

/// The `[access-log]` section (the legacy global `use_access_log` is accepted as a fallback).
public struct AccessLogSettings: Hashable, Sendable {
    public var isEnabled = false
    public var timePrecision: AccessLogTimePrecision = .milliseconds

    public init() {}

    static let section = "access-log"
    static let legacyKeys = [
        "rotate_access_log", "access_log_rotate_time", "compress_old_access_log",
        "compress_access_log_days_before", "rotate_access_log_size",
    ]

    static func read(_ r: inout ConfigReader) throws(ConfigError) -> AccessLogSettings {
        var a = AccessLogSettings()
        let legacy = try r.bool("use_access_log", default: false)
        a.isEnabled = try r.bool("enabled", section: section, default: legacy)
        a.timePrecision = try r.value("time_precision", section: section, default: .milliseconds, AccessLogTimePrecision.parse)
        r.accept(legacyKeys)
        r.accept(LogSettings.sectionKeys, section: section)
        return a
    }
}

/// storage.conf (cluster spec §8.3). Shared daemon keys live in `service` and can be read
/// directly (`config.port`, `config.basePath`).
///
/// Settings the tracker pushes through PARAMETER_REQ (trunk settings, `store_path`,
/// `reserved_storage_space`, `use_storage_id`, ...) are not storage.conf keys: written here they
/// produce "unknown key" warnings.
@dynamicMemberLookup
public struct StorageConfiguration: ConfigurationFile, Hashable {
    public static let defaultPort = 23000
    public static let maxStorePaths = 256
    public static let maxSyncThreads = 256
    public static let maxTrackers = 16
    /// `buff_size` must hold a trunk binlog record buffer: 10 + 64 KB.
    public static let requiredMinBuffSizeBytes = 10 + 64 * 1024

    public var path: String
    public var service: ServiceSettings
    /// `group_name`: nil means "ask the tracker" (GET_GROUP_NAME, needs storage ids).
    public var groupName: GroupName?
    /// `client_bind`: bind outgoing connections to `bind_addr`.
    public var clientBind = true
    /// `server_id`: explicit own id (NAT setups).
    public var serverID: StorageID?
    public var heartBeatIntervalSeconds = 30
    public var statReportIntervalSeconds = 300
    public var diskRWSeparated = true
    public var diskReaderThreads = 1
    public var diskWriterThreads = 1
    public var diskRecoveryThreads = 1
    public var syncMinThreads = 1
    public var syncMaxThreads: SyncMaxThreads = .auto
    /// `sync_wait_msec`: idle poll interval of the sync dispatchers.
    public var syncWaitMilliseconds = 100
    /// `sync_interval`: pause after each pushed batch.
    public var syncIntervalMilliseconds = 0
    public var syncStartTime = TimeOfDay(hour: 0, minute: 0)
    public var syncEndTime = TimeOfDay(hour: 23, minute: 59)
    /// `write_mark_file_freq`: write the sync mark file every N pushed records.
    public var writeMarkFileFrequency = 500
    /// `store_path0` ... `store_path<count-1>`; `store_path0` defaults to `base_path`.
    public var storePaths: [StorePath]
    public var subdirCountPerPath = 256
    /// `tracker_server`: deduplicated, sorted by IP text then port (the tracker index order).
    public var trackerServers: [ServerAddress]
    public var fileDistributePathMode: FileDistributePathMode = .roundRobin
    public var fileDistributeRotateCount = 100
    /// `fsync_after_written_bytes`: 0 means never.
    public var fsyncAfterWrittenBytes: Int64 = 0
    /// `fsync_before_reply` (ours, not in FastDFS): fsync every received file and its directory
    /// before the reply, so an acknowledged file survives a power loss.
    public var fsyncBeforeReply = false
    public var syncBinlogBuffIntervalSeconds = 60
    public var syncStatFileIntervalSeconds = 60
    public var uploadPriority = 10
    /// `if_alias_prefix` (comma-separated): NIC name prefixes used to find local IPs.
    public var ifAliasPrefixes: [String] = []
    public var checkFileDuplicate = false
    public var fileSignatureMethod: FileSignatureMethod = .hash
    /// `key_namespace`: required when `checkFileDuplicate` is true.
    public var keyNamespace: String?
    /// `keep_alive`: persistent FastDHT connections.
    public var fastDHTKeepAlive = false
    public var fileSyncSkipInvalidRecord = false
    public var compressBinlog = false
    public var compressBinlogTime = TimeOfDay(hour: 1, minute: 30)
    public var checkStorePathMark = true
    /// `admin_hosts` (ours): who may send the operator commands (RESYNC_PEER, SCRUB). Loopback by default.
    public var adminHosts: [String] = ConfigReader.defaultAdminHosts
    /// `scrub_bytes_per_second` (ours): how fast the scrubber reads files; 0: no limit.
    public var scrubBytesPerSecond: Int64 = 32 * 1024 * 1024
    /// `scrub_interval` (ours, seconds): a scrub pass this long after the last one ended; 0:
    /// only when asked (`fdfs scrub`). Default: a week.
    public var scrubIntervalSeconds = 604_800
    /// `scrub_unknown_file_age` (ours, seconds): files on disk the catalog does not know are
    /// adopted or quarantined only once their inode is this old. Default: 600.
    public var scrubUnknownFileAgeSeconds = 600
    public var accessLog = AccessLogSettings()
    /// The storage's HTTP port (`http.server_port`; 0, the default, turns it off): files,
    /// ranges, tokens and `/healthz` (docs/http.md).
    public var http = StorageHTTPSettings()
    /// Unknown keys and ignored values; the daemon should log them.
    public var warnings: [ConfigWarning] = []

    public subscript<T>(dynamicMember keyPath: KeyPath<ServiceSettings, T>) -> T { service[keyPath: keyPath] }

    /// `sync_max_threads` resolved: auto = 2 x store paths; capped at 256; at least `sync_min_threads`.
    public var resolvedSyncMaxThreads: Int {
        let wanted: Int
        switch syncMaxThreads {
        case .auto: wanted = 2 * storePaths.count
        case .count(let n): wanted = n
        }
        return max(syncMinThreads, min(wanted, Self.maxSyncThreads))
    }

    /// True when `sync_start_time`..`sync_end_time` is not the whole day.
    public var hasSyncWindow: Bool {
        !(syncStartTime == TimeOfDay(hour: 0, minute: 0) && syncEndTime == TimeOfDay(hour: 23, minute: 59))
    }

    // MARK: Loading

    public init(document: ConfigDocument) throws(ConfigError) {
        var r = ConfigReader(document)
        path = document.path
        service = try ServiceSettings.read(&r, defaultPort: Self.defaultPort, defaultNetworkTimeoutSeconds: 30)
        if service.buffSizeBytes < Self.requiredMinBuffSizeBytes {
            throw r.inconsistent("buff_size", "buff_size (\(service.buffSizeBytes)) must be at least \(Self.requiredMinBuffSizeBytes) bytes for the storage")
        }

        groupName = try r.optional("group_name", ConfigReader.parseGroupName)
        clientBind = try r.bool("client_bind", default: true)
        serverID = try r.optional("server_id") { (t: String) throws(ConfigValueError) -> StorageID in
            do { return try StorageID(t) } catch { throw ConfigValueError("is not a valid storage id (\(error))") }
        }
        heartBeatIntervalSeconds = try r.int("heart_beat_interval", default: 30, in: 1...3600)
        statReportIntervalSeconds = try r.int("stat_report_interval", default: 300, in: 1...86400)

        diskRWSeparated = try r.bool("disk_rw_separated", default: true)
        diskReaderThreads = try r.int("disk_reader_threads", default: 1, in: 0...256)
        diskWriterThreads = try r.int("disk_writer_threads", default: 1, in: 0...256)
        if diskRWSeparated {
            if diskReaderThreads == 0 { throw r.inconsistent("disk_reader_threads", "must be more than 0 when disk_rw_separated is true") }
            if diskWriterThreads == 0 { throw r.inconsistent("disk_writer_threads", "must be more than 0 when disk_rw_separated is true") }
        } else if diskReaderThreads + diskWriterThreads == 0 {
            throw r.inconsistent("disk_reader_threads", "disk_reader_threads + disk_writer_threads must be more than 0")
        }
        diskRecoveryThreads = try r.int("disk_recovery_threads", default: 1, in: 1...256)
        syncMinThreads = try r.int("sync_min_threads", default: 1, in: 1...Self.maxSyncThreads)
        syncMaxThreads = try r.value("sync_max_threads", default: .auto, SyncMaxThreads.parse)
        syncWaitMilliseconds = try r.int("sync_wait_msec", default: 100, in: 1...3_600_000)
        syncIntervalMilliseconds = try r.int("sync_interval", default: 0, in: 0...3_600_000)
        syncStartTime = try r.time("sync_start_time", default: TimeOfDay(hour: 0, minute: 0))
        syncEndTime = try r.time("sync_end_time", default: TimeOfDay(hour: 23, minute: 59))
        writeMarkFileFrequency = try r.int("write_mark_file_freq", default: 500, in: 1...Int(Int32.max))

        storePaths = try Self.readStorePaths(&r, basePath: service.basePath)
        subdirCountPerPath = try r.int("subdir_count_per_path", default: 256, in: 1...256)
        trackerServers = try r.trackerServers()

        fileDistributePathMode = try r.value("file_distribute_path_mode", default: .roundRobin) { (t: String) throws(ConfigValueError) in
            try ConfigValue.parseChoice(t, FileDistributePathMode.init(rawValue:), "0 (round robin) or 1 (hash)")
        }
        fileDistributeRotateCount = try r.int("file_distribute_rotate_count", default: 100, in: 1...Int(Int32.max))
        fsyncAfterWrittenBytes = try r.size("fsync_after_written_bytes", default: 0)
        fsyncBeforeReply = try r.bool("fsync_before_reply", default: false)
        syncBinlogBuffIntervalSeconds = try r.int("sync_binlog_buff_interval", default: 60, in: 1...86400)
        syncStatFileIntervalSeconds = try r.int("sync_stat_file_interval", default: 60, in: 1...86400)
        uploadPriority = try r.int("upload_priority", default: 10, in: Int(Int32.min)...Int(Int32.max))
        ifAliasPrefixes = r.commaList("if_alias_prefix")

        checkFileDuplicate = try r.bool("check_file_duplicate", default: false)
        fileSignatureMethod = try r.value("file_signature_method", default: .hash, FileSignatureMethod.parse)
        keyNamespace = r.string("key_namespace")
        fastDHTKeepAlive = try r.bool("keep_alive", default: false)
        if checkFileDuplicate {
            if keyNamespace == nil { throw r.missing("key_namespace", "required when check_file_duplicate is true") }
            // The FastDHT server list (normally pulled in with #include fdht_servers.conf).
            r.accept { $0 == "group_count" || Self.numberedKey($0, prefix: "group") != nil }
        }

        fileSyncSkipInvalidRecord = try r.bool("file_sync_skip_invalid_record", default: false)
        compressBinlog = try r.bool("compress_binlog", default: false)
        compressBinlogTime = try r.time("compress_binlog_time", default: TimeOfDay(hour: 1, minute: 30))
        checkStorePathMark = try r.bool("check_store_path_mark", default: true)
        adminHosts = r.adminHosts()
        scrubBytesPerSecond = try r.size("scrub_bytes_per_second", default: 32 * 1024 * 1024, in: 0...(1 << 40))
        scrubIntervalSeconds = try r.int("scrub_interval", default: 604_800, in: 0...Int(Int32.max))
        scrubUnknownFileAgeSeconds = try r.int("scrub_unknown_file_age", default: 600, in: 0...Int(Int32.max))
        accessLog = try AccessLogSettings.read(&r)

        http = try StorageHTTPSettings.read(&r, configPath: document.path)
        warnings = r.finish()
    }

    private static func readStorePaths(_ r: inout ConfigReader, basePath: String) throws(ConfigError) -> [StorePath] {
        let count = try r.int("store_path_count", default: 1, in: 1...maxStorePaths)
        var paths: [StorePath] = []
        for n in 0..<count {
            let key = "store_path\(n)"
            guard let path = r.path(key) ?? (n == 0 ? basePath : nil) else {
                throw r.missing(key, "required because store_path_count is \(count)")
            }
            let readOnly = try r.bool("store_path\(n)_readonly", default: false)
            paths.append(StorePath(path: path, isReadOnly: readOnly))
        }
        var seen: [String: Int] = [:]
        for (n, storePath) in paths.enumerated() {
            if let first = seen[storePath.path] {
                throw r.inconsistent("store_path\(n)", "'\(storePath.path)' is already used by store_path\(first)")
            }
            seen[storePath.path] = n
        }
        // store_path<N> beyond the count: a clearer message than "unknown key".
        for item in r.document.items where item.section.isEmpty {
            let index = numberedKey(item.key, prefix: "store_path") ?? numberedKey(item.key, prefix: "store_path", suffix: "_readonly")
            if let index, index >= count {
                r.accept([item.key])
                r.warn(item.location, key: item.key, "ignored because store_path_count is \(count)")
            }
        }
        return paths
    }

    /// N for keys of the form `<prefix><N><suffix>` with a decimal N.
    static func numberedKey(_ key: String, prefix: String, suffix: String = "") -> Int? {
        guard key.hasPrefix(prefix), key.hasSuffix(suffix), key.utf8.count > prefix.utf8.count + suffix.utf8.count else { return nil }
        let digits = key.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
        guard digits.count <= 6, digits.allSatisfy(isDigit) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }
}

/// The HTTP side of a storage (docs/http.md). The keys may sit in storage.conf or in an
/// `#include`d http.conf.
public struct StorageHTTPSettings: Hashable, Sendable {
    /// `http.server_port`: 0 turns HTTP off (the default). A storage.conf written for C
    /// FastDFS sets 8888 here, for the HTTP server the C storage once had.
    public var port = 0
    /// `http.mime_types_filename` (mime.types format), relative to the configuration file;
    /// default: `mime.types` beside storage.conf when there is one.
    public var mimeTypesPath: String?
    /// `http.default_content_type`: for extensions the table does not know.
    public var defaultContentType = "application/octet-stream"
    public var antiSteal = AntiStealSettings()
    /// `http.domain_name` (`host` or `host:port`): the host clients reach this storage's HTTP
    /// by, shown by `fdfs info` and `fdfs monitor`; empty: its IP address.
    public var domainName = ""

    public init() {}

    static func read(_ r: inout ConfigReader, configPath: String) throws(ConfigError) -> StorageHTTPSettings {
        var h = StorageHTTPSettings()
        h.port = try r.int("http.server_port", default: 0, in: 0...65535)
        h.mimeTypesPath = r.path("http.mime_types_filename", relativeToConfig: true)
        if h.mimeTypesPath == nil {
            let beside = ConfigFile.resolve("mime.types", relativeTo: configPath)
            if ConfigFile.exists(beside) { h.mimeTypesPath = beside }
        }
        h.defaultContentType = r.string("http.default_content_type") ?? h.defaultContentType
        h.antiSteal = try AntiStealSettings.read(&r)
        h.domainName = r.string("http.domain_name") ?? ""
        if h.domainName.utf8.count > 128 || !h.domainName.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) {
            throw r.inconsistent("http.domain_name", "must be a host or host:port of at most 128 characters, without spaces or '/'")
        }
        // Keys of an included http.conf that a storage has no use for.
        r.accept(["http.disabled", "http.need_find_content_type", "http.multi_range.enabled"])
        return h
    }
}

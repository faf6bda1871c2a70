import FDFSModel

/// `log_level`: syslog-style severities (case-insensitive). Unknown names are an error (C falls
/// back to `info`).
public enum LogLevel: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case emerg, alert, crit, error, warn, notice, info, debug

    public static func parse(_ text: String) throws(ConfigValueError) -> LogLevel {
        try ConfigValue.parseKeyword(text, [
            "emerg": .emerg, "emergency": .emerg, "alert": .alert, "crit": .crit, "critical": .crit,
            "err": .error, "error": .error, "warn": .warn, "warning": .warn, "notice": .notice,
            "info": .info, "debug": .debug,
        ])
    }

    public var description: String { rawValue }
}

/// `address_family`: which address families the daemon listens on.
public enum AddressFamily: String, Hashable, Sendable, CustomStringConvertible {
    case auto, ipv4 = "IPv4", ipv6 = "IPv6", both

    public static func parse(_ text: String) throws(ConfigValueError) -> AddressFamily {
        try ConfigValue.parseKeyword(text, ["auto": .auto, "ipv4": .ipv4, "ipv6": .ipv6, "both": .both])
    }

    public var description: String { rawValue }
}

/// Logging keys. Only `log_level` and `sync_log_buff_interval` are interpreted; the rotation and
/// compression keys of the C log library are accepted (so they produce no warning) but not
/// interpreted, because the Swift daemons log through swift-log.
public struct LogSettings: Hashable, Sendable {
    public var level: LogLevel = .info
    /// `sync_log_buff_interval`: how often buffered log lines are flushed.
    public var syncLogBuffIntervalSeconds = 10

    public init() {}

    /// Rotation/compression keys of the C log library, accepted in the global section and in
    /// the `[error-log]` / `[access-log]` sections.
    static let rotationKeys = [
        "rotate_error_log", "error_log_rotate_time", "rotate_error_log_size", "compress_old_error_log",
        "compress_error_log_days_before", "log_file_keep_days", "log_file_rotate_everyday",
        "log_file_rotate_time", "log_file_rotate_on_size", "log_file_compress_old",
        "log_file_compress_days_before", "log_file_delete_old_time",
    ]
    /// Keys accepted inside a `[error-log]` or `[access-log]` section.
    static let sectionKeys = rotationKeys + [
        "sync_log_buff_interval", "rotate_everyday", "rotate_time", "rotate_on_size", "keep_days",
        "delete_old_files", "delete_old_time", "compress_old", "compress_days_before",
    ]

    static func read(_ r: inout ConfigReader) throws(ConfigError) -> LogSettings {
        var log = LogSettings()
        log.level = try r.value("log_level", default: .info, LogLevel.parse)
        log.syncLogBuffIntervalSeconds = try r.int("sync_log_buff_interval", default: 10, in: 1...86400)
        r.accept(rotationKeys)
        r.accept(sectionKeys, section: "error-log")
        return log
    }
}

/// `use_connection_pool` / `connection_pool_max_idle_time`: pooling of outgoing connections.
public struct ConnectionPoolSettings: Hashable, Sendable {
    public var isEnabled = false
    public var maxIdleTimeSeconds = 3600

    public init() {}

    static func read(_ r: inout ConfigReader) throws(ConfigError) -> ConnectionPoolSettings {
        var pool = ConnectionPoolSettings()
        pool.isEnabled = try r.bool("use_connection_pool", default: false)
        pool.maxIdleTimeSeconds = try r.int("connection_pool_max_idle_time", default: 3600, in: 1...Int(Int32.max))
        return pool
    }
}

/// The keys a tracker and a storage daemon share: listening, timeouts, threads, buffers,
/// process identity, access control, logging and connection pooling.
public struct ServiceSettings: Hashable, Sendable {
    /// `disabled`: the daemon must refuse to start when true.
    public var isDisabled = false
    /// `bind_addr`: listen addresses (comma-separated in the file); empty means all.
    public var bindAddresses: [String] = []
    public var port: Int
    public var addressFamily: AddressFamily = .auto
    public var connectTimeoutSeconds = 10
    public var networkTimeoutSeconds: Int
    /// `base_path`: where `data/` and `logs/` live (trailing slashes removed).
    public var basePath: String
    public var maxConnections = 256
    public var acceptThreads = 1
    public var workThreads = 4
    /// `buff_size`: the network buffer size.
    public var buffSizeBytes = 256 * 1024
    /// `min_buff_size` / `max_buff_size`: honoured only when both are set; otherwise both equal
    /// `buff_size`.
    public var minBuffSizeBytes = 256 * 1024
    public var maxBuffSizeBytes = 256 * 1024
    public var threadStackSizeBytes = 256 * 1024
    /// `run_by_group` / `run_by_user`: nil (empty) means the current group/user.
    public var runByGroup: String?
    public var runByUser: String?
    /// `allow_hosts` (repeated): `*`, IPs, host names, CIDR blocks, ranges. Empty means everyone.
    public var allowHosts: [String] = []
    public var log = LogSettings()
    public var connectionPool = ConnectionPoolSettings()
    /// `cluster_secret` (our extension, docs/security.md): when set, trackers and storages
    /// prove it to each other before any cluster command; nil (the default) leaves the cluster
    /// open as FastDFS is, so C servers can take part.
    public var clusterSecret: String?
    /// `cluster_secret_previous`: a second secret, proven and accepted while the secret is
    /// rolled to a new one.
    public var clusterSecretPrevious: String?

    public init(port: Int, networkTimeoutSeconds: Int, basePath: String) {
        self.port = port
        self.networkTimeoutSeconds = networkTimeoutSeconds
        self.basePath = basePath
    }

    /// True when `allow_hosts` is absent or contains `*`.
    public var allowsAllHosts: Bool { allowHosts.isEmpty || allowHosts.contains("*") }

    static let buffSizeLimitBytes = 256 * 1024 * 1024

    static func read(_ r: inout ConfigReader, defaultPort: Int, defaultNetworkTimeoutSeconds: Int) throws(ConfigError) -> ServiceSettings {
        let basePath = try r.requiredString("base_path")
        var s = ServiceSettings(port: defaultPort, networkTimeoutSeconds: defaultNetworkTimeoutSeconds,
                                basePath: ConfigReader.trimTrailingSlashes(basePath))
        s.isDisabled = try r.bool("disabled", default: false)
        s.bindAddresses = r.commaList("bind_addr")
        s.port = try r.int("port", default: defaultPort, in: 1...65535)
        s.addressFamily = try r.value("address_family", default: .auto, AddressFamily.parse)
        s.connectTimeoutSeconds = try r.int("connect_timeout", default: 10, in: 1...3600)
        s.networkTimeoutSeconds = try r.int("network_timeout", default: defaultNetworkTimeoutSeconds, in: 1...3600)
        s.maxConnections = try r.int("max_connections", default: 256, in: 1...1_048_576)
        s.acceptThreads = try r.int("accept_threads", default: 1, in: 1...256)
        s.workThreads = try r.int("work_threads", default: 4, in: 1...1024)

        let buffRange: ClosedRange<Int64> = 1024...Int64(buffSizeLimitBytes)
        s.buffSizeBytes = Int(try r.size("buff_size", default: 256 * 1024, in: buffRange))
        let minBuff = try r.located("min_buff_size") { (t: String) throws(ConfigValueError) in try ConfigValue.parseSize(t, in: buffRange) }
        let maxBuff = try r.located("max_buff_size") { (t: String) throws(ConfigValueError) in try ConfigValue.parseSize(t, in: buffRange) }
        switch (minBuff, maxBuff) {
        case let (min?, max?):
            guard min.value <= max.value else {
                throw r.inconsistent("min_buff_size", "min_buff_size (\(min.value)) is larger than max_buff_size (\(max.value))")
            }
            s.minBuffSizeBytes = Int(min.value)
            s.maxBuffSizeBytes = Int(max.value)
        case let (only?, nil), let (nil, only?):
            let key = minBuff == nil ? "max_buff_size" : "min_buff_size"
            r.warn(only.location, key: key, "ignored: min_buff_size and max_buff_size are only used when both are set; buff_size is used for both")
            fallthrough
        case (nil, nil):
            s.minBuffSizeBytes = s.buffSizeBytes
            s.maxBuffSizeBytes = s.buffSizeBytes
        }

        s.threadStackSizeBytes = Int(try r.size("thread_stack_size", default: 256 * 1024, in: 0...(1 << 30)))
        s.runByGroup = r.string("run_by_group")
        s.runByUser = r.string("run_by_user")
        s.allowHosts = r.stringList("allow_hosts")
        s.log = try LogSettings.read(&r)
        s.connectionPool = try ConnectionPoolSettings.read(&r)
        s.clusterSecret = try readSecret(&r, "cluster_secret")
        s.clusterSecretPrevious = try readSecret(&r, "cluster_secret_previous")
        if s.clusterSecretPrevious != nil && s.clusterSecret == nil {
            throw r.missing("cluster_secret", "required when cluster_secret_previous is set (it is the new secret of a roll)")
        }
        return s
    }

    /// The fewest characters a cluster secret may have.
    public static let minimumSecretLength = 16

    static func readSecret(_ r: inout ConfigReader, _ key: String) throws(ConfigError) -> String? {
        guard let secret = r.string(key) else { return nil }
        guard secret.utf8.count >= minimumSecretLength else {
            throw r.inconsistent(key, "must have at least \(minimumSecretLength) characters (\(secret.utf8.count) given); make one with: openssl rand -hex 32")
        }
        return secret
    }
}

/// `http.anti_steal.*`: download tokens (cluster spec §9.1).
public struct AntiStealSettings: Hashable, Sendable {
    /// `http.anti_steal.check_token`.
    public var checkToken = false
    /// `http.anti_steal.token_ttl`.
    public var tokenTTLSeconds = 600
    /// `http.anti_steal.secret_key`: required when `checkToken` is true.
    public var secretKey: String?
    /// `http.anti_steal.token_check_fail`: file served (HTTP 200) when a check fails; nil means
    /// answer HTTP 400. Relative paths are resolved against the configuration file's directory.
    public var tokenCheckFailPath: String?

    public init() {}

    static func read(_ r: inout ConfigReader) throws(ConfigError) -> AntiStealSettings {
        var a = AntiStealSettings()
        a.checkToken = try r.bool("http.anti_steal.check_token", default: false)
        a.tokenTTLSeconds = try r.int("http.anti_steal.token_ttl", default: 600, in: 1...Int(Int32.max))
        a.secretKey = r.string("http.anti_steal.secret_key")
        a.tokenCheckFailPath = r.path("http.anti_steal.token_check_fail", relativeToConfig: true)
        if a.checkToken && a.secretKey == nil {
            throw r.missing("http.anti_steal.secret_key", "required when http.anti_steal.check_token is true")
        }
        return a
    }
}

// MARK: - Reader helpers shared by several configurations

extension ConfigReader {
    /// Loopback: the default of `admin_hosts`.
    static let defaultAdminHosts = ["127.0.0.0/8", "::1"]

    /// `admin_hosts` (ours; repeated or comma-separated, `allow_hosts` syntax): who may send
    /// the operator commands. Loopback when absent.
    mutating func adminHosts() -> [String] {
        let listed = stringList("admin_hosts").flatMap { $0.split(separator: ",").map { String(trimASCIIWhitespace($0)) } }.filter { !$0.isEmpty }
        return listed.isEmpty ? Self.defaultAdminHosts : listed
    }

    /// `group_name`-style values validated as a FastDFS group name.
    static func parseGroupName(_ text: String) throws(ConfigValueError) -> GroupName {
        do {
            return try GroupName(text)
        } catch {
            throw ConfigValueError("is not a valid group name (\(error))")
        }
    }

    /// `tracker_server` (repeated, required): parsed with default port 22122, deduplicated and
    /// sorted; 1 to 16 servers.
    mutating func trackerServers() throws(ConfigError) -> [ServerAddress] {
        let parsed = try list("tracker_server") { (text: String) throws(ConfigValueError) -> ServerAddress in
            try ServerAddress.parse(text, defaultPort: 22122)
        }
        guard !parsed.isEmpty else {
            throw missing("tracker_server", "at least one tracker_server is required")
        }
        let servers = ServerAddress.normalizedList(parsed.map(\.value))
        guard servers.count <= 16 else {
            throw inconsistent("tracker_server", "\(servers.count) distinct tracker servers configured, at most 16 are allowed")
        }
        return servers
    }

    /// `storage_ids_filename`, resolved against the configuration file's directory; an error
    /// when `required` and absent.
    mutating func storageIDsPath(required: Bool, because reason: String) throws(ConfigError) -> String? {
        let path = path("storage_ids_filename", relativeToConfig: true)
        if required && path == nil {
            throw missing("storage_ids_filename", reason)
        }
        return path
    }
}

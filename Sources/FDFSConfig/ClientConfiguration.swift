/// `connect_first_by`: which address of a multi-homed storage a client tries first.
public enum ConnectFirstBy: String, Hashable, Sendable {
    /// The address the tracker returned.
    case tracker
    /// The address that worked last time.
    case lastConnected = "last-connected"

    public static func parse(_ text: String) throws(ConfigValueError) -> ConnectFirstBy {
        try ConfigValue.parseKeyword(text, ["tracker": .tracker, "last-connected": .lastConnected, "last_connected": .lastConnected])
    }
}

/// client.conf (cluster spec §8.5), used by the CLI and the client library.
public struct ClientConfiguration: ConfigurationFile, Hashable {
    public var path: String
    public var connectTimeoutSeconds = 10
    public var networkTimeoutSeconds = 30
    /// `base_path`: where client logs go.
    public var basePath = "/tmp"
    /// `tracker_server`: deduplicated, sorted by IP text then port.
    public var trackerServers: [ServerAddress]
    public var logLevel: LogLevel = .info
    public var connectFirstBy: ConnectFirstBy = .tracker
    public var connectionPool = ConnectionPoolSettings()
    /// `load_fdfs_parameters_from_tracker`: get `use_storage_id` and the id list from the tracker.
    public var loadFDFSParametersFromTracker = false
    /// Used when not loading parameters from the tracker.
    public var useStorageID = false
    /// `storage_ids_filename`, resolved against the directory of client.conf; required when
    /// `useStorageID` is true and parameters are not loaded from the tracker.
    public var storageIDsPath: String?
    /// `http.tracker_server_port`: port of the trackers' HTTP side, for printed URLs.
    public var httpTrackerServerPort = 80
    /// `http.anti_steal.*`: when `checkToken` is on, client tools append tokens to printed URLs.
    public var antiSteal = AntiStealSettings()
    /// Unknown keys; the tool should print them.
    public var warnings: [ConfigWarning] = []

    /// Loads storage_ids.conf when ids are used locally; nil otherwise.
    public func loadStorageIDs(limits: ConfigLimits = .default) throws(ConfigError) -> StorageIDs? {
        guard useStorageID, !loadFDFSParametersFromTracker, let storageIDsPath else { return nil }
        return try StorageIDs.load(path: storageIDsPath, limits: limits)
    }


    public init(document: ConfigDocument) throws(ConfigError) {
        var r = ConfigReader(document)
        path = document.path
        connectTimeoutSeconds = try r.int("connect_timeout", default: 10, in: 1...3600)
        networkTimeoutSeconds = try r.int("network_timeout", default: 30, in: 1...3600)
        basePath = ConfigReader.trimTrailingSlashes(r.string("base_path", default: "/tmp"))
        trackerServers = try r.trackerServers()
        logLevel = try r.value("log_level", default: .info, LogLevel.parse)
        connectFirstBy = try r.value("connect_first_by", default: .tracker, ConnectFirstBy.parse)
        connectionPool = try ConnectionPoolSettings.read(&r)
        loadFDFSParametersFromTracker = try r.bool("load_fdfs_parameters_from_tracker", default: false)
        useStorageID = try r.bool("use_storage_id", default: false)
        storageIDsPath = try r.storageIDsPath(
            required: useStorageID && !loadFDFSParametersFromTracker,
            because: "required when use_storage_id is true and load_fdfs_parameters_from_tracker is false")
        httpTrackerServerPort = try r.int("http.tracker_server_port", default: 80, in: 1...65535)
        antiSteal = try AntiStealSettings.read(&r)
        // client.conf may `#include http.conf`; its other keys are valid here.
        r.accept(HTTPConfiguration.keys)
        warnings = r.finish()
    }
}

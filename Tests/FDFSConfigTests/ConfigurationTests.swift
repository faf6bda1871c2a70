import FDFSConfig
import FDFSModel
import Foundation
import Testing

@Suite("shipped sample files")
struct SampleConfigurationTests {
    @Test func trackerSample() throws {
        let config = try TrackerConfiguration.load(path: TestPaths.sample("tracker.conf"))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.port == 22122)
        #expect(config.bindAddresses == ["127.0.0.1"])
        #expect(config.basePath == "/tmp/fdfs/tracker")
        #expect(config.storageIDsPath == TestPaths.sample("storage_ids.conf"))
    }

    @Test func storageSample() throws {
        let config = try StorageConfiguration.load(path: TestPaths.sample("storage.conf"))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.groupName?.rawValue == "group1")
        #expect(config.port == 23000)
        #expect(config.basePath == "/tmp/fdfs/storage0")
        #expect(config.storePaths == [StorePath(path: "/tmp/fdfs/storage0/store0")])
        #expect(config.trackerServers == [ServerAddress(host: "127.0.0.1", port: 22122)])
        #expect(config.accessLog.isEnabled == false)
    }

    @Test func clientSample() throws {
        let config = try ClientConfiguration.load(path: TestPaths.sample("client.conf"))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.trackerServers == [ServerAddress(host: "127.0.0.1", port: 22122)])
        #expect(config.basePath == "/tmp/fdfs/client")
    }

    @Test func httpSample() throws {
        let config = try HTTPConfiguration.load(path: TestPaths.sample("http.conf"))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.serverPort == 8080)
        #expect(config.mimeTypesPath == "/etc/mime.types")
        #expect(config.defaultContentType == "application/octet-stream")
    }

    @Test func storageIDsSample() throws {
        let ids = try StorageIDs.load(path: TestPaths.sample("storage_ids.conf"))
        #expect(ids.entries.map(\.description) == ["100001 group1 127.0.0.1:23000"])
    }

    @Test func sampleDocumentsHaveNoReaderWarnings() throws {
        for name in ["tracker.conf", "storage.conf", "client.conf", "http.conf"] {
            let doc = try ConfigDocument.load(path: TestPaths.sample(name))
            #expect(doc.warnings.isEmpty, "\(name): \(doc.warnings)")
        }
    }

    /// The samples are documentation: every key we read is written out.
    @Test func samplesSpellOutEveryTableKey() throws {
        let tracker = try ConfigDocument.load(path: TestPaths.sample("tracker.conf"))
        for key in ["disabled", "bind_addr", "port", "address_family", "response_ip_addr_size", "connect_timeout",
                    "network_timeout", "base_path", "max_connections", "accept_threads", "work_threads", "min_buff_size",
                    "max_buff_size", "buff_size", "store_lookup", "store_group", "store_server", "store_path",
                    "download_server", "reserved_storage_space", "log_level", "run_by_group", "run_by_user",
                    "thread_stack_size", "allow_hosts", "check_active_interval", "storage_ip_changed_auto_adjust",
                    "storage_sync_file_max_delay", "storage_sync_file_max_time", "use_trunk_file", "slot_min_size",
                    "slot_max_size", "trunk_alloc_alignment_size", "trunk_free_space_merge", "delete_unused_trunk_files",
                    "trunk_file_size", "trunk_create_file_advance", "trunk_create_file_time_base",
                    "trunk_create_file_interval", "trunk_create_file_space_threshold", "trunk_init_check_occupying",
                    "trunk_init_reload_from_binlog", "trunk_compress_binlog_min_interval",
                    "trunk_compress_binlog_interval", "trunk_compress_binlog_time_base", "trunk_binlog_max_backups",
                    "use_storage_id", "storage_ids_filename", "id_type_in_filename", "trust_storage_server_id",
                    "store_slave_file_use_link", "use_connection_pool", "connection_pool_max_idle_time",
                    "sync_log_buff_interval"] {
            #expect(!tracker.items(key).isEmpty, "tracker.conf lacks \(key)")
        }
        let storage = try ConfigDocument.load(path: TestPaths.sample("storage.conf"))
        for key in ["disabled", "group_name", "bind_addr", "client_bind", "port", "address_family", "server_id",
                    "connect_timeout", "network_timeout", "heart_beat_interval", "stat_report_interval", "base_path",
                    "max_connections", "accept_threads", "work_threads", "buff_size", "disk_rw_separated",
                    "disk_reader_threads", "disk_writer_threads", "disk_recovery_threads", "sync_min_threads",
                    "sync_max_threads", "sync_wait_msec", "sync_interval", "sync_start_time", "sync_end_time",
                    "write_mark_file_freq", "store_path_count", "store_path0", "store_path0_readonly",
                    "subdir_count_per_path", "tracker_server", "log_level", "run_by_group", "run_by_user", "allow_hosts",
                    "file_distribute_path_mode", "file_distribute_rotate_count", "fsync_after_written_bytes",
                    "sync_binlog_buff_interval", "sync_stat_file_interval", "thread_stack_size", "upload_priority",
                    "if_alias_prefix", "check_file_duplicate", "file_signature_method", "key_namespace", "keep_alive",
                    "file_sync_skip_invalid_record", "use_connection_pool", "connection_pool_max_idle_time",
                    "compress_binlog", "compress_binlog_time", "check_store_path_mark"] {
            #expect(!storage.items(key).isEmpty, "storage.conf lacks \(key)")
        }
        #expect(!storage.items("enabled", section: "access-log").isEmpty)
        #expect(!storage.items("time_precision", section: "access-log").isEmpty)
        let client = try ConfigDocument.load(path: TestPaths.sample("client.conf"))
        for key in ["connect_timeout", "network_timeout", "base_path", "tracker_server", "log_level", "connect_first_by",
                    "use_connection_pool", "connection_pool_max_idle_time", "load_fdfs_parameters_from_tracker",
                    "use_storage_id", "storage_ids_filename", "http.anti_steal.check_token", "http.anti_steal.secret_key",
                    "http.tracker_server_port"] {
            #expect(!client.items(key).isEmpty, "client.conf lacks \(key)")
        }
        let http = try ConfigDocument.load(path: TestPaths.sample("http.conf"))
        for key in ["http.disabled", "http.server_port", "http.need_find_content_type", "http.multi_range.enabled",
                    "http.mime_types_filename", "http.default_content_type", "http.anti_steal.check_token",
                    "http.anti_steal.token_ttl", "http.anti_steal.secret_key", "http.anti_steal.token_check_fail"] {
            #expect(!http.items(key).isEmpty, "http.conf lacks \(key)")
        }
    }
}

@Suite("files of the C reference cluster")
struct VectorConfigurationTests {
    @Test func vectorDirectoryExists() {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: TestPaths.vectorsDirectory, isDirectory: &isDirectory)
        #expect(exists && isDirectory.boolValue, "missing \(TestPaths.vectorsDirectory)")
    }

    @Test func mainTracker() throws {
        let config = try TrackerConfiguration.load(path: TestPaths.vector("tracker.conf"))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.isDisabled == false)
        #expect(config.bindAddresses == ["127.0.0.60"])
        #expect(config.port == 22722)
        #expect(config.responseIPAddrSize == .auto)
        #expect(config.connectTimeoutSeconds == 5)
        #expect(config.networkTimeoutSeconds == 60)
        #expect(config.basePath == "<base_path>")
        #expect(config.maxConnections == 1024)
        #expect(config.minBuffSizeBytes == 8 * 1024)
        #expect(config.maxBuffSizeBytes == 128 * 1024)
        #expect(config.buffSizeBytes == 256 * 1024)
        #expect(config.storeLookup == .loadBalance)
        #expect(config.storeGroup?.rawValue == "group1")
        #expect(config.storeServer == .roundRobin)
        #expect(config.effectiveStoreServer == .roundRobin)
        #expect(config.storePath == .roundRobin)
        #expect(config.downloadServer == .roundRobin)
        #expect(config.reservedStorageSpace == .percent(10))
        #expect(config.log.level == .info)
        #expect(config.log.syncLogBuffIntervalSeconds == 1)
        #expect(config.allowHosts == ["*"])
        #expect(config.allowsAllHosts)
        #expect(config.checkActiveIntervalSeconds == 120)
        #expect(config.threadStackSizeBytes == 256 * 1024)
        #expect(config.storageIPChangedAutoAdjust)
        #expect(config.storageSyncFileMaxDelaySeconds == 86400)
        #expect(config.storageSyncFileMaxTimeSeconds == 300)
        #expect(config.trunk.useTrunkFile == false)
        #expect(config.useStorageID == false)
        #expect(config.storageIDsPath == TestPaths.vector("storage_ids.conf"))
        #expect(config.idTypeInFilename == .id)
        #expect(config.effectiveIDTypeInFilename == .ip)
        #expect(config.storeSlaveFileUseLink == false)
        #expect(config.connectionPool.isEnabled)
        #expect(config.connectionPool.maxIdleTimeSeconds == 3600)
        #expect(try config.loadStorageIDs() == nil)
        #expect(config.responseIPAddrSizeBytes(storageIDs: nil) == 16)
    }

    @Test func idsProfileTracker() throws {
        let config = try TrackerConfiguration.load(path: TestPaths.vector("ids-profile/tracker.conf"))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.bindAddresses == ["127.0.0.65"])
        #expect(config.responseIPAddrSize == .explicit("IPv6"))
        #expect(config.useStorageID)
        #expect(config.effectiveIDTypeInFilename == .id)
        #expect(config.storeSlaveFileUseLink)
        let ids = try #require(try config.loadStorageIDs())
        #expect(!ids.containsIPv6)
        // Any value but "auto" selects the 46-byte IPv6 layout.
        #expect(config.responseIPAddrSizeBytes(storageIDs: ids) == 46)
    }

    @Test func responseIPAddrSizeResolution() {
        #expect(ResponseIPAddrSize.auto.resolvedBytes(useStorageID: false, storageIDsContainIPv6: true) == 16)
        #expect(ResponseIPAddrSize.auto.resolvedBytes(useStorageID: true, storageIDsContainIPv6: false) == 16)
        #expect(ResponseIPAddrSize.auto.resolvedBytes(useStorageID: true, storageIDsContainIPv6: true) == 46)
        #expect(ResponseIPAddrSize.parse("IPv4").resolvedBytes(useStorageID: false, storageIDsContainIPv6: false) == 46)
        #expect(ResponseIPAddrSize.parse("AUTO") == .auto)
    }

    @Test(arguments: ["storageA.conf", "storageB.conf", "ids-profile/storageA.conf", "ids-profile/storageB.conf"])
    func storages(name: String) throws {
        let config = try StorageConfiguration.load(path: TestPaths.vector(name))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.groupName?.rawValue == "group1")
        #expect(config.clientBind)
        #expect(config.port == 23700)
        #expect(config.connectTimeoutSeconds == 5)
        #expect(config.networkTimeoutSeconds == 60)
        #expect(config.heartBeatIntervalSeconds == 5)
        #expect(config.statReportIntervalSeconds == 10)
        #expect(config.maxConnections == 1024)
        #expect(config.buffSizeBytes == 256 * 1024)
        #expect(config.diskRWSeparated)
        #expect(config.diskReaderThreads == 2)
        #expect(config.diskWriterThreads == 1)
        #expect(config.syncMinThreads == 1)
        #expect(config.syncMaxThreads == .auto)
        #expect(config.resolvedSyncMaxThreads == 2)
        #expect(config.syncWaitMilliseconds == 10)
        #expect(config.syncIntervalMilliseconds == 0)
        #expect(config.syncStartTime == TimeOfDay(hour: 0, minute: 0))
        #expect(config.syncEndTime == TimeOfDay(hour: 23, minute: 59))
        #expect(!config.hasSyncWindow)
        #expect(config.writeMarkFileFrequency == 500)
        #expect(config.storePaths == [StorePath(path: "<base_path>/store0")])
        #expect(config.subdirCountPerPath == 256)
        let tracker = name.hasPrefix("ids-profile") ? "127.0.0.66" : "127.0.0.61"
        #expect(config.trackerServers == [ServerAddress(host: tracker, port: 22722)])
        #expect(config.syncBinlogBuffIntervalSeconds == 1)
        #expect(config.syncStatFileIntervalSeconds == 60)
        #expect(config.threadStackSizeBytes == 512 * 1024)
        #expect(config.uploadPriority == 10)
        #expect(config.checkFileDuplicate == false)
        #expect(config.connectionPool.isEnabled)
        let bind = ["storageA.conf": "127.0.0.62", "storageB.conf": "127.0.0.63",
                    "ids-profile/storageA.conf": "127.0.0.67", "ids-profile/storageB.conf": "127.0.0.68"][name]
        #expect(config.bindAddresses == [bind])
    }

    @Test(arguments: ["client.conf", "ids-profile/client.conf"])
    func clients(name: String) throws {
        let config = try ClientConfiguration.load(path: TestPaths.vector(name))
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(config.connectTimeoutSeconds == 5)
        #expect(config.networkTimeoutSeconds == 60)
        #expect(config.basePath == "<base_path>")
        #expect(config.logLevel == .info)
        #expect(config.connectionPool.isEnabled == false)
        #expect(config.loadFDFSParametersFromTracker == false)
        #expect(config.useStorageID == name.hasPrefix("ids-profile"))
        // A relative name (with a placeholder) is taken relative to client.conf.
        #expect(config.storageIDsPath == TestPaths.vector(name).replacingOccurrences(of: "client.conf", with: "<conf_dir>/storage_ids.conf"))
        let tracker = name.hasPrefix("ids-profile") ? "127.0.0.66" : "127.0.0.61"
        #expect(config.trackerServers.map(\.description) == ["\(tracker):22722"])
    }

    @Test func idsProfileStorageIDs() throws {
        let ids = try StorageIDs.load(path: TestPaths.vector("ids-profile/storage_ids.conf"))
        #expect(ids.entries.count == 2)
        let a = try #require(ids.entry(id: StorageID("100001")))
        #expect(a.groupName.rawValue == "group1")
        #expect(a.addresses.map(\.description) == ["127.0.0.67"])
        #expect(a.port == 23700)
        #expect(a.rwMode == .both)
        #expect(ids.entry(ipAddress: "127.0.0.68", port: 23700)?.id.rawValue == "100002")
        #expect(ids.formatted() == "100001 group1 127.0.0.67:23700\n100002 group1 127.0.0.68:23700\n")
    }

    /// Every file of the vector directory loads with the matching loader.
    @Test func everyVectorFileLoads() throws {
        let files = try FileManager.default.subpathsOfDirectory(atPath: TestPaths.vectorsDirectory)
            .filter { $0.hasSuffix(".conf") }.sorted()
        #expect(files.count == 9, "\(files)")
        for file in files {
            let path = TestPaths.vector(file)
            let name = URL(fileURLWithPath: file).lastPathComponent
            if name == "storage_ids.conf" {
                _ = try StorageIDs.load(path: path)
            } else if name.hasPrefix("tracker") {
                #expect(try TrackerConfiguration.load(path: path).warnings.isEmpty, "\(file)")
            } else if name.hasPrefix("storage") {
                #expect(try StorageConfiguration.load(path: path).warnings.isEmpty, "\(file)")
            } else if name.hasPrefix("client") {
                #expect(try ClientConfiguration.load(path: path).warnings.isEmpty, "\(file)")
            } else {
                Issue.record("no loader for \(file)")
            }
        }
    }
}

@Suite("typed configurations")
struct TypedConfigurationTests {
    @Test func trackerDefaults() throws {
        let config = try TrackerConfiguration.parse(text: "base_path = /data/tracker/\n", path: "conf/tracker.conf")
        #expect(config.warnings.isEmpty)
        #expect(config.basePath == "/data/tracker")
        #expect(config.isDisabled == false)
        #expect(config.bindAddresses.isEmpty)
        #expect(config.port == 22122)
        #expect(config.addressFamily == .auto)
        #expect(config.responseIPAddrSize == .auto)
        #expect(config.connectTimeoutSeconds == 10)
        #expect(config.networkTimeoutSeconds == 60)
        #expect(config.maxConnections == 256)
        #expect(config.acceptThreads == 1)
        #expect(config.workThreads == 4)
        #expect(config.buffSizeBytes == 262_144)
        #expect(config.minBuffSizeBytes == 262_144)
        #expect(config.maxBuffSizeBytes == 262_144)
        #expect(config.storeLookup == .roundRobin)
        #expect(config.storeGroup == nil)
        #expect(config.storeServer == .roundRobin)
        #expect(config.storePath == .roundRobin)
        #expect(config.downloadServer == .roundRobin)
        #expect(config.reservedStorageSpace == .bytes(1024 * 1024 * 1024))
        #expect(config.log.level == .info)
        #expect(config.runByGroup == nil)
        #expect(config.runByUser == nil)
        #expect(config.threadStackSizeBytes == 262_144)
        #expect(config.allowHosts.isEmpty && config.allowsAllHosts)
        #expect(config.checkActiveIntervalSeconds == 100)
        #expect(config.storageIPChangedAutoAdjust)
        #expect(config.storageSyncFileMaxDelaySeconds == 86400)
        #expect(config.storageSyncFileMaxTimeSeconds == 300)
        #expect(config.trunk == TrunkSettings())
        #expect(config.trunk.slotMinSizeBytes == 256)
        #expect(config.trunk.slotMaxSizeBytes == 8 * 1024 * 1024)
        #expect(config.trunk.trunkFileSizeBytes == 64 * 1024 * 1024)
        #expect(config.trunk.createFileTimeBase == TimeOfDay(hour: 2, minute: 0))
        #expect(config.trunk.compressBinlogTimeBase == TimeOfDay(hour: 3, minute: 0))
        #expect(config.trunk.createFileIntervalSeconds == 86400)
        #expect(config.useStorageID == false)
        #expect(config.storageIDsPath == nil)
        #expect(config.idTypeInFilename == .ip)
        #expect(config.trustStorageServerID)
        #expect(config.storeSlaveFileUseLink == false)
        #expect(config.connectionPool == ConnectionPoolSettings())
        #expect(config.connectionPool.maxIdleTimeSeconds == 3600)
    }

    @Test func storageDefaults() throws {
        let config = try StorageConfiguration.parse(text: "base_path = /data/s\ntracker_server = 10.0.0.1\n", path: "s.conf")
        #expect(config.warnings.isEmpty)
        #expect(config.port == 23000)
        #expect(config.groupName == nil)
        #expect(config.serverID == nil)
        #expect(config.clientBind)
        #expect(config.connectTimeoutSeconds == 10)
        #expect(config.networkTimeoutSeconds == 30)
        #expect(config.heartBeatIntervalSeconds == 30)
        #expect(config.statReportIntervalSeconds == 300)
        #expect(config.buffSizeBytes == 262_144)
        #expect(config.diskRWSeparated)
        #expect(config.diskReaderThreads == 1 && config.diskWriterThreads == 1 && config.diskRecoveryThreads == 1)
        #expect(config.syncMinThreads == 1)
        #expect(config.syncMaxThreads == .auto)
        #expect(config.syncWaitMilliseconds == 100)
        #expect(config.syncIntervalMilliseconds == 0)
        #expect(config.syncStartTime == TimeOfDay(hour: 0, minute: 0))
        #expect(config.syncEndTime == TimeOfDay(hour: 23, minute: 59))
        #expect(config.writeMarkFileFrequency == 500)
        #expect(config.storePaths == [StorePath(path: "/data/s")])
        #expect(config.subdirCountPerPath == 256)
        #expect(config.trackerServers == [ServerAddress(host: "10.0.0.1", port: 22122)])
        #expect(config.uploadPriority == 10)
        #expect(config.fileDistributePathMode == .roundRobin)
        #expect(config.fileDistributeRotateCount == 100)
        #expect(config.fsyncAfterWrittenBytes == 0)
        #expect(config.fsyncBeforeReply == false)
        let syncing = try StorageConfiguration.parse(text: "base_path = /data/s\ntracker_server = 10.0.0.1\nfsync_before_reply = true\n", path: "s.conf")
        #expect(syncing.fsyncBeforeReply && syncing.warnings.isEmpty)
        #expect(config.syncBinlogBuffIntervalSeconds == 60)
        #expect(config.syncStatFileIntervalSeconds == 60)
        #expect(config.compressBinlog == false)
        #expect(config.compressBinlogTime == TimeOfDay(hour: 1, minute: 30))
        #expect(config.checkStorePathMark)
        #expect(config.accessLog == AccessLogSettings())
        #expect(config.accessLog.timePrecision == .milliseconds)
    }

    @Test func clientAndHTTPDefaults() throws {
        let client = try ClientConfiguration.parse(text: "tracker_server = 127.0.0.1:22122\n", path: "c.conf")
        #expect(client.warnings.isEmpty)
        #expect(client.connectTimeoutSeconds == 10)
        #expect(client.networkTimeoutSeconds == 30)
        #expect(client.basePath == "/tmp")
        #expect(client.connectFirstBy == .tracker)
        #expect(client.loadFDFSParametersFromTracker == false)
        #expect(client.useStorageID == false)
        #expect(client.antiSteal.checkToken == false)
        #expect(client.httpTrackerServerPort == 80)

        let http = try HTTPConfiguration.parse(text: "http.mime_types_filename = mime.types\nhttp.default_content_type = text/plain\n", path: "conf/http.conf")
        #expect(http.warnings.isEmpty)
        #expect(http.isDisabled == false)
        #expect(http.serverPort == 80)
        #expect(http.needFindContentType && http.multiRangeEnabled)
        #expect(http.mimeTypesPath == "conf/mime.types")
        #expect(http.antiSteal.tokenTTLSeconds == 600)
        #expect(http.antiSteal.tokenCheckFailPath == nil)
        #expect(try HTTPConfiguration.parse(text: "http.disabled = true\n", path: "h.conf").isDisabled)
    }

    @Test func unknownKeyIsAWarningWithFileAndLine() throws {
        let text = "base_path = /x\n\nstorage_magic = 7\n[mystery]\nfoo = 1\n"
        let config = try TrackerConfiguration.parse(text: text, path: "conf/tracker.conf")
        #expect(config.warnings.count == 2)
        let warning = try #require(config.warnings.first)
        #expect(warning.location == ConfigLocation(path: "conf/tracker.conf", line: 3))
        #expect(warning.key == "storage_magic")
        #expect(warning.description == "conf/tracker.conf:3: key 'storage_magic': unknown key, ignored")
        #expect(config.warnings[1].description == "conf/tracker.conf:5: key '[mystery] foo': unknown key, ignored")
    }

    @Test func brokenValueNamesFileLineAndKey() throws {
        let text = "base_path = /x\ntracker_server = 127.0.0.1:22122\n# comment\n\nport = abc\n"
        let error = expectThrows(ConfigError.self) { _ = try StorageConfiguration.parse(text: text, path: "conf/storage.conf") }
        #expect(error?.description == "conf/storage.conf:5: key 'port': 'abc' is not an integer")
        #expect(error?.location == ConfigLocation(path: "conf/storage.conf", line: 5))
        #expect(error?.key == "port")
    }

    @Test(arguments: [
        ("use_trunk_file = ture", "use_trunk_file", 2), ("reserved_storage_space = 100%", "reserved_storage_space", 2),
        ("store_lookup = 5", "store_lookup", 2), ("trunk_create_file_time_base = 25:00", "trunk_create_file_time_base", 2),
        ("buff_size = 12Q", "buff_size", 2), ("store_group = bad_group!", "store_group", 2), ("port = 0", "port", 2),
        ("log_level = chatty", "log_level", 2), ("id_type_in_filename = name", "id_type_in_filename", 2),
    ])
    func trackerValueErrors(line: String, key: String, lineNumber: Int) {
        let error = expectThrows(ConfigError.self) {
            _ = try TrackerConfiguration.parse(text: "base_path = /x\n\(line)\n", path: "t.conf")
        }
        #expect(error?.key == key)
        #expect(error?.description.hasPrefix("t.conf:\(lineNumber): key '\(key)'") == true, "\(String(describing: error))")
    }

    @Test func missingRequiredKeys() {
        let base = expectThrows(ConfigError.self) { _ = try TrackerConfiguration.parse(text: "port = 1\n", path: "t.conf") }
        #expect(base == .missingKey(ConfigLocation(path: "t.conf"), key: "base_path", reason: "required key is missing"))
        #expect(base?.description.contains("t.conf") == true)
        #expect(base?.description.contains("base_path") == true)

        let group = expectThrows(ConfigError.self) { _ = try TrackerConfiguration.parse(text: "base_path = /x\nstore_lookup = 1\n", path: "t.conf") }
        #expect(group?.key == "store_group")

        let ids = expectThrows(ConfigError.self) { _ = try TrackerConfiguration.parse(text: "base_path = /x\nuse_storage_id = true\n", path: "t.conf") }
        #expect(ids?.key == "storage_ids_filename")

        let trackers = expectThrows(ConfigError.self) { _ = try StorageConfiguration.parse(text: "base_path = /x\n", path: "s.conf") }
        #expect(trackers?.key == "tracker_server")

        let secret = expectThrows(ConfigError.self) {
            _ = try ClientConfiguration.parse(text: "tracker_server = a\nhttp.anti_steal.check_token = yes\n", path: "c.conf")
        }
        #expect(secret?.key == "http.anti_steal.secret_key")

        let mime = expectThrows(ConfigError.self) { _ = try HTTPConfiguration.parse(text: "http.server_port = 80\n", path: "h.conf") }
        #expect(mime?.key == "http.mime_types_filename")
    }

    @Test func storageIDsFilenameIsRelativeToTheConfigDirectory() throws {
        let text = "base_path = /x\nuse_storage_id = true\nstorage_ids_filename = ids/storage_ids.conf\n"
        #expect(try TrackerConfiguration.parse(text: text, path: "/etc/fdfs/tracker.conf").storageIDsPath == "/etc/fdfs/ids/storage_ids.conf")
        #expect(try TrackerConfiguration.parse(text: text, path: "tracker.conf").storageIDsPath == "ids/storage_ids.conf")
        let absolute = "base_path = /x\nstorage_ids_filename = /srv/ids.conf\n"
        #expect(try TrackerConfiguration.parse(text: absolute, path: "/etc/fdfs/tracker.conf").storageIDsPath == "/srv/ids.conf")
    }

    @Test func buffSizesNeedBothMinAndMax() throws {
        let only = try TrackerConfiguration.parse(text: "base_path = /x\nbuff_size = 64KB\nmin_buff_size = 8KB\n", path: "t.conf")
        #expect(only.minBuffSizeBytes == 65536 && only.maxBuffSizeBytes == 65536)
        #expect(only.warnings.count == 1)
        #expect(only.warnings.first?.location.line == 3)

        let both = try TrackerConfiguration.parse(text: "base_path = /x\nmin_buff_size = 8KB\nmax_buff_size = 1MB\n", path: "t.conf")
        #expect(both.minBuffSizeBytes == 8192 && both.maxBuffSizeBytes == 1_048_576)
        #expect(both.warnings.isEmpty)

        #expect(throws: ConfigError.self) {
            try TrackerConfiguration.parse(text: "base_path = /x\nmin_buff_size = 1MB\nmax_buff_size = 8KB\n", path: "t.conf")
        }
    }

    @Test func trunkAdjustments() throws {
        let text = """
            base_path = /x
            use_trunk_file = true
            slot_min_size = 128KB
            trunk_file_size = 1MB
            slot_max_size = 3MB
            """
        let config = try TrackerConfiguration.parse(text: text, path: "t.conf")
        #expect(config.trunk.slotMinSizeBytes == 64 * 1024)
        #expect(config.trunk.trunkFileSizeBytes == 4 * 1024 * 1024)
        #expect(config.trunk.slotMaxSizeBytes == 2 * 1024 * 1024)
        #expect(config.warnings.map(\.key) == ["slot_min_size", "trunk_file_size", "slot_max_size"])
        #expect(config.effectiveStoreServer == .firstByIP)

        let defaultMax = try TrackerConfiguration.parse(text: "base_path = /x\ntrunk_file_size = 128MB\n", path: "t.conf")
        #expect(defaultMax.trunk.slotMaxSizeBytes == 16 * 1024 * 1024)

        let error = expectThrows(ConfigError.self) {
            _ = try TrackerConfiguration.parse(text: "base_path = /x\nslot_min_size = 4KB\nslot_max_size = 4KB\n", path: "t.conf")
        }
        #expect(error?.key == "slot_max_size")
        #expect(error?.location.line == 3)
    }

    @Test func repeatedSingleValuedKeyUsesTheLastWithAWarning() throws {
        let config = try TrackerConfiguration.parse(text: "base_path = /x\nport = 1000\nport = 2000\n", path: "t.conf")
        #expect(config.port == 2000)
        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.description.contains("t.conf:2") == true)
    }

    @Test func emptyValueMeansDefault() throws {
        let config = try TrackerConfiguration.parse(text: "base_path = /x\nport =\nbind_addr =\nrun_by_user =\n", path: "t.conf")
        #expect(config.port == 22122)
        #expect(config.bindAddresses.isEmpty)
        #expect(config.runByUser == nil)
        #expect(config.warnings.isEmpty)
    }

    @Test func trackerServersAreDeduplicatedSortedAndLimited() throws {
        let text = """
            base_path = /x
            tracker_server = 127.0.0.2:22122
            tracker_server = 127.0.0.1:22123
            tracker_server = 127.0.0.1
            tracker_server = 127.0.0.2:22122
            """
        let config = try StorageConfiguration.parse(text: text, path: "s.conf")
        #expect(config.trackerServers.map(\.description) == ["127.0.0.1:22122", "127.0.0.1:22123", "127.0.0.2:22122"])

        let many = (1...17).map { "tracker_server = 10.0.0.\($0):22122" }.joined(separator: "\n")
        let error = expectThrows(ConfigError.self) { _ = try StorageConfiguration.parse(text: "base_path = /x\n" + many, path: "s.conf") }
        #expect(error?.key == "tracker_server")

        let bad = expectThrows(ConfigError.self) {
            _ = try StorageConfiguration.parse(text: "base_path = /x\ntracker_server = 127.0.0.1:22122\ntracker_server = ::1:22122\n", path: "s.conf")
        }
        #expect(bad?.location.line == 3)
    }

    @Test func storePaths() throws {
        let text = """
            base_path = /data
            tracker_server = 10.0.0.1
            store_path_count = 3
            store_path1 = /disk1/
            store_path2 = /disk2
            store_path2_readonly = true
            store_path5 = /ignored
            """
        let config = try StorageConfiguration.parse(text: text, path: "s.conf")
        #expect(config.storePaths == [StorePath(path: "/data"), StorePath(path: "/disk1"), StorePath(path: "/disk2", isReadOnly: true)])
        #expect(config.resolvedSyncMaxThreads == 6)
        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.key == "store_path5")

        let missing = expectThrows(ConfigError.self) {
            _ = try StorageConfiguration.parse(text: "base_path = /d\ntracker_server = a\nstore_path_count = 2\n", path: "s.conf")
        }
        #expect(missing?.key == "store_path1")

        let duplicate = expectThrows(ConfigError.self) {
            _ = try StorageConfiguration.parse(text: "base_path = /d\ntracker_server = a\nstore_path_count = 2\nstore_path0 = /a\nstore_path1 = /a/\n", path: "s.conf")
        }
        #expect(duplicate?.key == "store_path1")
    }

    @Test func storageSectionsAndChecks() throws {
        let text = """
            base_path = /d
            tracker_server = 10.0.0.1
            sync_max_threads = 3
            sync_min_threads = 4
            server_id = 100001
            group_name = group7
            [access-log]
            enabled = true
            time_precision = us
            """
        let config = try StorageConfiguration.parse(text: text, path: "s.conf")
        #expect(config.warnings.isEmpty)
        #expect(config.accessLog.isEnabled)
        #expect(config.accessLog.timePrecision == .microseconds)
        #expect(config.syncMaxThreads == .count(3))
        #expect(config.resolvedSyncMaxThreads == 4)
        #expect(config.serverID?.numericValue == 100001)
        #expect(config.groupName?.rawValue == "group7")

        let badGroup = expectThrows(ConfigError.self) {
            _ = try StorageConfiguration.parse(text: "base_path = /d\ntracker_server = a\ngroup_name = group_1\n", path: "s.conf")
        }
        #expect(badGroup?.description.hasPrefix("s.conf:3: key 'group_name': 'group_1'") == true)

        let badSection = expectThrows(ConfigError.self) {
            _ = try StorageConfiguration.parse(text: "base_path = /d\ntracker_server = a\n[access-log]\nenabled = maybe\n", path: "s.conf")
        }
        #expect(badSection?.key == "[access-log] enabled")
        #expect(badSection?.location.line == 4)

        let smallBuffer = expectThrows(ConfigError.self) {
            _ = try StorageConfiguration.parse(text: "base_path = /d\ntracker_server = a\nbuff_size = 32KB\n", path: "s.conf")
        }
        #expect(smallBuffer?.key == "buff_size")

        let noReaders = expectThrows(ConfigError.self) {
            _ = try StorageConfiguration.parse(text: "base_path = /d\ntracker_server = a\ndisk_reader_threads = 0\n", path: "s.conf")
        }
        #expect(noReaders?.key == "disk_reader_threads")
    }

    @Test func includedFileValuesKeepTheirOwnLocation() throws {
        try withTemporaryDirectory { dir in
            try writeFile(dir, "common.conf", "connect_timeout = 5\n\nnetwork_timeout = oops\n")
            let main = try writeFile(dir, "tracker.conf", "base_path = /x\n#include common.conf\nport = 22122\n")
            let error = expectThrows(ConfigError.self) { _ = try TrackerConfiguration.load(path: main) }
            #expect(error?.description == "\(dir)/common.conf:3: key 'network_timeout': 'oops' is not an integer")
        }
    }

    @Test func pathsFromIncludedFilesAreRelativeToTheTopLevelFile() throws {
        try withTemporaryDirectory { dir in
            try writeFile(dir, "sub/ids.conf", "use_storage_id = true\nstorage_ids_filename = storage_ids.conf\n")
            let main = try writeFile(dir, "tracker.conf", "base_path = /x\n#include sub/ids.conf\n")
            #expect(try TrackerConfiguration.load(path: main).storageIDsPath == dir + "/storage_ids.conf")
        }
    }

    @Test func clientMayIncludeHTTPConf() throws {
        try withTemporaryDirectory { dir in
            try writeFile(dir, "http.conf", "http.anti_steal.check_token = true\nhttp.anti_steal.secret_key = s3cret\nhttp.default_content_type = a/b\n")
            let main = try writeFile(dir, "client.conf", "tracker_server = 127.0.0.1\n#include http.conf\nconnect_first_by = last-connected\n")
            let config = try ClientConfiguration.load(path: main)
            #expect(config.warnings.isEmpty, "\(config.warnings)")
            #expect(config.antiSteal.checkToken)
            #expect(config.antiSteal.secretKey == "s3cret")
            #expect(config.connectFirstBy == .lastConnected)
        }
    }

    @Test func ipv6AddressFamilyNeedsStorageIDs() {
        let error = expectThrows(ConfigError.self) {
            _ = try TrackerConfiguration.parse(text: "base_path = /x\naddress_family = IPv6\n", path: "t.conf")
        }
        #expect(error?.key == "address_family")
        #expect(error?.location.line == 2)
    }
}

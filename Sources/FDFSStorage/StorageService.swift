public import FDFSConfig
public import Logging
public import ServiceLifecycle
import FDFSClient
import FDFSFileSystem
import FDFSHTTP
import FDFSMetrics
import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSStorageEngine
import Foundation
import NIOPosix

/// Why the storage daemon cannot start.
public struct StorageStartupError: Error, CustomStringConvertible {
    public var description: String
}

/// The storage daemon as one `Service`: the file server plus one reporter per tracker.
/// Startup follows cluster spec §7.7 in part: the group name (storage.conf, else
/// GET_GROUP_NAME), our address and the tracker's parameters, our server id when the trackers
/// use storage ids, then `.data_init_flag`, the store paths and their marks,
/// `storage_stat.dat`, the binlog, and the server, the reporters and the periodic flushes.
public struct StorageService: Service {
    let configuration: StorageConfiguration
    let logger: Logger

    public init(configuration: StorageConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let c = configuration
        let trackers = c.trackerServers.map { (host: $0.hosts[0], port: $0.port) }
        let bind = c.clientBind ? c.service.bindAddresses.first : nil
        let group = if let configured = c.groupName { configured } else { try await askGroupName(trackers, port: c.port, bind: bind) }
        let (ownIP, parameters) = try await askTrackers(trackers, group: group, port: c.port, bind: bind)
        let (fileNameSource, serverID) = try await fileSource(parameters, trackers: trackers, group: group, ownIP: ownIP, bind: bind)
        let sourceAddresses = try await sourceAddresses(fileNameSource, trackers: trackers, bind: bind)
        let reserve = Self.reservedSpace(parameters["reserved_storage_space"] ?? "10%")
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }

        // Identity and sync bookkeeping (.data_init_flag, §7.2).
        let flagPath = c.basePath + "/data/.data_init_flag"
        try FileManager.default.createDirectory(atPath: c.basePath + "/data", withIntermediateDirectories: true)
        // A kill between writing a state file's replacement and renaming it leaves `<file>.tmp`.
        let leftovers = [c.basePath + "/data", c.basePath + "/data/sync"].flatMap { FileSystemCalls.removeStaleReplacements(in: $0) }
        if !leftovers.isEmpty {
            logger.notice("removed temporary files a killed storage left (the state files they were to replace are intact)",
                          metadata: ["fdfs.files": "\(leftovers.sorted().joined(separator: ", "))"])
        }
        var flag = try StorageInitFlag.load(path: flagPath) ?? StorageInitFlag.new(now: now(), serverPort: c.port, ipAddresses: ownIP)
        flag.lastIPAddresses = ownIP
        _ = flag.adoptServerPortIfMissing(c.port)

        // Store paths and their marks (§7.3); the flag is saved with the marks.
        let paths = StorePaths(paths: c.storePaths.map { FDFSStorageEngine.StorePath(path: $0.path, isReadOnly: $0.isReadOnly) },
                               subdirCount: c.subdirCountPerPath)
        let created = try paths.createDirectories()
        for index in created { logger.info("created the data directories", metadata: ["fdfs.store_path": "\(index)"]) }
        if c.checkStorePathMark {
            try Self.checkStorePathMarks(paths, justCreated: created, flag: &flag, flagPath: flagPath, ipAddress: ownIP, port: c.port,
                                         now: now(), logger: logger)
        } else {
            try flag.save(path: flagPath)
        }
        let fileCatalog = try FileCatalog(path: StorageStore.catalogPath(basePath: c.basePath))
        // Changes of a killed storage's last batches were in its binlog, not yet in the catalog.
        // Before disk recovery: its tombstones keep it from restoring files deleted here.
        let caughtUp = try CatalogCatchUp.run(catalog: fileCatalog, paths: paths, source: fileNameSource, group: group, basePath: c.basePath)
        if caughtUp.refreshed + caughtUp.removed > 0 {
            logger.notice("catalog caught up with the binlog (the last run stopped before committing its last changes)",
                          metadata: ["fdfs.catch_up": "\(caughtUp)"])
        } else if caughtUp.records > 0 {
            logger.debug("catalog checked against the binlog's tail", metadata: ["fdfs.catch_up": "\(caughtUp)"])
        }
        // Tombstones (deleted names, so a late create from a peer does not bring them back) are
        // kept 30 days: a peer's sync does not lag longer than that.
        if let pruned = try? fileCatalog.pruneTombstones(before: now() - 30 * 86_400), pruned > 0 {
            logger.info("forgot the tombstones of deletes older than 30 days", metadata: ["fdfs.tombstones": "\(pruned)"])
        }
        // Disk recovery (§7.6): wiped store paths get their files back from a peer before we serve or join.
        let clusterSecrets = ClusterSecrets(current: c.service.clusterSecret, previous: c.service.clusterSecretPrevious)
        var recovery = DiskRecovery(group: group, ownIP: ownIP, port: c.port, serverID: serverID, ownSource: fileNameSource, trackers: trackers,
                                    bindAddress: bind, paths: paths, catalogPath: StorageStore.catalogPath(basePath: c.basePath),
                                    networkTimeoutSeconds: c.service.networkTimeoutSeconds, logger: logger)
        recovery.clusterSecrets = clusterSecrets
        try await recovery.run(justCreated: created, syncOldDone: flag.syncOldDone)

        // Counters and the subdirectory cursor of the last run (storage_stat.dat, §7.2, §7.4).
        let statPath = StorageStatFile.path(basePath: c.basePath)
        let statFile = try StorageStatFile.load(path: statPath)
        let stats = StorageStats(counters: statFile?.counters ?? StorageCounters(), now: now)
        let cursor = statFile.map { SubdirectoryCursor(statFile: $0, subdirCount: c.subdirCountPerPath, rotateCount: c.fileDistributeRotateCount) }
            ?? SubdirectoryCursor(subdirCount: c.subdirCountPerPath, rotateCount: c.fileDistributeRotateCount)

        // Catalog, binlog, the file server.
        let catalog = CatalogWriter(catalog: fileCatalog) { [logger] error in
            logger.error("catalog batch not written (run fdfs-storaged --rebuild-catalog to resync): \(error)")
        }
        let store = try StorageStore(group: group, source: fileNameSource, paths: paths, cursor: cursor,
                                     basePath: c.basePath, catalog: catalog, binlogSync: .interval(.seconds(c.syncBinlogBuffIntervalSeconds)), hasSpace: reserve)
        let keeper = StatFileKeeper(path: statPath, stats: stats, store: store, loaded: statFile)
        let settings = try ServerSettings(bindAddresses: c.service.bindAddresses, port: c.port, maxConnections: c.service.maxConnections,
                                          networkTimeoutSeconds: c.service.networkTimeoutSeconds, allowHosts: c.service.allowHosts,
                                          role: .storage, limits: FDFSLimits(maxBufferedBodyBytes: c.service.buffSizeBytes - FDFSHeader.size))
        let progress = SyncReceiveProgress()
        let board = SyncLagBoard()
        let scrub = ScrubControl()
        let handler = StorageConnectionHandler(store: store, fileSync: FileSyncPolicy(afterWrittenBytes: c.fsyncAfterWrittenBytes, beforeReply: c.fsyncBeforeReply),
                                               now: now, stats: stats, progress: progress, sourceAddresses: sourceAddresses,
                                               httpEndpoint: HTTPEndpointResponse(port: c.http.port, domainName: c.http.domainName),
                                               clusterGate: clusterSecrets.map { ClusterGate(secrets: $0, role: .storage) },
                                               adminHosts: try AllowedHosts(c.adminHosts, key: "admin_hosts"), syncBoard: board, logger: logger, scrub: scrub)
        // Metrics are kept only when there is an HTTP port to read them from.
        let metrics = c.http.port > 0 ? DaemonMetrics(role: .storage) : nil
        let server = FDFSServer(settings: settings, handler: handler, logger: logger, metrics: metrics?.requests)

        // Reporters (§1.2).
        var reporter = ReporterSettings(group: group, storagePort: c.port, storePathCount: c.storePaths.count, trackers: trackers)
        reporter.subdirCountPerPath = c.subdirCountPerPath
        reporter.uploadPriority = Int64(c.uploadPriority)
        reporter.bindAddress = bind
        reporter.heartBeatInterval = .seconds(c.heartBeatIntervalSeconds)
        reporter.statReportInterval = .seconds(c.statReportIntervalSeconds)
        reporter.connectTimeout = .seconds(c.service.connectTimeoutSeconds)
        reporter.storageID = serverID
        reporter.clusterSecrets = clusterSecrets
        let source = SyncInfo(sourceID: flag.syncSourceServer.isEmpty ? nil : try? StorageID(flag.syncSourceServer),
                              untilTimestamp: flag.syncUntilTimestamp)
        let persistedFlag = flag
        let node = StorageNode(settings: reporter, joinTime: flag.storageJoinTime, upTime: now(), syncOldDone: flag.syncOldDone,
                               syncSource: source, disk: { [logger] in store.diskReport { i in
                                   logger.error("store path \(i) vanished (its data directory is gone): out of service; the trackers now route reads of its files to the peers; see docs/operations.md",
                                                metadata: ["fdfs.store_path": "\(paths.paths[i].path)"])
                               } },
                               persist: { done, info in
                                   var f = persistedFlag
                                   f.syncOldDone = done
                                   f.syncSourceServer = info.sourceID?.rawValue ?? ""
                                   f.syncUntilTimestamp = info.untilTimestamp
                                   try? f.save(path: flagPath)
                               }, stats: stats, progress: progress)

        // Replication (cluster spec §6): one sync task per peer.
        var syncSettings = SyncSettings(basePath: c.basePath, ownPort: c.port, useStorageID: parameters["use_storage_id"] == "1")
        syncSettings.heartBeatInterval = .seconds(c.heartBeatIntervalSeconds)
        syncSettings.syncWait = .milliseconds(c.syncWaitMilliseconds)
        syncSettings.syncInterval = .milliseconds(c.syncIntervalMilliseconds)
        syncSettings.markFrequency = c.writeMarkFileFrequency
        syncSettings.connectTimeout = .seconds(c.service.connectTimeoutSeconds)
        syncSettings.skipInvalidRecords = c.fileSyncSkipInvalidRecord
        syncSettings.bindAddress = bind
        syncSettings.networkTimeout = .seconds(c.service.networkTimeoutSeconds)
        if c.hasSyncWindow { syncSettings.syncWindow = (c.syncStartTime.secondsSinceMidnight, c.syncEndTime.secondsSinceMidnight) }
        var calls = TrackerCalls(trackers: trackers, bindAddress: bind, logger: logger)
        calls.connectTimeout = .seconds(c.service.connectTimeoutSeconds)
        calls.clusterSecrets = clusterSecrets
        let sync = SyncService(node: node, store: store, settings: syncSettings, calls: calls, board: board, logger: logger)
        // The HTTP port (http.server_port; docs/http.md).
        var gateway: HTTPGateway? = nil
        if let metrics {
            let source = StorageHTTPSource(group: group, storePaths: paths.paths.map(\.path), ownIP: ownIP, ownPort: c.port,
                                           httpPort: c.http.port, calls: calls, node: node, logger: logger, metrics: metrics,
                                           paths: paths, store: store, catalog: catalog.catalog, board: board, scrub: scrub)
            var http = try StorageHTTPSource.gatewaySettings(c)
            http.responseMetrics = metrics.http
            gateway = HTTPGateway(settings: http, source: source, logger: logger)
        }
        logger.info("storage starting", metadata: ["fdfs.group": "\(group)", "fdfs.ip": "\(ownIP)", "fdfs.port": "\(c.port)",
                                                   "fdfs.http_port": "\(c.http.port > 0 ? String(c.http.port) : "off")"])
        do {
            try await withThrowingDiscardingTaskGroup { tasks in
                tasks.addTask { try await server.run() }
                tasks.addTask {
                    // Files a killed storage was receiving (`.up<pid>-<n>.tmp`, ...): never
                    // acknowledged, so never in the binlog; removed in the background.
                    let pid = getpid()
                    guard let removed = try? await NIOThreadPool.singleton.runIfActive({ UploadFile.removeLeftovers(in: paths, ownPID: pid) })
                    else { return }
                    for (i, n) in removed.enumerated() where n > 0 {
                        logger.notice("removed files a killed storage was still receiving (never acknowledged)",
                                      metadata: ["fdfs.store_path": "\(i)", "fdfs.files": "\(n)"])
                    }
                    logger.info("temporary file sweep done", metadata: ["fdfs.files": "\(removed.reduce(0, +))"])
                }
                if let gateway {
                    tasks.addTask { await gateway.runOrLog(logger) }
                }
                // sync_stat_file_interval: storage_stat.dat is rewritten when something changed.
                tasks.addTask { await keeper.run(every: .seconds(c.syncStatFileIntervalSeconds), logger: logger) }
                tasks.addTask {
                    // sync_binlog_buff_interval: the binlog reaches the disk at least this often.
                    await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(c.syncBinlogBuffIntervalSeconds))
                            do { try store.syncBinlog() } catch { logger.error("\(error)") }
                        }
                    }
                    try? store.syncBinlog()
                }
                for i in trackers.indices {
                    let r = TrackerReporter(node: node, trackerIndex: i, logger: logger)
                    tasks.addTask { await r.run() }
                }
                tasks.addTask { await sync.run() }
                let scrubber = Scrubber(store: store, catalog: catalog.catalog, node: node, control: scrub, bytesPerSecond: c.scrubBytesPerSecond,
                                        interval: c.scrubIntervalSeconds > 0 ? Int64(c.scrubIntervalSeconds) : nil, paths: paths,
                                        unknownFileMinimumAge: Int64(c.scrubUnknownFileAgeSeconds), basePath: c.basePath,
                                        bindAddress: bind, logger: logger)
                tasks.addTask { await scrubber.run() }
            }
        } catch {
            _ = try? await keeper.save()
            throw error
        }
        // The last counters, after the server has drained its connections.
        do { try await keeper.save() } catch { logger.error("cannot write storage_stat.dat", metadata: ["fdfs.error": "\(error)"]) }
        do {
            try await catalog.flush()
            let (changes, commits) = (await catalog.changesApplied, await catalog.commits)
            logger.info("catalog closed", metadata: ["fdfs.catalog_changes": "\(changes)", "fdfs.catalog_commits": "\(commits)"])
            try catalog.catalog.close()
        } catch {
            logger.error("catalog not closed cleanly (run fdfs-storaged --rebuild-catalog): \(error)")
        }
        logger.info("storage stopped")
    }

    /// GET_MY_IP and STORAGE_PARAMETER_REQ from the first tracker that answers, retried until
    /// one does (or the service is cancelled).
    func askTrackers(_ trackers: [(host: String, port: Int)], group: GroupName, port: Int, bind: String?) async throws -> (String, TrackerParameters) {
        while true {
            for t in trackers {
                do {
                    let link = try await FDFSClientConnection.connect(host: t.host, port: t.port, bindAddress: bind, connectTimeout: .seconds(5))
                    do {
                        let ip = try await link.request(GetMyIPRequest(group: group, port: Int32(port))).text
                        let parameters = try await link.request(ParameterRequest())
                        await link.close()
                        return (ip.split(separator: ",").first.map(String.init) ?? ip, parameters)
                    } catch {
                        await link.close()
                        throw error
                    }
                } catch {
                    logger.warning("tracker not reachable yet", metadata: ["fdfs.tracker": "\(t.host):\(t.port)", "fdfs.error": "\(error)"])
                }
            }
            try await Task.sleep(for: .seconds(2))
        }
    }

    /// `reserved_storage_space` as the tracker sends it (`10.00%` or `1024MB`), as a check on
    /// a path's space.
    static func reservedSpace(_ text: String) -> @Sendable (PathSpace) -> Bool {
        if text.hasSuffix("%"), let percent = Double(text.dropLast()) {
            return { s in s.totalMB > 0 && Double(s.freeMB) / Double(s.totalMB) * 100 > percent }
        }
        let megabytes = Int64(text.hasSuffix("MB") ? String(text.dropLast(2)) : text) ?? 0
        return { s in s.freeMB > megabytes }
    }
}

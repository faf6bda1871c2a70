import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import Logging

/// The startup steps of cluster spec §7.7 that StorageService.run() delegates: the group name
/// from the trackers, the own server id and file-name source, and the store path marks.
extension StorageService {
    /// Asks the trackers in turn until one answers `ask`. A tracker that answers with an
    /// error status is a refusal; when every tracker has refused, startup fails with `what`
    /// and their answers. Unreachable trackers are retried every 2 s (until cancelled).
    func firstAnswer<T: Sendable>(_ what: String, _ trackers: [(host: String, port: Int)], bind: String?,
                                  _ ask: @Sendable (FDFSClientConnection) async throws -> T) async throws -> T {
        while true {
            var refusals: [String] = []
            for t in trackers {
                do {
                    let link = try await FDFSClientConnection.connect(host: t.host, port: t.port, bindAddress: bind, connectTimeout: .seconds(5))
                    do {
                        let answer = try await ask(link)
                        await link.close()
                        return answer
                    } catch {
                        await link.close()
                        throw error
                    }
                } catch let error as FDFSClientError where error.status != nil {
                    refusals.append("\(t.host):\(t.port) answered \(error.status!)")
                } catch {
                    logger.warning("tracker not reachable yet", metadata: ["fdfs.tracker": "\(t.host):\(t.port)", "fdfs.error": "\(error)"])
                }
            }
            if refusals.count == trackers.count {
                throw StorageStartupError(description: "\(what): " + refusals.joined(separator: "; "))
            }
            try await Task.sleep(for: .seconds(2))
        }
    }

    /// GET_GROUP_NAME (109) for a storage.conf without `group_name` (cluster spec §1.13): the
    /// trackers look this storage up by its address and port in storage_ids.conf.
    func askGroupName(_ trackers: [(host: String, port: Int)], port: Int, bind: String?) async throws -> GroupName {
        let group = try await firstAnswer("\(configuration.path): group_name is not set and no tracker could tell it "
                                          + "(GET_GROUP_NAME needs use_storage_id = true and an entry for this storage in storage_ids.conf)",
                                          trackers, bind: bind) { link in
            try await link.request(GetGroupNameRequest(port: Int32(port))).group
        }
        logger.info("group name from the tracker", metadata: ["fdfs.group": "\(group)"])
        return group
    }

    /// The source written into new file names (cluster spec §7.5) and the own server id.
    /// Without storage ids (tracker parameter `use_storage_id`) the source is our IPv4 address
    /// and there is no id. With ids, the id is `server_id` from storage.conf (when the trackers
    /// trust storage ids) or GET_SERVER_ID (70); with `id_type_in_filename = id` file names
    /// carry it instead of the address.
    func fileSource(_ parameters: TrackerParameters, trackers: [(host: String, port: Int)], group: GroupName, ownIP: String,
                    bind: String?) async throws -> (FileSource, StorageID?) {
        var serverID: StorageID? = nil
        if parameters["use_storage_id"] == "1" {
            if let configured = configuration.serverID, parameters["trust_storage_server_id"] != "0" {
                serverID = configured
            } else {
                let port = configuration.port
                let text = try await firstAnswer("no tracker knows the server id of \(ownIP):\(port) in \(group) (storage_ids.conf)",
                                                 trackers, bind: bind) { link in
                    try await link.request(GetServerIDRequest(group: group, address: IPPort(ip: ownIP, port: port))).text
                }
                do { serverID = try StorageID(text) } catch { throw StorageStartupError(description: "the tracker's server id '\(text)': \(error)") }
            }
        }
        if parameters["id_type_in_filename"] == "id", let serverID {
            guard let numeric = serverID.numericValue else {
                throw StorageStartupError(description: "server id '\(serverID)' is not a number 1...16777215 (id_type_in_filename = id)")
            }
            return (.serverID(numeric), serverID)
        }
        guard let ipv4 = IPv4Address(ownIP) else {
            throw StorageStartupError(description: "\(ownIP): IPv6 storages need use_storage_id = true and id_type_in_filename = id")
        }
        return (.ipv4(ipv4), serverID)
    }

    /// With server ids in file names, QUERY_FILE_INFO answers the source's address from the
    /// trackers' storage_ids.conf (FETCH_STORAGE_IDS, fetched once at startup like the C
    /// storage does): numeric id -> first address. A failure is a warning, not a stop: file
    /// info then answers an empty source address, as it does for an id it cannot resolve.
    func sourceAddresses(_ source: FileSource, trackers: [(host: String, port: Int)], bind: String?) async throws -> [UInt32: String] {
        guard case .serverID = source else { return [:] }
        let ids: StorageIDs?
        do {
            ids = try await firstAnswer("no tracker sent its storage ids", trackers, bind: bind) { [logger] link in
                do {
                    return try await TrackerClient(connection: link).storageIDs()
                } catch let error as ConfigError {
                    logger.warning("the tracker's storage ids do not parse; file info will not show source addresses", metadata: ["fdfs.error": "\(error)"])
                    return nil
                }
            }
        } catch let error as StorageStartupError {
            logger.warning("file info will not show source addresses", metadata: ["fdfs.error": "\(error)"])
            return [:]
        }
        var addresses: [UInt32: String] = [:]
        for entry in ids?.entries ?? [] {
            if let numeric = entry.id.numericValue { addresses[numeric] = entry.addresses[0].description }
        }
        return addresses
    }

    /// The store path marks (cluster spec §7.3, C `storage_check_store_path_mark`): a path
    /// whose `.fastdfs_vars` does not match this storage's `.data_init_flag` belongs to another
    /// storage, and startup stops before anything is written; paths without a mark get a new
    /// one. The flag is saved (with the new marks) before the `.fastdfs_vars` files, so a crash
    /// in between leaves "flag has a mark, path has none", which only regenerates the mark.
    static func checkStorePathMarks(_ paths: StorePaths, justCreated: [Int], flag: inout StorageInitFlag, flagPath: String,
                                    ipAddress: String, port: Int, now: Int64, logger: Logger) throws {
        var newMarks: [(index: Int, path: String, mark: StorePathMark)] = []
        for (index, storePath) in paths.paths.enumerated() {
            let markPath = StorePathMark.path(storePath: storePath.path)
            switch StorePathMark.decide(storePathMark: try StorePathMark.loadMark(path: markPath), initFlagMark: flag.storePathMarks[index]) {
            case .accept:
                continue
            case .refuse(let refusal):
                throw StorageStartupError(description: "store_path\(index) (\(storePath.path)): \(refusal)")
            case .generate(let reason):
                if reason == .storePathMarkMissing && !justCreated.contains(index) {
                    logger.warning("the store path mark is missing; writing a new one", metadata: ["fdfs.store_path": "\(storePath.path)"])
                }
                newMarks.append((index, markPath, StorePathMark.generate(ipAddress: ipAddress, port: port, storePathIndex: index, now: now)))
            }
        }
        for m in newMarks { flag.storePathMarks[m.index] = m.mark.mark }
        try flag.save(path: flagPath)
        for m in newMarks { try m.mark.save(path: m.path) }
    }
}

public import FDFSModel
public import FDFSProtocol

// Client- and admin-facing commands (protocol spec §4): where to upload, where to read,
// listings, deletion, identities.
extension ClusterState {
    func group(_ name: GroupName) throws(TrackerError) -> GroupState {
        guard let g = groups[name] else { throw TrackerError(.ENOENT, "unknown group \(name)") }
        return g
    }

    /// Writable storages of a group that are above their reserve.
    func uploadCandidates(_ g: GroupState) -> [Int] {
        g.writable.filter { policy.hasSpace(totalMB: g.storages[$0].totalMB, freeMB: g.storages[$0].freeMB) }
    }

    /// A group can take uploads: it has writable storages and its space is above the reserve.
    func canUpload(_ g: GroupState) -> Bool {
        let space = g.space
        return !g.writable.isEmpty && policy.hasSpace(totalMB: space.totalMB, freeMB: space.freeMB)
    }

    /// The group for an upload without a group (`store_lookup`, §4.1).
    mutating func chooseUploadGroup() throws(TrackerError) -> GroupName {
        let names = groups.keys.sorted()
        guard !names.isEmpty else { throw TrackerError(.ENOENT, "no groups") }
        switch policy.storeLookup {
        case .specifiedGroup:
            guard let name = policy.storeGroup else { throw TrackerError(.EINVAL, "store_lookup = 1 without store_group") }
            return name
        case .loadBalance:
            let usable = names.filter { canUpload(groups[$0]!) }
            guard let best = usable.max(by: { groups[$0]!.space.freeMB < groups[$1]!.space.freeMB }) else {
                throw names.contains(where: { !groups[$0]!.writable.isEmpty })
                    ? TrackerError(.ENOSPC, "every group is below its reserved space")
                    : TrackerError(.ENOENT, "no group has a writable storage")
            }
            return best
        case .roundRobin:
            for step in 0..<names.count {
                let name = names[(groupCursor + step) % names.count]
                if canUpload(groups[name]!) {
                    groupCursor = (groupCursor + step + 1) % names.count
                    return name
                }
            }
            throw names.contains(where: { !groups[$0]!.writable.isEmpty })
                ? TrackerError(.ENOSPC, "every group is below its reserved space")
                : TrackerError(.ENOENT, "no group has a writable storage")
        }
    }

    /// The storage of a group to upload to (`store_server`) and the store path (`store_path`
    /// and the per-path reserve, §7.3).
    mutating func chooseUploadTarget(_ name: GroupName) throws(TrackerError) -> (Int, UInt8) {
        var g = try group(name)
        guard !g.writable.isEmpty else { throw TrackerError(.ENOENT, "group \(name) has no writable storage") }
        let space = g.space
        guard policy.hasSpace(totalMB: space.totalMB, freeMB: space.freeMB) else {
            throw TrackerError(.ENOSPC, "group \(name) is below its reserved space")
        }
        let candidates = uploadCandidates(g)
        guard !candidates.isEmpty else { throw TrackerError(.ENOSPC, "every storage of \(name) is below its reserved space") }
        let chosen: Int
        switch policy.storeServer {
        case .roundRobin:
            chosen = candidates[g.writeServerCursor % candidates.count]
            g.writeServerCursor = (g.writeServerCursor + 1) % max(1, candidates.count)
        case .firstByIP:
            chosen = candidates[0]
        case .firstByPriority:
            chosen = candidates.min { g.storages[$0].uploadPriority < g.storages[$1].uploadPriority }!
        }
        let s = g.storages[chosen]
        let pathCount = max(1, s.storePathCount)
        var path: Int? = nil
        for step in 0..<pathCount {
            let p = (s.currentWritePath + step) % pathCount
            let usage = p < s.pathUsage.count ? s.pathUsage[p] : ReportDiskUsageRequest.PathUsage(totalMB: s.totalMB, freeMB: s.freeMB)
            if policy.pathHasSpace(usage, pathCount: pathCount) {
                path = p
                break
            }
        }
        guard let path else { throw TrackerError(.ENOSPC, "every store path of \(s.id) is below its reserved space") }
        if policy.storePath == .roundRobin { g.storages[chosen].currentWritePath = (path + 1) % pathCount }
        groups[name] = g
        return (chosen, UInt8(path))
    }

    func endpoint(_ s: TrackedStorage, for requesterIP: String) -> StorageEndpoint {
        StorageEndpoint(ipAddress: AddressClass.pick(s.ipAddresses, for: requesterIP), port: Int64(s.port))
    }

    /// QUERY_STORE_*_ONE (101, 104).
    public mutating func queryStore(group requested: GroupName?, requesterIP: String) throws(TrackerError) -> QueryStoreResponse {
        let name: GroupName
        if let requested { name = requested } else { name = try chooseUploadGroup() }
        let (i, path) = try chooseUploadTarget(name)
        return QueryStoreResponse(group: name, storage: endpoint(groups[name]!.storages[i], for: requesterIP),
                                  storePathIndex: path, ipAddressSize: policy.ipAddressSize)
    }

    /// QUERY_STORE_*_ALL (106, 107): every storage that can take the upload.
    public mutating func queryStoreAll(group requested: GroupName?, requesterIP: String) throws(TrackerError) -> QueryStoreAllResponse {
        let name: GroupName
        if let requested { name = requested } else { name = try chooseUploadGroup() }
        let (_, path) = try chooseUploadTarget(name)
        let g = groups[name]!
        return QueryStoreAllResponse(group: name, storages: uploadCandidates(g).map { endpoint(g.storages[$0], for: requesterIP) },
                                     storePathIndex: path, ipAddressSize: policy.ipAddressSize)
    }

    /// What the tracker reads from a file name: the name block at offset 10 (§6.13) and kind.
    func decodeFileName(_ filename: String) throws(TrackerError) -> (FileNameBlock, FileKind) {
        if let f = try? RemoteFilename(parsing: filename) { return (f.block, f.kind) }
        let bytes = Array(filename.utf8)
        guard bytes.count >= RemoteFilename.normalLength,
              let block = try? FileNameBlock(encoded: String(decoding: bytes[10..<37], as: UTF8.self)) else {
            throw TrackerError(.EINVAL, "cannot decode file name '\(filename)'")
        }
        return (block, block.sizeField.isAppender ? .appender : .normal)
    }

    /// The index of the file's source storage in the group, if it is still a member.
    func sourceIndex(_ g: GroupState, _ source: FileSource) -> Int? {
        switch source {
        case .serverID(let n): g.storages.firstIndex { $0.id.numericValue == n }
        case .ipv4(let a):
            g.storages.firstIndex { $0.ipAddresses.contains(a.description) && (g.info.storagePort <= 0 || $0.port == g.info.storagePort) }
        }
    }

    /// Whether storage `i` already has a file created at `timestamp` on `source`: it is the
    /// source, or it reported data from the source stamped after that second (a record of the
    /// same second says nothing of the other files of that second; docs/routing.md).
    func has(_ g: GroupState, _ i: Int, sourceIndex: Int?, timestamp: Int64) -> Bool {
        if i == sourceIndex { return true }
        guard let src = sourceIndex else {
            return false
        }
        return (g.synced[g.storages[src].id]?[g.storages[i].id] ?? 0) > timestamp
    }

    /// QUERY_FETCH_ONE (102) and QUERY_FETCH_ALL (105): only storages that have the file.
    /// The store path index a remote filename names (`M0F/...`), nil when it names none.
    static func storePathIndex(_ filename: String) -> Int? {
        let b = Array(filename.utf8.prefix(4))
        guard b.count == 4, b[0] == UInt8(ascii: "M"), b[3] == UInt8(ascii: "/"),
              let index = Int(String(decoding: b[1...2], as: UTF8.self), radix: 16) else { return nil }
        return index
    }

    /// Whether storage `i` can serve files of store path `path`: not when its last disk report
    /// gave that path no space at all (its data directory vanished; a C storage never reports that).
    func servesPath(_ g: GroupState, _ i: Int, _ path: Int?) -> Bool {
        guard let path else { return true }
        let usage = g.storages[i].pathUsage
        return path >= usage.count || usage[path].totalMB > 0
    }

    public mutating func queryFetch(group name: GroupName, filename: String, all: Bool, requesterIP: String) throws(TrackerError) -> QueryFetchResponse {
        var g = try group(name)
        let (block, kind) = try decodeFileName(filename)
        let src = sourceIndex(g, block.source)
        let path = Self.storePathIndex(filename)
        let readable = g.readable.filter { servesPath(g, $0, path) }
        let holders: [Int]
        if kind == .appender || kind == .slave || policy.downloadServer == .sourceFirst, let src, readable.contains(src) {
            holders = [src]
        } else if kind == .appender || kind == .slave {
            // Appender and slave files change or appear on the source first; only it is sure.
            holders = []
        } else {
            holders = readable.filter { has(g, $0, sourceIndex: src, timestamp: Int64(block.createTimestamp)) }
        }
        guard !holders.isEmpty else { throw TrackerError(.ENOENT, "no readable storage of \(name) has \(filename) yet") }
        let chosen: [Int]
        if all {
            chosen = holders
        } else {
            chosen = [holders[g.readServerCursor % holders.count]]
            g.readServerCursor = (g.readServerCursor + 1) % max(1, readable.count)
            groups[name] = g
        }
        return QueryFetchResponse(group: name, storages: chosen.map { endpoint(g.storages[$0], for: requesterIP) }, ipAddressSize: policy.ipAddressSize)
    }

    /// QUERY_UPDATE (103): the source if it is writable and active, else a writable storage
    /// that already has the file.
    public func queryUpdate(group name: GroupName, filename: String, requesterIP: String) throws(TrackerError) -> QueryFetchResponse {
        let g = try group(name)
        let (block, _) = try decodeFileName(filename)
        let src = sourceIndex(g, block.source)
        let path = Self.storePathIndex(filename)
        let writable = g.writable.filter { servesPath(g, $0, path) }
        let sourceWritable = src.flatMap { writable.contains($0) ? $0 : nil }
        // An appender file changes in place: an append or modify done on another member while
        // the source is away would be overwritten by the source's own later changes (both
        // write at the size they know), so an acknowledged append would be lost. Only the
        // source takes them; while it is away the answer is EAGAIN: try again later.
        if block.sizeField.isAppender && sourceWritable == nil {
            throw TrackerError(.EAGAIN, "the source storage of appender file \(filename) is not writable now; it alone changes the file")
        }
        let chosen = sourceWritable ?? writable.first { has(g, $0, sourceIndex: src, timestamp: Int64(block.createTimestamp)) }
        guard let chosen else { throw TrackerError(.ENOENT, "no writable storage of \(name) has \(filename)") }
        return QueryFetchResponse(group: name, storages: [endpoint(g.storages[chosen], for: requesterIP)], ipAddressSize: policy.ipAddressSize)
    }

    func groupStat(_ g: GroupState) -> GroupStat {
        var s = GroupStat(groupName: g.info.name.rawValue)
        let space = g.space
        s.totalMB = space.totalMB
        s.freeMB = space.freeMB
        s.reservedMB = policy.reservedMB(totalMB: space.totalMB)
        s.storageCount = Int64(g.storages.count)
        s.storagePort = Int64(g.info.storagePort)
        s.readableServerCount = Int64(g.readable.count)
        s.writableServerCount = Int64(g.writable.count)
        s.currentWriteServer = Int64(g.writeServerCursor)
        s.storePathCount = Int64(g.info.storePathCount)
        s.subdirCountPerPath = Int64(g.info.subdirCountPerPath)
        s.currentTrunkFileID = policy.trunk.useTrunkFile ? g.info.currentTrunkFileID : -1
        return s
    }

    /// SERVER_LIST_ALL_GROUPS (91).
    public func listGroups() -> GroupStatList {
        GroupStatList(groups: groups.keys.sorted().map { groupStat(groups[$0]!) })
    }

    /// SERVER_LIST_ONE_GROUP (90).
    public func listGroup(_ name: GroupName) throws(TrackerError) -> GroupStatList {
        GroupStatList(groups: [groupStat(try group(name))])
    }

    /// SERVER_LIST_STORAGE (92): every storage of a group, or the one with `id`.
    public func listStorages(_ name: GroupName, id: String?, requesterIP: String) throws(TrackerError) -> StorageStatList {
        let g = try group(name)
        var list = g.indicesByID.map { g.storages[$0] }
        if let id {
            list = list.filter { $0.id.rawValue == id }
            guard !list.isEmpty else { throw TrackerError(.ENOENT, "no storage \(id) in group \(name)") }
        }
        return StorageStatList(storages: list.map { stat($0, for: requesterIP) }, ipAddressSize: policy.ipAddressSize)
    }

    func stat(_ t: TrackedStorage, for requesterIP: String) -> StorageStat {
        var s = StorageStat(status: t.status, id: t.id.rawValue, ipAddress: AddressClass.pick(t.ipAddresses, for: requesterIP))
        s.rwMode = t.rwMode
        s.sourceID = t.syncSourceID?.rawValue ?? ""
        s.version = t.version
        s.joinTime = t.joinTime
        s.upTime = t.upTime
        s.totalMB = t.totalMB
        s.freeMB = t.freeMB
        s.reservedMB = policy.reservedMB(totalMB: t.totalMB)
        s.uploadPriority = t.uploadPriority
        s.storePathCount = Int64(t.storePathCount)
        s.subdirCountPerPath = Int64(t.subdirCountPerPath)
        s.currentWritePath = Int64(t.currentWritePath)
        s.storagePort = Int64(t.port)
        s.statistics = t.statistics
        return s
    }

    /// SERVER_DELETE_STORAGE (93), §4.6 and the DELETE side effects of §2.2.
    public mutating func deleteStorage(_ name: GroupName, id text: String, now: Int64) throws(TrackerError) {
        var g = try group(name)
        guard let id = try? StorageID(text), let i = g.index(of: id), g.storages[i].status != .ipChanged else {
            throw TrackerError(.ENOENT, "no storage \(text) in group \(name)")
        }
        switch g.storages[i].status {
        case .online, .active, .recovery: throw TrackerError(.EBUSY, "storage \(id) is \(g.storages[i].status.name); stop it first")
        case .deleted: throw TrackerError(.EALREADY, "storage \(id) is already deleted")
        default: break
        }
        var s = TrackedStorage(id: id, group: name, ipAddresses: g.storages[i].ipAddresses, port: g.storages[i].port, status: .deleted)
        s.version = g.storages[i].version
        s.joinTime = g.storages[i].joinTime
        g.storages[i] = s
        for j in g.storages.indices where g.storages[j].syncSourceID == id {
            g.storages[j].syncSourceID = nil
            g.storages[j].syncUntilTimestamp = 0
        }
        g.synced[id] = nil
        for src in g.synced.keys { g.synced[src]?[id] = nil }
        g.changed()
        groups[name] = g
        // Written at once, unlike C (§10.15): a restart must not resurrect a deleted storage.
        actions += [.appendChangelog("\(now) \(name) \(id) \(StorageStatus.deleted.rawValue) "), .saveStorages, .saveSyncTimestamps]
    }

    /// SERVER_DELETE_GROUP (108): only a group without live storages.
    public mutating func deleteGroup(_ name: GroupName) throws(TrackerError) {
        let g = try group(name)
        guard g.storages.allSatisfy({ $0.status == .deleted }) else { throw TrackerError(.EBUSY, "group \(name) still has storages") }
        groups[name] = nil
        actions += [.saveGroups, .saveStorages, .saveSyncTimestamps]
    }

    /// STORAGE_GET_STATUS (71): the brief of the storage at `ip:port`.
    public func storageStatus(_ name: GroupName, address: IPPort) throws(TrackerError) -> StorageBrief {
        guard let s = find(name, ip: address.ip, port: address.port) else { throw TrackerError(.ENOENT, "no storage \(address) in \(name)") }
        return StorageBrief(status: s.status, port: Int32(s.port), id: s.id.rawValue, ipAddress: s.primaryIPAddress)
    }

    /// STORAGE_GET_SERVER_ID (70).
    public func serverID(_ name: GroupName, address: IPPort) throws(TrackerError) -> String {
        if policy.useStorageID {
            guard let e = policy.storageIDs?.entry(groupName: name, ipAddress: address.ip, port: address.port) else {
                throw TrackerError(.ENOENT, "no storage_ids.conf entry for \(name) \(address)")
            }
            return e.id.rawValue
        }
        guard !address.ip.contains(":") else { throw TrackerError(.EINVAL, "IPv6 storages need use_storage_id = true") }
        return address.ip
    }

    /// STORAGE_GET_MY_IP (60): the configured addresses of a known storage, else the
    /// requester's address.
    public func myIP(_ r: GetMyIPRequest, peerIP: String) -> String {
        if policy.useStorageID, let e = policy.storageIDs?.entry(groupName: r.group, ipAddress: peerIP, port: Int(r.port)) {
            return e.addresses.map(\.description).joined(separator: ",")
        }
        return peerIP
    }

    /// STORAGE_GET_GROUP_NAME (109): only with storage ids.
    public func groupName(_ r: GetGroupNameRequest, peerIP: String) throws(TrackerError) -> GroupName {
        guard policy.useStorageID, let ids = policy.storageIDs else { throw TrackerError(.EOPNOTSUPP, "storage ids are not in use") }
        guard let e = ids.entry(ipAddress: r.ipAddress ?? peerIP, port: Int(r.port)) else {
            throw TrackerError(.ENOENT, "no storage_ids.conf entry for \(r.ipAddress ?? peerIP):\(r.port)")
        }
        return e.groupName
    }

    /// STORAGE_FETCH_STORAGE_IDS (69): a page of storage_ids.conf lines.
    public func fetchStorageIDs(_ r: FetchStorageIDsRequest, maxBytes: Int = 8 * 1024) throws(TrackerError) -> FetchStorageIDsResponse {
        guard policy.useStorageID, let ids = policy.storageIDs else {
            if r.allowEmpty { return FetchStorageIDsResponse(total: 0, count: 0, text: "") }
            throw TrackerError(.EOPNOTSUPP, "storage ids are not in use")
        }
        let lines = ids.formatted().split(separator: "\n").map { $0 + "\n" }
        guard r.startIndex >= 0, Int(r.startIndex) < lines.count else { throw TrackerError(.EINVAL, "start index \(r.startIndex) out of range") }
        var text = "", count: Int32 = 0
        for line in lines[Int(r.startIndex)...] {
            if text.utf8.count + line.utf8.count > maxBytes - 128 && count > 0 { break }
            text += line
            count += 1
        }
        return FetchStorageIDsResponse(total: Int32(lines.count), count: count, text: text)
    }
}

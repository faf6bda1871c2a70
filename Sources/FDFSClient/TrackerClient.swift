public import FDFSConfig
public import FDFSModel
public import FDFSProtocol

/// The client side of the client/admin -> tracker commands (protocol spec §4) over one
/// connection, one call at a time.
public struct TrackerClient: Sendable {
    public let connection: FDFSClientConnection

    public init(connection: FDFSClientConnection) { self.connection = connection }

    /// Where to upload: QUERY_STORE_WITHOUT_GROUP_ONE (101), or QUERY_STORE_WITH_GROUP_ONE
    /// (104) for `group`. No writable storage with space is ENOSPC; an unknown group ENOENT.
    public func queryStore(group: GroupName? = nil) async throws -> QueryStoreResponse {
        if let group { return try await connection.request(QueryStoreWithGroupOneRequest(group: group)) }
        return try await connection.request(QueryStoreWithoutGroupOneRequest())
    }

    /// Every storage an upload may go to: QUERY_STORE_*_ALL (106/107).
    public func queryStoreAll(group: GroupName? = nil) async throws -> QueryStoreAllResponse {
        if let group { return try await connection.request(QueryStoreWithGroupAllRequest(group: group)) }
        return try await connection.request(QueryStoreWithoutGroupAllRequest())
    }

    /// One storage that has `file` (QUERY_FETCH_ONE, 102).
    public func queryFetch(_ file: FileID) async throws -> QueryFetchResponse {
        try await connection.request(QueryFetchOneRequest(group: file.group, filename: file.remoteFilename.text))
    }

    /// Every storage that has `file` (QUERY_FETCH_ALL, 105).
    public func queryFetchAll(_ file: FileID) async throws -> QueryFetchResponse {
        try await connection.request(QueryFetchAllRequest(group: file.group, filename: file.remoteFilename.text))
    }

    /// The storage that changes `file` (its source, QUERY_UPDATE, 103).
    public func queryUpdate(_ file: FileID) async throws -> QueryFetchResponse {
        try await connection.request(QueryUpdateRequest(group: file.group, filename: file.remoteFilename.text))
    }

    /// LIST_ALL_GROUPS (91).
    public func listGroups() async throws -> [GroupStat] {
        try await connection.request(ListAllGroupsRequest()).groups
    }

    /// LIST_ONE_GROUP (90); an unknown group is ENOENT.
    public func listGroup(_ group: GroupName) async throws -> GroupStat {
        guard let stat = try await connection.request(ListOneGroupRequest(group: group)).groups.first else {
            throw FDFSClientError.status(.ENOENT)
        }
        return stat
    }

    /// LIST_STORAGE (92): the storages of `group` (or the one with `storageID`), sorted by id.
    public func listStorages(group: GroupName, storageID: String? = nil) async throws -> [StorageStat] {
        try await connection.request(ListStorageRequest(group: group, storageID: storageID)).storages
    }

    /// DELETE_STORAGE (93): refused (EBUSY) by the tracker while the storage is ONLINE or ACTIVE.
    public func deleteStorage(group: GroupName, storageID: String) async throws {
        _ = try await connection.request(DeleteStorageRequest(group: group, storageID: storageID))
    }

    /// FETCH_STORAGE_IDS (69), page after page (at most 32 requests, cluster spec §1.13): the
    /// tracker's storage_ids.conf. Empty when the tracker does not use storage ids.
    public func storageIDs() async throws -> StorageIDs {
        let source = "FETCH_STORAGE_IDS from " + (connection.remoteAddress.map { "\($0)" } ?? "the tracker")
        var text = ""
        var fetched: Int32 = 0
        for _ in 0..<32 {
            let page = try await connection.request(FetchStorageIDsRequest(startIndex: fetched, allowEmpty: true))
            text += page.text
            fetched += page.count
            if fetched >= page.total { return try StorageIDs.parse(text: text, path: source) }
            guard page.count > 0 else { break }
        }
        throw FDFSClientError.inconsistentReply("\(source) stopped after \(fetched) ids")
    }

    /// TRACKER_GET_LEADER (95): the leader's address.
    public func leader() async throws -> IPPort {
        try await connection.request(GetLeaderRequest()).address
    }
}

public import NIOCore

/// Everything a receiver needs to know about one command: its FastDFS name, how its body is
/// framed, and the codecs of its request and response (type-erased so that a server can look
/// them up by the header's command byte).
public struct CommandDescriptor: Sendable {
    public let code: UInt8
    /// The FastDFS name, e.g. `QUERY_STORE_WITHOUT_GROUP_ONE`.
    public let name: String
    public let requestType: any FDFSRequest.Type
    public let responseType: any FDFSBody.Type
    /// Set for commands whose content is streamed after a fixed part.
    public let streaming: StreamingRule?

    public struct StreamingRule: Sendable {
        public let prefixLength: Int
        public let framing: @Sendable (ByteBuffer, UInt8) throws(FDFSProtocolError) -> StreamFraming
    }

    let decodeRequestBody: @Sendable (ByteBuffer, UInt8) throws(FDFSProtocolError) -> any FDFSRequest
    let decodeResponseBody: @Sendable (ByteBuffer) throws(FDFSProtocolError) -> any FDFSBody

    static func make<R: FDFSRequest>(_ type: R.Type, _ name: String) -> CommandDescriptor {
        CommandDescriptor(code: R.command, name: name, requestType: R.self, responseType: R.Response.self, streaming: nil,
                          decodeRequestBody: { (b, s) throws(FDFSProtocolError) in try R.decode(body: b, command: R.command, headerStatus: s) },
                          decodeResponseBody: { b throws(FDFSProtocolError) in try R.Response.decode(body: b, command: R.command) })
    }

    static func make<R: FDFSStreamingRequest>(_ type: R.Type, _ name: String) -> CommandDescriptor {
        CommandDescriptor(code: R.command, name: name, requestType: R.self, responseType: R.Response.self,
                          streaming: StreamingRule(prefixLength: R.fixedPrefixLength,
                                                   framing: { (b, s) throws(FDFSProtocolError) in try R.framing(prefix: b, headerStatus: s) }),
                          decodeRequestBody: { (b, s) throws(FDFSProtocolError) in try R.decode(body: b, command: R.command, headerStatus: s) },
                          decodeResponseBody: { b throws(FDFSProtocolError) in try R.Response.decode(body: b, command: R.command) })
    }

    /// Decodes a request body (for streaming commands: the fixed part).
    public func decodeRequest(body: ByteBuffer, headerStatus: UInt8 = 0) throws(FDFSProtocolError) -> any FDFSRequest {
        try decodeRequestBody(body, headerStatus)
    }

    /// Decodes the body of a success response to this command.
    public func decodeResponse(body: ByteBuffer) throws(FDFSProtocolError) -> any FDFSBody {
        try decodeResponseBody(body)
    }
}

/// Which side of a connection receives the requests: it decides which command codes exist.
public enum FDFSServerRole: String, Sendable, Hashable, CaseIterable {
    /// Accepts client, admin, storage and peer-tracker commands.
    case tracker
    /// Accepts client, peer-storage, trunk and tracker-to-storage commands.
    case storage
}

/// The command tables of both servers: every command of the two specs, with its codec.
public enum CommandRegistry {
    public static let trackerCommands: [CommandDescriptor] = [
        .make(QueryStoreWithoutGroupOneRequest.self, "QUERY_STORE_WITHOUT_GROUP_ONE"),
        .make(QueryFetchOneRequest.self, "QUERY_FETCH_ONE"),
        .make(QueryUpdateRequest.self, "QUERY_UPDATE"),
        .make(QueryStoreWithGroupOneRequest.self, "QUERY_STORE_WITH_GROUP_ONE"),
        .make(QueryFetchAllRequest.self, "QUERY_FETCH_ALL"),
        .make(QueryStoreWithoutGroupAllRequest.self, "QUERY_STORE_WITHOUT_GROUP_ALL"),
        .make(QueryStoreWithGroupAllRequest.self, "QUERY_STORE_WITH_GROUP_ALL"),
        .make(DeleteGroupRequest.self, "SERVER_DELETE_GROUP"),
        .make(ListOneGroupRequest.self, "SERVER_LIST_ONE_GROUP"),
        .make(ListAllGroupsRequest.self, "SERVER_LIST_ALL_GROUPS"),
        .make(ListStorageRequest.self, "SERVER_LIST_STORAGE"),
        .make(DeleteStorageRequest.self, "SERVER_DELETE_STORAGE"),
        .make(SetTrunkServerRequest.self, "SERVER_SET_TRUNK_SERVER"),
        .make(GetLeaderRequest.self, "SERVER_GET_LEADER"),
        .make(TrackerClusterStatRequest.self, "SERVER_TRACKER_CLUSTER_STAT"),
        .make(StorageClusterStatRequest.self, "SERVER_STORAGE_CLUSTER_STAT"),
        .make(StorageVolumeStatRequest.self, "SERVER_STORAGE_VOLUMN_STAT"),
        .make(GetStorageStatusRequest.self, "STORAGE_GET_STATUS"),
        .make(GetServerIDRequest.self, "STORAGE_GET_SERVER_ID"),
        .make(GetMyIPRequest.self, "STORAGE_GET_MY_IP"),
        .make(GetGroupNameRequest.self, "STORAGE_GET_GROUP_NAME"),
        .make(FetchStorageIDsRequest.self, "STORAGE_FETCH_STORAGE_IDS"),
        .make(TrackerGetStatusRequest.self, "TRACKER_GET_STATUS"),
        .make(ParameterRequest.self, "STORAGE_PARAMETER_REQ"),
        .make(ActiveTestRequest.self, "ACTIVE_TEST"),
        .make(QuitRequest.self, "QUIT"),
        .make(StorageJoinRequest.self, "STORAGE_JOIN"),
        .make(StorageBeatRequest.self, "STORAGE_BEAT"),
        .make(ReportDiskUsageRequest.self, "STORAGE_REPORT_DISK_USAGE"),
        .make(ReplicaChangeRequest.self, "STORAGE_REPLICA_CHG"),
        .make(SyncSourceRequest.self, "STORAGE_SYNC_SRC_REQ"),
        .make(SyncDestRequest.self, "STORAGE_SYNC_DEST_REQ"),
        .make(SyncNotifyRequest.self, "STORAGE_SYNC_NOTIFY"),
        .make(SyncReportRequest.self, "STORAGE_SYNC_REPORT"),
        .make(SyncDestQueryRequest.self, "STORAGE_SYNC_DEST_QUERY"),
        .make(ReportIPChangedRequest.self, "STORAGE_REPORT_IP_CHANGED"),
        .make(ChangelogRequest.self, "STORAGE_CHANGELOG_REQ"),
        .make(ReportStatusRequest.self, "STORAGE_REPORT_STATUS"),
        .make(ReportTrunkFreeRequest.self, "STORAGE_REPORT_TRUNK_FREE"),
        .make(ReportTrunkFileIDRequest.self, "STORAGE_REPORT_TRUNK_FID"),
        .make(FetchTrunkFileIDRequest.self, "STORAGE_FETCH_TRUNK_FID"),
        .make(ChangeStatusRequest.self, "STORAGE_CHANGE_STATUS"),
        .make(NotifyReselectLeaderRequest.self, "TRACKER_NOTIFY_RESELECT_LEADER"),
        .make(JoinLeaderRequest.self, "TRACKER_JOIN_LEADER"),
        .make(GetSysFilesStartRequest.self, "TRACKER_GET_SYS_FILES_START"),
        .make(GetSysFilesEndRequest.self, "TRACKER_GET_SYS_FILES_END"),
        .make(GetOneSysFileRequest.self, "TRACKER_GET_ONE_SYS_FILE"),
        .make(PingLeaderRequest.self, "TRACKER_PING_LEADER"),
        .make(NotifyNextLeaderRequest.self, "TRACKER_NOTIFY_NEXT_LEADER"),
        .make(CommitNextLeaderRequest.self, "TRACKER_COMMIT_NEXT_LEADER"),
        .make(ClusterChallengeRequest.self, "CLUSTER_CHALLENGE"),
        .make(ClusterProofRequest.self, "CLUSTER_PROOF"),
    ]

    public static let storageCommands: [CommandDescriptor] = [
        .make(UploadFileRequest.self, "UPLOAD_FILE"),
        .make(DeleteFileRequest.self, "DELETE_FILE"),
        .make(SetMetadataRequest.self, "SET_METADATA"),
        .make(DownloadFileRequest.self, "DOWNLOAD_FILE"),
        .make(GetMetadataRequest.self, "GET_METADATA"),
        .make(CreateLinkRequest.self, "CREATE_LINK"),
        .make(UploadSlaveFileRequest.self, "UPLOAD_SLAVE_FILE"),
        .make(QueryFileInfoRequest.self, "QUERY_FILE_INFO"),
        .make(UploadAppenderFileRequest.self, "UPLOAD_APPENDER_FILE"),
        .make(AppendFileRequest.self, "APPEND_FILE"),
        .make(ModifyFileRequest.self, "MODIFY_FILE"),
        .make(TruncateFileRequest.self, "TRUNCATE_FILE"),
        .make(RegenerateAppenderFilenameRequest.self, "REGENERATE_APPENDER_FILENAME"),
        .make(ListFilesRequest.self, "LIST_FILES"),
        .make(HTTPEndpointRequest.self, "HTTP_ENDPOINT"),
        .make(ResyncPeerRequest.self, "RESYNC_PEER"),
        .make(ScrubRequest.self, "SCRUB"),
        .make(ActiveTestRequest.self, "ACTIVE_TEST"),
        .make(QuitRequest.self, "QUIT"),
        .make(ReportServerIDRequest.self, "REPORT_SERVER_ID"),
        .make(SyncCreateFileRequest.self, "SYNC_CREATE_FILE"),
        .make(SyncDeleteFileRequest.self, "SYNC_DELETE_FILE"),
        .make(SyncUpdateFileRequest.self, "SYNC_UPDATE_FILE"),
        .make(SyncCreateLinkRequest.self, "SYNC_CREATE_LINK"),
        .make(SyncAppendFileRequest.self, "SYNC_APPEND_FILE"),
        .make(FetchOnePathBinlogRequest.self, "FETCH_ONE_PATH_BINLOG"),
        .make(TrunkAllocSpaceRequest.self, "TRUNK_ALLOC_SPACE"),
        .make(TrunkAllocConfirmRequest.self, "TRUNK_ALLOC_CONFIRM"),
        .make(TrunkFreeSpaceRequest.self, "TRUNK_FREE_SPACE"),
        .make(TrunkSyncBinlogRequest.self, "TRUNK_SYNC_BINLOG"),
        .make(TrunkGetBinlogSizeRequest.self, "TRUNK_GET_BINLOG_SIZE"),
        .make(TrunkDeleteBinlogMarksRequest.self, "TRUNK_DELETE_BINLOG_MARKS"),
        .make(TrunkTruncateBinlogFileRequest.self, "TRUNK_TRUNCATE_BINLOG_FILE"),
        .make(SyncModifyFileRequest.self, "SYNC_MODIFY_FILE"),
        .make(SyncTruncateFileRequest.self, "SYNC_TRUNCATE_FILE"),
        .make(SyncRenameFileRequest.self, "SYNC_RENAME_FILE"),
        .make(ClusterChallengeRequest.self, "CLUSTER_CHALLENGE"),
        .make(ClusterProofRequest.self, "CLUSTER_PROOF"),
    ]

    static let trackerTable = table(trackerCommands)
    static let storageTable = table(storageCommands)

    static func table(_ list: [CommandDescriptor]) -> [CommandDescriptor?] {
        var t = [CommandDescriptor?](repeating: nil, count: 256)
        for d in list {
            precondition(t[Int(d.code)] == nil, "command \(d.code) registered twice")
            t[Int(d.code)] = d
        }
        return t
    }

    /// The command a server of `role` knows under `code`, or nil (the server answers EINVAL).
    public static func descriptor(for code: UInt8, role: FDFSServerRole) -> CommandDescriptor? {
        switch role {
        case .tracker: trackerTable[Int(code)]
        case .storage: storageTable[Int(code)]
        }
    }

    public static func commands(for role: FDFSServerRole) -> [CommandDescriptor] {
        role == .tracker ? trackerCommands : storageCommands
    }

    /// Decodes a complete non-streaming request (or the fixed part of a streaming one) for a
    /// server of `role`.
    public static func decodeRequest(header: FDFSHeader, body: ByteBuffer, role: FDFSServerRole) throws(FDFSProtocolError) -> any FDFSRequest {
        guard let d = descriptor(for: header.command, role: role) else {
            throw FDFSProtocolError(.unknownCommand, command: header.command, "unknown command code \(header.command)")
        }
        return try d.decodeRequest(body: body, headerStatus: header.status)
    }
}

/// Command codes sent by clients and admin tools to a tracker (protocol spec §3.1).
public enum TrackerCommand: UInt8, Sendable, CaseIterable {
    case queryStoreWithoutGroupOne = 101
    case queryFetchOne = 102
    case queryUpdate = 103
    case queryStoreWithGroupOne = 104
    case queryFetchAll = 105
    case queryStoreWithoutGroupAll = 106
    case queryStoreWithGroupAll = 107
    case deleteGroup = 108
    case listOneGroup = 90
    case listAllGroups = 91
    case listStorage = 92
    case deleteStorage = 93
    case setTrunkServer = 94
    case getLeader = 95
    case trackerClusterStat = 96
    case storageClusterStat = 97
    case storageVolumeStat = 98
    case getStorageStatus = 71
    case getServerID = 70
    case getMyIP = 60
    case getGroupName = 109
    case fetchStorageIDs = 69
    case trackerGetStatus = 64
    case parameterRequest = 75
    case activeTest = 111
    case quit = 82
}

/// Command codes sent by clients to a storage server (protocol spec §3.2).
public enum StorageCommand: UInt8, Sendable, CaseIterable {
    case uploadFile = 11
    case deleteFile = 12
    case setMetadata = 13
    case downloadFile = 14
    case getMetadata = 15
    case createLink = 20
    case uploadSlaveFile = 21
    case queryFileInfo = 22
    case uploadAppenderFile = 23
    case appendFile = 24
    case modifyFile = 34
    case truncateFile = 36
    case regenerateAppenderFilename = 38
    /// swift-fdfs extension, unknown to C storages (docs/protocol.md, "LIST_FILES").
    case listFiles = 250
    /// swift-fdfs extension: the storage's HTTP port (docs/protocol.md, "HTTP_ENDPOINT").
    case httpEndpoint = 251
    /// swift-fdfs extension: push every file to a peer again (docs/protocol.md, "RESYNC_PEER").
    case resyncPeer = 254
    /// swift-fdfs extension: start a scrub pass, or read its progress (docs/protocol.md, "SCRUB").
    case scrub = 255
    case activeTest = 111
    case quit = 82
}

/// Command codes a storage server sends to a tracker (cluster spec §1.1). Some codes are
/// shared with clients (parameters, ids, status) and listed in both enums.
public enum StorageToTrackerCommand: UInt8, Sendable, CaseIterable {
    case join = 81
    case beat = 83
    case reportDiskUsage = 84
    case replicaChange = 85
    case syncSourceRequest = 86
    case syncDestRequest = 87
    case syncNotify = 88
    case syncReport = 89
    case syncDestQuery = 79
    case reportIPChanged = 78
    case changelogRequest = 77
    case reportStatus = 76
    case parameterRequest = 75
    case reportTrunkFree = 74
    case reportTrunkFileID = 73
    case fetchTrunkFileID = 72
    case getStorageStatus = 71
    case getServerID = 70
    case fetchStorageIDs = 69
    case notifyReselectLeader = 68
    case trackerGetStatus = 64
    case getMyIP = 60
    case changeStatus = 59
    case getGroupName = 109
    case activeTest = 111
    case quit = 82
}

/// Command codes trackers send to each other (cluster spec §4).
public enum TrackerToTrackerCommand: UInt8, Sendable, CaseIterable {
    case joinLeader = 58
    case getSysFilesStart = 61
    case getSysFilesEnd = 62
    case getOneSysFile = 63
    case getStatus = 64
    case pingLeader = 65
    case notifyNextLeader = 66
    case commitNextLeader = 67
    case notifyReselectLeader = 68
    case activeTest = 111
    case quit = 82
}

/// Command codes storage servers send to each other: replication (cluster spec §6.5), disk
/// recovery (§7.6) and trunk-space management (§6.6).
public enum StorageToStorageCommand: UInt8, Sendable, CaseIterable {
    case reportServerID = 9
    case syncCreateFile = 16
    case syncDeleteFile = 17
    case syncUpdateFile = 18
    case syncCreateLink = 19
    case syncAppendFile = 25
    case fetchOnePathBinlog = 26
    case trunkAllocSpace = 27
    case trunkAllocConfirm = 28
    case trunkFreeSpace = 29
    case trunkSyncBinlog = 30
    case trunkTruncateBinlogFile = 33
    case syncModifyFile = 35
    case syncTruncateFile = 37
    case syncRenameFile = 40
    case queryFileInfo = 22
    case activeTest = 111
    case quit = 82
}

/// Command codes a tracker sends to a storage server (trunk management, cluster spec §1.14).
public enum TrackerToStorageCommand: UInt8, Sendable, CaseIterable {
    case trunkGetBinlogSize = 31
    case trunkDeleteBinlogMarks = 32
}

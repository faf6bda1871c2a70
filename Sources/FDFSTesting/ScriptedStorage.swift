public import FDFSClient
public import FDFSModel
public import FDFSProtocol

/// A storage server played by a test: it speaks the storage -> tracker protocol with our
/// protocol types over a real connection, from its own loopback address (`127.0.0.x`), so a
/// tracker sees it exactly as it would see a daemon.
public final class ScriptedStorage: Sendable {
    public let ipAddress: String
    public let port: Int
    public let group: GroupName
    public let trackers: [(host: String, port: Int)]
    public let connection: FDFSClientConnection

    init(ipAddress: String, port: Int, group: GroupName, trackers: [(host: String, port: Int)], connection: FDFSClientConnection) {
        self.ipAddress = ipAddress
        self.port = port
        self.group = group
        self.trackers = trackers
        self.connection = connection
    }

    /// Connects from `ipAddress` to tracker `index` of `trackers` (the list it sends in JOIN),
    /// or to `dial` when given.
    public static func connect(ipAddress: String, port: Int = 23000, group: GroupName, trackers: [(host: String, port: Int)],
                               to index: Int = 0, dial: (host: String, port: Int)? = nil,
                               clusterSecrets: ClusterSecrets? = nil) async throws -> ScriptedStorage {
        let t = dial ?? trackers[index]
        let connection = try await FDFSClientConnection.connect(host: t.host, port: t.port, bindAddress: ipAddress, clusterSecrets: clusterSecrets)
        return ScriptedStorage(ipAddress: ipAddress, port: port, group: group, trackers: trackers, connection: connection)
    }

    public var id: StorageID { try! StorageID(ipAddress) }

    /// STORAGE_JOIN with this storage's settings.
    public func join(initFlag: Bool = true, status: StorageStatus = .initial, storePathCount: Int64 = 1, trackerIndex: Int = 0) async throws -> StorageJoinResponse {
        try await connection.request(StorageJoinRequest(
            group: group, storagePort: Int64(port), storePathCount: storePathCount, subdirCountPerPath: 256, uploadPriority: 10,
            joinTime: 1_795_000_000, upTime: 1_795_000_000, version: "6.16.1", initFlag: initFlag, status: status, storageID: nil,
            currentTrackerIP: trackers[trackerIndex].host, trackers: trackers.map { "\($0.host):\($0.port)" }))
    }

    @discardableResult
    public func beat(_ statistics: StorageStatistics? = nil) async throws -> ChangeNotification {
        try await connection.request(StorageBeatRequest(statistics: statistics))
    }

    @discardableResult
    public func reportDiskUsage(totalMB: Int64 = 10_000, freeMB: Int64 = 5_000) async throws -> ChangeNotification {
        try await connection.request(ReportDiskUsageRequest(paths: [.init(totalMB: totalMB, freeMB: freeMB)]))
    }

    public func syncDestRequest() async throws -> SyncInfo? { try await connection.request(SyncDestRequest()).info }

    public func syncNotify(_ info: SyncInfo) async throws { _ = try await connection.request(SyncNotifyRequest(info: info)) }

    @discardableResult
    public func syncReport(_ entries: [SyncReportRequest.Entry]) async throws -> ChangeNotification {
        try await connection.request(SyncReportRequest(entries: entries))
    }

    /// REPORT_STATUS of `peer` as this storage sees it (sync source duties).
    public func reportStatus(of peer: ScriptedStorage, _ status: StorageStatus) async throws {
        _ = try await connection.request(ReportStatusRequest(
            group: group, brief: StorageBrief(status: status, port: Int32(peer.port), id: peer.ipAddress, ipAddress: peer.ipAddress)))
    }

    public func close() async { await connection.close() }
}

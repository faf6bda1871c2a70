public import FDFSClient
public import FDFSModel
public import FDFSProtocol
public import Logging
import NIOCore

/// The short tracker calls of replication, each on a fresh connection that is closed after
/// the answer (cluster spec §1.8, §1.9): SYNC_SRC_REQ and REPORT_STATUS.
public struct TrackerCalls: Sendable {
    /// Every tracker of storage.conf as (host, port).
    public var trackers: [(host: String, port: Int)]
    /// Outgoing connections leave from this address (`bind_addr` with `client_bind`).
    public var bindAddress: String?
    public var connectTimeout: Duration = .seconds(10)
    /// `cluster_secret`, proven on every connection.
    public var clusterSecrets: ClusterSecrets?
    /// The pause between the attempts of REPORT_STATUS on one tracker, and between rounds of
    /// SYNC_SRC_REQ over all trackers.
    public var retryDelay: Duration = .seconds(5)
    let logger: Logger

    public init(trackers: [(host: String, port: Int)], bindAddress: String?, logger: Logger) {
        self.trackers = trackers
        self.bindAddress = bindAddress
        self.logger = logger
    }

    /// One request on a new connection to tracker `index`, then QUIT.
    func call<R: FDFSRequest>(_ request: R, tracker index: Int) async throws -> R.Response {
        let t = trackers[index]
        let link = try await FDFSClientConnection.connect(host: t.host, port: t.port, bindAddress: bindAddress,
                                                          connectTimeout: TimeAmount(connectTimeout), clusterSecrets: clusterSecrets)
        do {
            let answer = try await link.request(request)
            try? await link.sendWithoutResponse(QuitRequest().requestPacket())
            await link.close()
            return answer
        } catch {
            await link.close()
            throw error
        }
    }

    /// SYNC_SRC_REQ (86): who copies the old data to `destination`, and until when. Cycles
    /// through the trackers until one answers (cancellation ends the wait). nil: nobody has
    /// old-data duty (no recorded source).
    public func syncSource(group: GroupName, destination: StorageID) async throws -> SyncInfo? {
        while true {
            for i in trackers.indices {
                do {
                    return try await call(SyncSourceRequest(group: group, destinationID: destination), tracker: i).info
                } catch {
                    logger.info("SYNC_SRC_REQ not answered; trying the next tracker", metadata: [
                        "fdfs.tracker": "\(trackers[i].host):\(trackers[i].port)", "fdfs.peer": "\(destination)", "fdfs.error": "\(error)",
                    ])
                }
            }
            try await Task.sleep(for: retryDelay)
        }
    }

    /// REPORT_STATUS (76) of `brief` to every tracker, 3 attempts each. True when at least
    /// one tracker accepted it.
    @discardableResult
    public func reportStatus(group: GroupName, brief: StorageBrief) async -> Bool {
        await withTaskGroup(of: Bool.self) { tasks in
            for i in trackers.indices {
                tasks.addTask {
                    for attempt in 1...3 {
                        do {
                            _ = try await call(ReportStatusRequest(group: group, brief: brief), tracker: i)
                            return true
                        } catch {
                            logger.warning("REPORT_STATUS not accepted", metadata: [
                                "fdfs.tracker": "\(trackers[i].host):\(trackers[i].port)", "fdfs.peer": "\(brief.id)",
                                "fdfs.status": "\(brief.status)", "fdfs.attempt": "\(attempt)", "fdfs.error": "\(error)",
                            ])
                            if attempt < 3 { try? await Task.sleep(for: retryDelay) }
                        }
                    }
                    return false
                }
            }
            var accepted = false
            for await ok in tasks { accepted = accepted || ok }
            return accepted
        }
    }
}

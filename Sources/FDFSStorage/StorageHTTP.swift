import FDFSClient
import FDFSConfig
public import FDFSHTTP
public import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSStorageEngine
import FDFSMetrics
import Logging
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// The storage's side of its HTTP port: where a URL's file lives on this storage's disks, who
/// else has a file this storage does not hold yet, and whether the storage is serving.
struct StorageHTTPSource: HTTPFileSource {
    let group: GroupName
    let storePaths: [String]
    var storePathCount: Int { storePaths.count }
    /// This storage's address and FastDFS port, to tell its own entry in a tracker's answer.
    let ownIP: String
    let ownPort: Int
    /// This storage's HTTP port. Every member is taken to serve HTTP at the same distance
    /// from its FastDFS port: with the usual one storage port for the whole group that is one
    /// HTTP port for all (what fastdfs-nginx-module assumes), and it still holds for members
    /// that share a host on consecutive ports.
    let httpPort: Int
    let calls: TrackerCalls
    let node: StorageNode
    let logger: Logger
    /// What `/metrics` reads at scrape time.
    let metrics: DaemonMetrics
    let paths: StorePaths
    let store: StorageStore
    let catalog: FileCatalog
    let board: SyncLagBoard
    /// The scrubber's progress, for `/metrics`.
    var scrub: ScrubControl? = nil

    func localPath(for url: HTTPFileURL) -> String? {
        if let g = url.group, g != group { return nil }
        return storePaths[url.remoteFilename.storePathIndex] + "/" + url.remoteFilename.relativePath
    }

    /// Asks the trackers which members have the file (QUERY_FETCH_ALL: the rule that routes
    /// reads) and names the first that is not this storage.
    func redirectTarget(for url: HTTPFileURL) async -> String? {
        let g = url.group ?? group
        for i in calls.trackers.indices {
            do {
                let answer = try await calls.call(QueryFetchAllRequest(group: g, filename: url.remoteFilename.text), tracker: i)
                guard let member = answer.storages.first(where: { $0.ipAddress != ownIP || Int($0.port) != ownPort }) else { return nil }
                let port = Int(member.port) + httpPort - ownPort
                guard (1...65535).contains(port) else { return nil }
                return "\(member.ipAddress):\(port)"
            } catch FDFSClientError.status {
                return nil  // the tracker knows no member that has it (ENOENT), or no such group
            } catch {
                logger.info("HTTP redirect: tracker not answering; trying the next", metadata: [
                    "fdfs.tracker": "\(calls.trackers[i].host):\(calls.trackers[i].port)", "fdfs.error": "\(error)",
                ])
            }
        }
        return nil
    }

    /// Serving means ACTIVE on at least one tracker.
    func healthProblem() async -> String? {
        let statuses = await node.statusByTracker
        if statuses.values.contains(.active) { return nil }
        let seen = calls.trackers.indices.map { i in
            "\(calls.trackers[i].host):\(calls.trackers[i].port) \(statuses[i].map { $0.name } ?? "not joined")"
        }
        return "not ACTIVE on any tracker (" + seen.joined(separator: ", ") + ")"
    }
}

extension StorageHTTPSource {
    /// The storage's metrics: its requests and HTTP responses, plus what is read now: space of
    /// each store path, binlog size, catalog rows, each peer's sync lag, its status on each
    /// tracker.
    func metricsExposition() async -> [UInt8] {
        // A COUNT over millions of rows takes a while: on NIO's thread pool, not an event loop.
        let catalog = self.catalog
        let rows = try? await NIOThreadPool.singleton.runIfActive { try catalog.count() }
        let statuses = await node.statusByTracker
        let lag = board.snapshot().entries
        let spaces = paths.paths.indices.map { try? paths.space($0) }
        let binlog = binlogBytes()
        let trackers = calls.trackers
        let scrubbed = scrub?.progress
        return metrics.exposition { f in
            if let s = scrubbed {
                f.set("fdfs_scrub_running", help: "1 while a scrub pass runs", Int64(s.running ? 1 : 0))
                f.set("fdfs_scrub_passes", help: "Scrub passes completed since the storage started", s.passes)
                for (result, n) in [("checked", s.checked), ("damaged", s.damaged), ("repaired", s.repaired), ("unrepaired", s.unrepaired),
                                    ("adopted", s.adopted), ("quarantined", s.quarantined)] {
                    f.set("fdfs_scrub_files", help: "Files of the current (or last) scrub pass: checked, found damaged, repaired from a peer, left damaged, unknown ones adopted or quarantined",
                          labels: [("result", result)], n)
                }
            }
            for (i, space) in spaces.enumerated() {
                guard let space else { continue }
                let labels = [("store_path", "M" + (i < 16 ? "0" : "") + String(i, radix: 16, uppercase: true))]
                f.set("fdfs_store_path_total_bytes", help: "Size of the file system of each store path (statvfs, MiB granularity)",
                      labels: labels, space.totalMB << 20)
                f.set("fdfs_store_path_free_bytes", help: "Space available to the storage on each store path (statvfs, MiB granularity)",
                      labels: labels, space.freeMB << 20)
            }
            f.set("fdfs_binlog_bytes", help: "Bytes of this storage's binlog files (what peers are sent from)", binlog)
            if let rows { f.set("fdfs_catalog_files", help: "Files recorded in the catalog (data/catalog.sqlite)", Int64(rows)) }
            for (peer, e) in lag {
                let labels = [("peer", peer.rawValue)]
                f.set("fdfs_peer_sync_lag_records", help: "Binlog records a peer has not confirmed yet", labels: labels, e.recordsBehind)
                f.set("fdfs_peer_sync_lag_seconds", help: "Age of the oldest binlog record a peer has not confirmed (0: caught up)",
                      labels: labels, e.secondsBehind)
                f.set("fdfs_peer_sync_pushed_records", help: "Binlog records pushed to a peer (its mark's sync_row_count)",
                      labels: labels, e.pushedRecords)
                f.set("fdfs_peer_sync_state", help: "State of the sync to a peer: 1 for the current state",
                      labels: [("peer", peer.rawValue), ("state", e.state.rawValue)], Int64(1))
            }
            for i in trackers.indices {
                f.set("fdfs_storage_status", help: "This storage's status on each tracker (FastDFS numbering: 7 ACTIVE; -1 not joined)",
                      labels: [("tracker", "\(trackers[i].host):\(trackers[i].port)")], Int64(statuses[i].map { Int64($0.rawValue) } ?? -1))
            }
        }
    }

    /// Bytes of the binlog: the files before the one being written, and what is written of it.
    func binlogBytes() -> Int64 {
        let end = store.binlogEnd
        var total = end.offsetBytes
        for i in 0..<end.fileIndex {
            var st = stat()
            if stat(BinlogIndex.binlogPath(syncDirectory: store.syncDirectory, index: i), &st) == 0 { total += Int64(st.st_size) }
        }
        return total
    }

    /// The gateway's settings from storage.conf: the FastDFS port's bind address, connection
    /// limits and allow_hosts, the MIME table and the anti-steal token.
    static func gatewaySettings(_ c: StorageConfiguration) throws -> HTTPGatewaySettings {
        var mime = MIMETypes(text: "", defaultType: c.http.defaultContentType)
        if let path = c.http.mimeTypesPath {
            do {
                mime = try MIMETypes(contentsOf: path, defaultType: c.http.defaultContentType)
            } catch {
                throw StorageStartupError(description: "cannot read the MIME table \(path) (http.mime_types_filename): \(error)")
            }
        }
        let a = c.http.antiSteal
        let token = a.checkToken ? AntiStealToken(secretKey: a.secretKey ?? "", ttlSeconds: Int64(a.tokenTTLSeconds)) : nil
        return HTTPGatewaySettings(host: c.service.bindAddresses.first ?? "0.0.0.0", port: c.http.port,
                                   maxConnections: c.service.maxConnections, allowedHosts: try AllowedHosts(c.service.allowHosts),
                                   networkTimeout: .seconds(c.service.networkTimeoutSeconds), mimeTypes: mime,
                                   token: token, tokenCheckFailPath: a.tokenCheckFailPath)
    }
}

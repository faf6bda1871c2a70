import FDFSClient
import FDFSConfig
public import FDFSHTTP
public import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSStorageEngine
import Logging

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

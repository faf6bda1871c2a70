import ArgumentParser
import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import Foundation

struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every tracker, group and storage: status, addresses, disk space, counters, heartbeats and sync lag.",
        discussion: """
            The facts of the C tool fdfs_monitor, grouped for reading. Groups and storages are as the first reachable \
            tracker sees them; every configured tracker is listed with whether it answered and which one leads. \
            "behind" is how far a storage's replicated data lags the newest change of its peers \
            (last source update of the others minus its last synced timestamp).
            """)

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Only this group.") var group: String?
    @Flag(help: "Refresh the view in place until interrupted.") var watch = false
    @Option(help: "Seconds between refreshes with --watch.") var interval: Int = 2

    func validate() throws {
        if let group { _ = try parseGroup(group) }
        guard (1...3600).contains(interval) else { throw ValidationError("--interval must be 1...3600 seconds") }
    }

    func run() async throws {
        let groupName = try group.map(parseGroup)
        repeat {
            let snapshot = try await cluster.run(about: group.map { .group($0) } ?? .none) { client in
                try await MonitorSnapshot.take(client, group: groupName)
            }
            if output.json {
                try printJSON(snapshot)
            } else {
                let text = snapshot.render()
                // Home and clear to the end of the screen, then the new view.
                print(watch ? "\u{1B}[H\u{1B}[2J" + text : text, terminator: "")
                if watch { print("\nrefreshing every \(interval) s (Ctrl-C to stop)  \(formatTime(Int64(Date().timeIntervalSince1970)))") }
            }
            if watch { try await Task.sleep(for: .seconds(interval)) }
        } while watch
    }
}

/// What `fdfs monitor` shows, as data (its --json form).
struct MonitorSnapshot: Codable, Sendable {
    struct Tracker: Codable, Sendable {
        var address: String
        var reachable: Bool
        var leader: Bool
        var error: String?
    }

    struct Group: Codable, Sendable {
        var name: String
        var totalMB, freeMB, reservedMB, availableMB, trunkFreeMB: Int64
        var storageCount, readableCount, writableCount: Int64
        var storagePort, storePathCount, subdirCountPerPath, currentWriteServer: Int64
        var storages: [Storage]
        enum CodingKeys: String, CodingKey {
            case name, totalMB = "total_mb", freeMB = "free_mb", reservedMB = "reserved_mb", availableMB = "available_mb"
            case trunkFreeMB = "trunk_free_mb", storageCount = "storage_count", readableCount = "readable_count"
            case writableCount = "writable_count", storagePort = "storage_port", storePathCount = "store_path_count"
            case subdirCountPerPath = "subdir_count_per_path", currentWriteServer = "current_write_server", storages
        }
    }

    struct Storage: Codable, Sendable {
        var id, ipAddress, status, rwMode, version, sourceID: String
        var port: Int64
        var joinTime, upTime, lastHeartBeatTime, lastSourceUpdate, lastSyncUpdate, lastSyncedTimestamp: Int64
        /// Seconds its data lags the newest change of its peers; nil when it never synced.
        var syncLagSeconds: Int64?
        var totalMB, freeMB, reservedMB, availableMB: Int64
        var uploadPriority, storePathCount, subdirCountPerPath, currentWritePath: Int64
        var isTrunkServer: Bool
        var connectionAllocCount, connectionCurrentCount, connectionMaxCount: Int32
        /// The storage-stat counters by their FastDFS names (total_upload_count, ...).
        var counters: [String: Int64]
        /// `http://host:port` of its HTTP port (asked of the storage itself: FastDFS 6.x lists
        /// carry no HTTP port); nil when it has none, is not ONLINE/ACTIVE, or is a C storage.
        var httpURL: String? = nil
        /// The scrubber's progress (SCRUB, asked of the storage); nil when it is not
        /// ONLINE/ACTIVE or is a C storage.
        var scrub: Scrub? = nil

        struct Scrub: Codable, Sendable {
            var running: Bool
            var passes, checked, damaged, repaired, unrepaired, adopted, quarantined: Int64
        }
        enum CodingKeys: String, CodingKey {
            case id, ipAddress = "ip_address", status, rwMode = "rw_mode", version, sourceID = "source_id", port
            case joinTime = "join_time", upTime = "up_time", lastHeartBeatTime = "last_heart_beat_time"
            case lastSourceUpdate = "last_source_update", lastSyncUpdate = "last_sync_update"
            case lastSyncedTimestamp = "last_synced_timestamp", syncLagSeconds = "sync_lag_seconds"
            case totalMB = "total_mb", freeMB = "free_mb", reservedMB = "reserved_mb", availableMB = "available_mb"
            case uploadPriority = "upload_priority", storePathCount = "store_path_count"
            case subdirCountPerPath = "subdir_count_per_path", currentWritePath = "current_write_path"
            case isTrunkServer = "is_trunk_server", connectionAllocCount = "connection_alloc_count"
            case connectionCurrentCount = "connection_current_count", connectionMaxCount = "connection_max_count", counters
            case httpURL = "http_url", scrub
        }
    }

    var trackers: [Tracker]
    var groups: [Group]

    static func take(_ client: FDFSClient, group: GroupName?) async throws -> MonitorSnapshot {
        let answers = await client.onEveryTracker { tracker in try await tracker.leader() }
        var leader: IPPort?
        var trackers: [Tracker] = []
        for (address, result) in answers {
            switch result {
            case .success(let l):
                leader = leader ?? l
                trackers.append(Tracker(address: address.description, reachable: true, leader: false, error: nil))
            case .failure(FDFSClientError.status(.ENOENT)):
                // It answered: reachable, but between leaders (one was just stopped).
                trackers.append(Tracker(address: address.description, reachable: true, leader: false, error: "no leader known yet"))
            case .failure(let error):
                trackers.append(Tracker(address: address.description, reachable: false, leader: false, error: "\(error)"))
            }
        }
        if let leader {
            for i in trackers.indices where answers[i].tracker.port == leader.port && answers[i].tracker.hosts.contains(leader.ip) {
                trackers[i].leader = true
            }
        }
        let stats: [(GroupStat, [StorageStat])] = try await client.withTracker { tracker in
            let groups: [GroupStat]
            if let group {
                groups = [try await tracker.listGroup(group)]
            } else {
                groups = try await tracker.listGroups()
            }
            var out: [(GroupStat, [StorageStat])] = []
            for g in groups {
                out.append((g, try await tracker.listStorages(group: try GroupName(g.groupName))))
            }
            return out
        }
        var groups = stats.map { Self.group($0.0, $0.1) }
        for g in groups.indices {
            for i in groups[g].storages.indices where ["ACTIVE", "ONLINE"].contains(groups[g].storages[i].status) {
                let s = groups[g].storages[i]
                let endpoint = StorageEndpoint(ipAddress: s.ipAddress, port: s.port)
                groups[g].storages[i].httpURL = await client.httpBaseURL(of: endpoint)
                if let p = try? await client.withStorage(endpoint, { try await $0.scrub(start: false) }) {
                    groups[g].storages[i].scrub = Storage.Scrub(running: p.running, passes: p.passes, checked: p.checked, damaged: p.damaged,
                                                                repaired: p.repaired, unrepaired: p.unrepaired, adopted: p.adopted,
                                                                quarantined: p.quarantined)
                }
            }
        }
        return MonitorSnapshot(trackers: trackers, groups: groups)
    }

    static func group(_ g: GroupStat, _ storages: [StorageStat]) -> Group {
        Group(name: g.groupName, totalMB: g.totalMB, freeMB: g.freeMB, reservedMB: g.reservedMB, availableMB: g.availableMB,
              trunkFreeMB: g.trunkFreeMB, storageCount: g.storageCount, readableCount: g.readableServerCount,
              writableCount: g.writableServerCount, storagePort: g.storagePort, storePathCount: g.storePathCount,
              subdirCountPerPath: g.subdirCountPerPath, currentWriteServer: g.currentWriteServer,
              storages: storages.map { s in storage(s, peers: storages) })
    }

    static func storage(_ s: StorageStat, peers: [StorageStat]) -> Storage {
        let st = s.statistics
        var counters: [String: Int64] = [:]
        for (name, value) in zip(StorageStatistics.int64FieldNames, st.int64Fields) where !name.hasPrefix("last_") {
            counters[name] = value
        }
        // As fdfs_monitor computes the delay: the newest source change among the others.
        let newestPeerChange = peers.filter { $0.id != s.id }.map(\.statistics.lastSourceUpdate).max() ?? 0
        let lag: Int64? = st.lastSyncedTimestamp > 0 ? max(0, newestPeerChange - st.lastSyncedTimestamp)
            : (newestPeerChange == 0 ? 0 : nil)
        return Storage(
            id: s.id, ipAddress: s.ipAddress, status: s.status.name, rwMode: s.rwMode.description, version: s.version,
            sourceID: s.sourceID, port: s.storagePort, joinTime: s.joinTime, upTime: s.upTime,
            lastHeartBeatTime: st.lastHeartBeatTime, lastSourceUpdate: st.lastSourceUpdate, lastSyncUpdate: st.lastSyncUpdate,
            lastSyncedTimestamp: st.lastSyncedTimestamp, syncLagSeconds: lag,
            totalMB: s.totalMB, freeMB: s.freeMB, reservedMB: s.reservedMB, availableMB: max(0, s.freeMB - s.reservedMB),
            uploadPriority: s.uploadPriority, storePathCount: s.storePathCount, subdirCountPerPath: s.subdirCountPerPath,
            currentWritePath: s.currentWritePath, isTrunkServer: s.isTrunkServer,
            connectionAllocCount: st.connectionAllocCount, connectionCurrentCount: st.connectionCurrentCount,
            connectionMaxCount: st.connectionMaxCount, counters: counters)
    }

    // MARK: Human form

    func render() -> String {
        var out = "trackers (\(trackers.count))\n"
        for t in trackers {
            let state = t.reachable ? (t.leader ? "up    leader" : t.error.map { "up    (\($0))" } ?? "up") : "DOWN  \(t.error ?? "")"
            out += "  \(t.address.padding(22))\(state)\n"
        }
        out += "\ngroups (\(groups.count))\n"
        for g in groups {
            out += "\n\(g.name)  \(g.storageCount) storages (\(g.readableCount) readable, \(g.writableCount) writable)  port \(g.storagePort > 0 ? "\(g.storagePort)" : "per storage")\n"
            out += "  disk          \(Self.disk(g.totalMB, g.freeMB, g.reservedMB, g.availableMB))\n"
            out += "  store paths   \(g.storePathCount) x \(g.subdirCountPerPath) subdirs   current write server index \(g.currentWriteServer)\n"
            for s in g.storages { out += render(s) }
        }
        return out
    }

    private func render(_ s: Storage) -> String {
        var out = "\n  storage \(s.id)  \(s.ipAddress):\(s.port)  \(s.status)\n"
        out += "    mode          \(s.rwMode)   version \(s.version.isEmpty ? "-" : s.version)   source \(s.sourceID.isEmpty ? "-" : s.sourceID)"
            + "   trunk server \(s.isTrunkServer ? "yes" : "no")\n"
        out += "    joined        \(formatTime(s.joinTime))   up since \(formatTime(s.upTime))\n"
        out += "    heartbeat     \(formatTime(s.lastHeartBeatTime))\n"
        out += "    disk          \(Self.disk(s.totalMB, s.freeMB, s.reservedMB, s.availableMB))\n"
        out += "    writes        upload priority \(s.uploadPriority)   store paths \(s.storePathCount)"
            + "   subdirs \(s.subdirCountPerPath)   current write path \(s.currentWritePath)\n"
        if let http = s.httpURL { out += "    http          \(http)/<file ID>   /healthz   /metrics\n" }
        out += "    connections   alloc \(s.connectionAllocCount)   current \(s.connectionCurrentCount)   max \(s.connectionMaxCount)\n"
        let lag = s.syncLagSeconds.map { "\($0) s behind" } ?? "never synced"
        out += "    sync          last source update \(formatTime(s.lastSourceUpdate))   last sync update \(formatTime(s.lastSyncUpdate))\n"
        out += "                  synced up to \(formatTime(s.lastSyncedTimestamp)) (\(lag))\n"
        if let p = s.scrub {
            out += "    scrub         passes \(p.passes)   \(p.running ? "this pass" : "last pass"): checked \(p.checked), damaged \(p.damaged), "
                + "repaired \(p.repaired), unrepaired \(p.unrepaired), adopted \(p.adopted), quarantined \(p.quarantined)\n"
        }
        out += "    counters      \("total".leftPadding(12)) \("success".leftPadding(12))\n"
        for name in StorageStatistics.int64FieldNames where name.hasPrefix("total_") {
            let rest = String(name.dropFirst("total_".count))
            guard let total = s.counters[name] else { continue }
            let success = s.counters["success_" + rest].map(String.init) ?? "-"
            out += "      \(rest.replacingOccurrences(of: "_", with: " ").padding(18))\(String(total).leftPadding(12)) \(success.leftPadding(12))\n"
        }
        return out
    }

    static func disk(_ total: Int64, _ free: Int64, _ reserved: Int64, _ available: Int64) -> String {
        "\(megabytes(total)) total   \(megabytes(free)) free   \(megabytes(reserved)) reserved   \(megabytes(available)) available"
    }

    static func megabytes(_ mb: Int64) -> String {
        mb >= 10 * 1024 ? "\(mb / 1024) GB" : "\(mb) MB"
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

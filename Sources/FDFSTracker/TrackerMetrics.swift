import FDFSHTTP
public import FDFSMetrics
import FDFSModel
import FDFSProtocol
import FDFSServerCore
import Prometheus

extension DaemonMetrics {
    /// A tracker's metrics: its requests, plus heartbeats and routing answers counted by
    /// outcome from the requests that carry them.
    public static func tracker() -> DaemonMetrics {
        let registry = PrometheusCollectorRegistry()
        let beats = registry.counter("fdfs_tracker_heartbeats_received_total", help: "Storage heartbeats (STORAGE_BEAT) received")
        let beatRefusals = registry.counter("fdfs_tracker_heartbeats_refused_total",
                                            help: "Storage heartbeats refused (a storage this tracker does not know)")
        var derived: [UInt8: DerivedCounters] = [StorageToTrackerCommand.beat.rawValue: DerivedCounters(succeeded: beats, failed: beatRefusals)]
        let routes: [(String, [TrackerCommand])] = [
            ("store", [.queryStoreWithoutGroupOne, .queryStoreWithGroupOne, .queryStoreWithoutGroupAll, .queryStoreWithGroupAll]),
            ("fetch", [.queryFetchOne, .queryFetchAll]),
            ("update", [.queryUpdate]),
        ]
        for (query, commands) in routes {
            let answers = registry.counter("fdfs_tracker_routing_answers_total", help: "Routing queries answered with a storage, by query kind",
                                           labels: [("query", query)])
            let refusals = registry.counter("fdfs_tracker_routing_refusals_total",
                                            help: "Routing queries refused (no group, no storage that can serve, no such file), by query kind",
                                            labels: [("query", query)])
            for c in commands { derived[c.rawValue] = DerivedCounters(succeeded: answers, failed: refusals) }
        }
        return DaemonMetrics(role: .tracker, registry: registry, derived: derived)
    }
}

/// What a tracker's `/metrics` reads from the cluster state at scrape time.
struct ClusterMetricsSnapshot: Sendable {
    struct Storage: Sendable {
        var stat: StorageStat
        var group: String
        /// Newest source timestamp each other member reported it holds from this storage.
        var syncedBy: [(peer: String, timestamp: Int64)]
    }

    var groups: [GroupStat] = []
    var activeCount: [String: Int] = [:]
    var storages: [Storage] = []
    var isLeader = false
    var trackerCount = 0

    init(_ state: ClusterState) {
        isLeader = state.isLeader
        trackerCount = state.trackers.count
        for name in state.groups.keys.sorted() {
            let g = state.groups[name]!
            groups.append(state.groupStat(g))
            activeCount[name.rawValue] = g.storages.filter { $0.status == .active }.count
            for i in g.indicesByID {
                let t = g.storages[i]
                let syncedBy = g.storages.filter { $0.id != t.id }.map { peer in
                    (peer.id.rawValue, g.synced[t.id]?[peer.id] ?? 0)
                }
                storages.append(Storage(stat: state.stat(t, for: ""), group: name.rawValue, syncedBy: syncedBy))
            }
        }
    }

    /// The families of FastDFS's exporter (`fdfs_exporter`, names and labels as its Grafana
    /// dashboard reads them; every value a gauge, as there) and ours.
    func fill(_ f: inout SnapshotFamilies, now: Int64) {
        for g in groups {
            let labels = [("group", g.groupName)]
            f.set("fastdfs_group_total_mb", help: "Disk total space in MB", labels: labels, g.totalMB)
            f.set("fastdfs_group_free_mb", help: "Disk free space in MB", labels: labels, g.freeMB)
            f.set("fastdfs_group_reserved_mb", help: "Disk reserved space in MB", labels: labels, g.reservedMB)
            f.set("fastdfs_group_available_mb", help: "Disk available space in MB", labels: labels, g.availableMB)
            f.set("fastdfs_group_storage_count", help: "Number of storage servers in group", labels: labels, g.storageCount)
            f.set("fastdfs_group_active_count", help: "Number of ACTIVE storage servers in group", labels: labels,
                  Int64(activeCount[g.groupName] ?? 0))
            f.set("fastdfs_group_readable_server_count", help: "Number of readable storage servers", labels: labels, g.readableServerCount)
            f.set("fastdfs_group_writable_server_count", help: "Number of writable storage servers", labels: labels, g.writableServerCount)
            var byStatus: [String: Int] = [:]
            for s in storages where s.group == g.groupName { byStatus[s.stat.status.name, default: 0] += 1 }
            for status in StorageStatus.allNamed where status != .none {
                f.set("fdfs_tracker_storages", help: "Storages by group and status", labels: [("group", g.groupName), ("status", status.name)],
                      Int64(byStatus[status.name] ?? 0))
            }
        }
        for s in storages {
            let st = s.stat.statistics
            let labels = [("group", s.group), ("storage_id", s.stat.id), ("ip", s.stat.ipAddress), ("status", String(s.stat.status.rawValue))]
            func set(_ name: String, _ help: String, _ value: Int64) { f.set("fastdfs_storage_" + name, help: help, labels: labels, value) }
            set("total_mb", "Disk total space in MB", s.stat.totalMB)
            set("free_mb", "Disk free space in MB", s.stat.freeMB)
            set("reserved_mb", "Disk reserved space in MB", s.stat.reservedMB)
            set("available_mb", "Disk available space in MB", max(0, s.stat.freeMB - s.stat.reservedMB))
            set("upload_total", "Total upload operations", st.totalUploadCount)
            set("upload_success", "Successful upload operations", st.successUploadCount)
            set("upload_bytes_total", "Total uploaded bytes", st.totalUploadBytes)
            set("download_total", "Total download operations", st.totalDownloadCount)
            set("download_success", "Successful download operations", st.successDownloadCount)
            set("download_bytes_total", "Total downloaded bytes", st.totalDownloadBytes)
            set("delete_total", "Total delete operations", st.totalDeleteCount)
            set("delete_success", "Successful delete operations", st.successDeleteCount)
            set("append_total", "Total append operations", st.totalAppendCount)
            set("append_success", "Successful append operations", st.successAppendCount)
            set("modify_total", "Total modify operations", st.totalModifyCount)
            set("modify_success", "Successful modify operations", st.successModifyCount)
            set("connections_alloc", "Alloc connection count", Int64(st.connectionAllocCount))
            set("connections_current", "Current connection count", Int64(st.connectionCurrentCount))
            set("connections_max", "Maximum connection count", Int64(st.connectionMaxCount))
            set("last_heartbeat", "Last heartbeat timestamp", st.lastHeartBeatTime)
            // -1: never beat to this tracker (FastDFS's exporter gives the seconds since 1970).
            set("heartbeat_delay_seconds", "Seconds since last heartbeat (-1: none yet)",
                st.lastHeartBeatTime > 0 ? max(0, now - st.lastHeartBeatTime) : -1)
            set("last_synced_timestamp", "Last synced timestamp", st.lastSyncedTimestamp)
            // FastDFS's rule: behind the newest write any other member took (-1: never synced).
            var newestOther: Int64 = 0
            for o in storages where o.group == s.group && o.stat.id != s.stat.id {
                newestOther = max(newestOther, o.stat.statistics.lastSourceUpdate)
            }
            set("synced_delay_seconds", "Synced delay seconds",
                newestOther == 0 ? 0 : (st.lastSyncedTimestamp > 0 ? max(0, newestOther - st.lastSyncedTimestamp) : -1))
            set("sync_in_bytes_total", "Total sync in bytes", st.totalSyncInBytes)
            set("sync_out_bytes_total", "Total sync out bytes", st.totalSyncOutBytes)
            // Ours: how far each member is behind this storage's own writes, as members report it.
            for (peer, synced) in s.syncedBy {
                let lag = st.lastSourceUpdate == 0 ? 0 : max(0, st.lastSourceUpdate - synced)
                f.set("fdfs_tracker_sync_lag_seconds",
                      help: "Seconds of the source storage's writes the peer has not reported synced (source's newest write minus peer's synced-up-to time)",
                      labels: [("group", s.group), ("source", s.stat.id), ("peer", peer)], lag)
            }
        }
        f.set("fdfs_tracker_is_leader", help: "1 when this tracker is the leader of its trackers", Int64(isLeader ? 1 : 0))
        f.set("fdfs_tracker_known_trackers", help: "Trackers this tracker knows of (from storages' JOIN), itself included", Int64(trackerCount))
    }
}

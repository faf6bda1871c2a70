import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import Testing

/// `/metrics` of a live storage and tracker, parsed by the Prometheus Python client: every
/// family present with its labels, and counters that move by exactly what the test did.
extension StorageHTTPTests {
    func metricsMoveExactly(_ cluster: GroupCluster) async throws {
        let storagePort = cluster.httpPorts[0], trackerPort = cluster.trackerHTTPPort!
        let s0 = try await scrape(storagePort)
        let t0 = try await scrape(trackerPort)

        // Through the tracker: 3 store answers, 1 store refusal, 2 fetch refusals.
        let tracker = try await FDFSClientConnection.connect(host: "127.0.0.1", port: cluster.trackerPort, connectTimeout: .seconds(5))
        for _ in 0..<3 { _ = try await tracker.request(QueryStoreWithGroupOneRequest(group: GroupCluster.group)) }
        let nowhere = try GroupName("nosuchgroup")
        await #expect(throws: (any Error).self) { try await tracker.request(QueryStoreWithGroupOneRequest(group: nowhere)) }
        for _ in 0..<2 {
            await #expect(throws: (any Error).self) {
                try await tracker.request(QueryFetchOneRequest(group: nowhere, filename: "M00/00/00/x.txt"))
            }
        }
        await tracker.close()

        // On storage 0: 4 uploads of 1,000 bytes, 2 downloads, 1 download of a file it lacks.
        let client = try await cluster.client(0)
        var names: [String] = []
        for i in 0..<4 {
            names.append(try await client.uploadFile(.bytes([UInt8](repeating: UInt8(i), count: 1000)), fileExtension: "bin").remoteFilename)
        }
        for name in names.prefix(2) { #expect(try await client.downloadFile(ReplicationTests.fileID(name)).count == 1000) }
        let missing = names[0].replacingOccurrences(of: ".bin", with: ".txt")
        await #expect(throws: (any Error).self) { try await client.downloadFile(ReplicationTests.fileID(missing)) }
        // Over HTTP: 2 files (200) and 1 miss answered 404 without asking anyone (redirect=1).
        let http = try await HTTPTestConnection.open(port: storagePort)
        for name in names.prefix(2) { #expect(try await http.fetch("GET", "/group1/" + name).status == 200) }
        #expect(try await http.fetch("GET", "/group1/" + missing + "?redirect=1").status == 404)

        // The catalog is written in batches after the reply: wait until it has the 4 files.
        let before = s0.value("fdfs_catalog_files") ?? -1
        let (s1, scrapes) = try await scrapeUntil(storagePort, "the catalog to count 4 more files") { ($0.value("fdfs_catalog_files") ?? 0) - before == 4 }
        func delta(_ name: String, _ labels: [String: String] = [:]) -> Double { s1.sum(name, labels) - s0.sum(name, labels) }
        #expect(delta("fdfs_requests_total", ["command": "UPLOAD_FILE", "status": "0"]) == 4)
        #expect(delta("fdfs_requests_total", ["command": "DOWNLOAD_FILE", "status": "0"]) == 2)
        #expect(delta("fdfs_requests_total", ["command": "DOWNLOAD_FILE", "status": "2"]) == 1)  // ENOENT
        #expect(delta("fdfs_request_duration_seconds_count", ["command": "UPLOAD_FILE"]) == 4)
        #expect(delta("fdfs_request_duration_seconds_bucket", ["command": "UPLOAD_FILE", "le": "+Inf"]) == 4)
        #expect(delta("fdfs_received_bytes_total") >= 4000)
        #expect(delta("fdfs_sent_bytes_total") >= 2000)
        // Each scrape's own 200 is counted after its page was made: the first one's and those
        // of the scrapes that waited for the catalog are in.
        #expect(delta("fdfs_http_responses_total", ["code": "200"]) == Double(2 + 1 + scrapes))
        #expect(delta("fdfs_http_responses_total", ["code": "404"]) == 1)
        #expect(delta("fdfs_http_sent_body_bytes_total") >= 2000)
        #expect(delta("fdfs_binlog_bytes") > 0)
        for family in ["fdfs_requests_total", "fdfs_received_bytes_total", "fdfs_sent_bytes_total", "fdfs_http_responses_total"] {
            #expect(s1.samples(family).allSatisfy { $0.value >= 0 }, "\(family)")
        }
        expectFamilies(s1, [
            ("fdfs_requests", "counter", ["command", "status"]), ("fdfs_received_bytes", "counter", []), ("fdfs_sent_bytes", "counter", []),
            ("fdfs_request_duration_seconds", "histogram", ["command"]), ("fdfs_connections_open", "gauge", []),
            ("fdfs_store_path_free_bytes", "gauge", ["store_path"]), ("fdfs_store_path_total_bytes", "gauge", ["store_path"]),
            ("fdfs_binlog_bytes", "gauge", []), ("fdfs_catalog_files", "gauge", []),
            ("fdfs_peer_sync_lag_records", "gauge", ["peer"]), ("fdfs_peer_sync_lag_seconds", "gauge", ["peer"]),
            ("fdfs_http_responses", "counter", ["code"]), ("fdfs_storage_status", "gauge", ["tracker"]),
            ("fdfs_scrub_running", "gauge", []), ("fdfs_scrub_passes", "gauge", []), ("fdfs_scrub_files", "gauge", ["result"]),
        ])
        #expect(s1.value("fdfs_peer_sync_lag_records", ["peer": cluster.ids[1]]) != nil)
        #expect(s1.value("fdfs_storage_status", ["tracker": "127.0.0.1:\(cluster.trackerPort)"]) == 7)
        #expect((s1.value("fdfs_connections_open") ?? 0) >= 1)  // the client's, still open
        await client.close()

        // The tracker: routing counted from the requests, the storage's counters as it reports
        // them (with its statistics beats).
        let id = cluster.ids[0]
        let upload0 = t0.sum("fastdfs_storage_upload_total", ["storage_id": id])
        let (t1, _) = try await scrapeUntil(trackerPort, "the tracker to show storage \(id)'s 4 uploads") {
            $0.sum("fastdfs_storage_upload_total", ["storage_id": id]) - upload0 == 4
                && $0.sum("fastdfs_storage_download_success", ["storage_id": id]) - t0.sum("fastdfs_storage_download_success", ["storage_id": id]) == 2
        }
        func tdelta(_ name: String, _ labels: [String: String] = [:]) -> Double { t1.sum(name, labels) - t0.sum(name, labels) }
        #expect(tdelta("fdfs_tracker_routing_answers_total", ["query": "store"]) == 3)
        #expect(tdelta("fdfs_tracker_routing_refusals_total", ["query": "store"]) == 1)
        #expect(tdelta("fdfs_tracker_routing_refusals_total", ["query": "fetch"]) == 2)
        #expect(tdelta("fdfs_requests_total", ["command": "QUERY_STORE_WITH_GROUP_ONE", "status": "0"]) == 3)
        #expect(tdelta("fastdfs_storage_upload_bytes_total", ["storage_id": id]) == 4000)
        #expect(tdelta("fdfs_tracker_heartbeats_received_total") > 0)
        expectFamilies(t1, [
            ("fastdfs_group_storage_count", "gauge", ["group"]), ("fastdfs_group_active_count", "gauge", ["group"]),
            ("fdfs_tracker_storages", "gauge", ["group", "status"]), ("fdfs_tracker_heartbeats_received", "counter", []),
            ("fdfs_tracker_routing_answers", "counter", ["query"]), ("fdfs_tracker_routing_refusals", "counter", ["query"]),
            ("fdfs_tracker_sync_lag_seconds", "gauge", ["group", "source", "peer"]),
        ] + ["total_mb", "free_mb", "upload_total", "upload_bytes_total", "download_total", "download_bytes_total", "heartbeat_delay_seconds"].map {
            ("fastdfs_storage_" + $0, "gauge", ["group", "storage_id", "ip", "status"])
        })
        #expect(t1.value("fastdfs_group_storage_count", ["group": "group1"]) == 2)
        #expect(t1.value("fastdfs_group_active_count", ["group": "group1"]) == 2)
        #expect(t1.value("fdfs_tracker_storages", ["group": "group1", "status": "ACTIVE"]) == 2)
        let beatDelay = t1.samples("fastdfs_storage_heartbeat_delay_seconds", ["storage_id": id]).first?.value ?? -1
        #expect(beatDelay >= 0 && beatDelay < 30)
        // Bounded labels: no file names, no client addresses other than the storages' own.
        for page in [s1, t1] {
            for s in page.families.values.flatMap(\.samples) {
                #expect(!s.labels.values.contains { $0.contains("M00/") || $0.contains(".bin") }, "\(s.name) \(s.labels)")
            }
        }
    }

    /// Every family with its type, and every one of its samples with (at least) these labels.
    func expectFamilies(_ page: PrometheusText, _ expected: [(String, String, [String])]) {
        for (name, type, labels) in expected {
            guard let family = page.families[name] else {
                Issue.record("family \(name) missing; have \(page.families.keys.sorted())")
                continue
            }
            #expect(family.type == type, "\(name)")
            #expect(!family.help.isEmpty, "\(name) has no HELP")
            #expect(!family.samples.isEmpty, "\(name) has no samples")
            for s in family.samples { #expect(Set(labels).isSubset(of: Set(s.labels.keys)), "\(s.name) \(s.labels)") }
        }
    }

    func scrape(_ port: Int) async throws -> PrometheusText {
        let r = try await HTTPTestConnection.open(port: port).fetch("GET", "/metrics")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return try await PrometheusText.parse(r.body)
    }

    /// Scrapes until `condition` holds (the tracker learns a storage's counters with its next
    /// statistics beat); fails after 30 s, with five more tries past the deadline.
    /// Returns the page and how many scrapes came before it.
    func scrapeUntil(_ port: Int, _ what: String, _ condition: (PrometheusText) -> Bool) async throws -> (PrometheusText, Int) {
        let deadline = ContinuousClock.now + .seconds(30)
        var lateChecks = 0
        var before = 0
        while true {
            let page = try await scrape(port)
            if condition(page) { return (page, before) }
            before += 1
            if ContinuousClock.now >= deadline { lateChecks += 1; if lateChecks >= 5 { break } }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DaemonError("waited 30 s for \(what)")
    }
}

import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import Testing
@testable import FDFSTracker

/// `store_lookup`, `store_server`, `store_path`, `download_server` (protocol spec §4.1, §4.5)
/// and the transitions of cluster spec §2.2 not covered elsewhere.
@Suite struct SelectionPolicyTests {
    static let g1 = try! GroupName("group1")
    static let g2 = try! GroupName("group2")

    /// Storage `ip` of `group`, active, with `freeMB` of 1000 MB on each of `paths` paths.
    static func add(_ h: Harness, _ ip: String, _ group: GroupName, freeMB: [Int64] = [500], priority: Int64 = 10) {
        var join = Harness.join(initFlag: false, status: .offline, paths: Int64(freeMB.count))
        join.group = group
        join.uploadPriority = priority
        _ = h.ok(ip, join, as: StorageJoinResponse.self)
        _ = h.ok(ip, StorageBeatRequest(), as: ChangeNotification.self)
        _ = h.ok(ip, ReportDiskUsageRequest(paths: freeMB.map { .init(totalMB: 1000, freeMB: $0) }), as: ChangeNotification.self)
    }

    static func groupsChosen(_ h: Harness, _ n: Int) -> [String] {
        (0..<n).compactMap { _ in h.ok("c", QueryStoreWithoutGroupOneRequest(), as: QueryStoreResponse.self)?.group.rawValue }
    }

    @Test func storeLookupRoundRobinSpecifiedAndMostFree() {
        let rr = Harness()
        Self.add(rr, "10.0.0.1", Self.g1, freeMB: [300])
        Self.add(rr, "10.0.0.2", Self.g2, freeMB: [800])
        #expect(Self.groupsChosen(rr, 4) == ["group1", "group2", "group1", "group2"])

        let fixed = Harness(policy: Harness.policy { $0.storeLookup = .specifiedGroup; $0.storeGroup = Self.g1 })
        Self.add(fixed, "10.0.0.1", Self.g1, freeMB: [300])
        Self.add(fixed, "10.0.0.2", Self.g2, freeMB: [800])
        #expect(Self.groupsChosen(fixed, 3) == ["group1", "group1", "group1"])

        let free = Harness(policy: Harness.policy { $0.storeLookup = .loadBalance })
        Self.add(free, "10.0.0.1", Self.g1, freeMB: [300])
        Self.add(free, "10.0.0.2", Self.g2, freeMB: [800])
        #expect(Self.groupsChosen(free, 3) == ["group2", "group2", "group2"])
        // A group below its reserve is skipped; with none left, ENOSPC.
        _ = free.ok("10.0.0.2", ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: 50)]), as: ChangeNotification.self)
        #expect(Self.groupsChosen(free, 2) == ["group1", "group1"])
        _ = free.ok("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: 50)]), as: ChangeNotification.self)
        #expect(free.status("c", QueryStoreWithoutGroupOneRequest()) == .ENOSPC)
    }

    @Test func storeServerFirstByIDAndByPriority() {
        let first = Harness(policy: Harness.policy { $0.storeServer = .firstByIP })
        Self.add(first, "10.0.0.2", Self.g1)
        Self.add(first, "10.0.0.1", Self.g1)
        for _ in 0..<3 {
            #expect(first.ok("c", QueryStoreWithoutGroupOneRequest(), as: QueryStoreResponse.self)?.storage.ipAddress == "10.0.0.1")
        }
        let priority = Harness(policy: Harness.policy { $0.storeServer = .firstByPriority })
        Self.add(priority, "10.0.0.1", Self.g1, priority: 10)
        Self.add(priority, "10.0.0.2", Self.g1, priority: 5)
        #expect(priority.ok("c", QueryStoreWithoutGroupOneRequest(), as: QueryStoreResponse.self)?.storage.ipAddress == "10.0.0.2")
    }

    @Test func storePathRoundRobinAndMostFreeAndPerPathReserve() {
        let rr = Harness()
        Self.add(rr, "10.0.0.1", Self.g1, freeMB: [500, 500, 500])
        let paths = (0..<4).compactMap { _ in rr.ok("c", QueryStoreWithoutGroupOneRequest(), as: QueryStoreResponse.self)?.storePathIndex }
        #expect(paths == [0, 1, 2, 0])
        // Path 1 below 10%: skipped.
        _ = rr.ok("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: 500), .init(totalMB: 1000, freeMB: 50),
                                                             .init(totalMB: 1000, freeMB: 500)]), as: ChangeNotification.self)
        let skipping = (0..<3).compactMap { _ in rr.ok("c", QueryStoreWithoutGroupOneRequest(), as: QueryStoreResponse.self)?.storePathIndex }
        #expect(!skipping.contains(1))

        let most = Harness(policy: Harness.policy { $0.storePath = .loadBalance })
        Self.add(most, "10.0.0.1", Self.g1, freeMB: [200, 900, 400])
        let chosen = (0..<3).compactMap { _ in most.ok("c", QueryStoreWithoutGroupOneRequest(), as: QueryStoreResponse.self)?.storePathIndex }
        #expect(chosen == [1, 1, 1])
        #expect(most.ok("c", ParameterRequest(), as: TrackerParameters.self)?["store_path"] == "2")
    }

    @Test func downloadServerSourceFirst() throws {
        let h = Harness(policy: Harness.policy { $0.downloadServer = .sourceFirst })
        Self.add(h, "10.0.0.1", Self.g1)
        Self.add(h, "10.0.0.2", Self.g1)
        _ = h.ok("10.0.0.2", SyncReportRequest(entries: [.init(peerID: try StorageID("10.0.0.1"), syncedTimestamp: Int32.max)]), as: ChangeNotification.self)
        let name = try ClientRoutingTests.fileName(source: "10.0.0.1")
        for _ in 0..<3 {
            #expect(h.ok("c", QueryFetchOneRequest(group: Self.g1, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.1"])
        }
    }

    @Test func remainingTransitions() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        // (absent) -> reported status, by REPORT_STATUS of an unknown id (not for ACTIVE/ONLINE/DELETED).
        #expect(h.status("10.0.0.1", ReportStatusRequest(group: Harness.group, brief: StorageBrief(status: .waitSync, port: 23000, id: "10.0.0.5", ipAddress: "10.0.0.5"))) == .success)
        #expect(h.storage("10.0.0.5")?.status == .waitSync)
        #expect(h.status("10.0.0.1", ReportStatusRequest(group: Harness.group, brief: StorageBrief(status: .active, port: 23000, id: "10.0.0.6", ipAddress: "10.0.0.6"))) == .success)
        #expect(h.storage("10.0.0.6") == nil)
        #expect(h.status("10.0.0.1", ReportStatusRequest(group: try GroupName("nosuch"), brief: StorageBrief(status: .offline, port: 1, id: "x", ipAddress: "x"))) == .ENOENT)
        // OFFLINE -> RECOVERY by its own report; JOIN turns RECOVERY into ONLINE.
        h.state.disconnect(session: try #require(h.sessions["10.0.0.1"]))
        h.sessions["10.0.0.1"] = nil
        #expect(h.status("10.0.0.1", ReportStatusRequest(group: Harness.group, brief: StorageBrief(status: .recovery, port: 23000, id: "10.0.0.1", ipAddress: "10.0.0.1"))) == .success)
        #expect(h.storage("10.0.0.1")?.status == .recovery)
        #expect(h.ok("10.0.0.1", Harness.join(initFlag: false, status: .recovery), as: StorageJoinResponse.self)?.status == .online)
        // DELETED -> INIT when the storage joins again.
        h.state.disconnect(session: try #require(h.sessions["10.0.0.1"]))
        h.sessions["10.0.0.1"] = nil
        #expect(h.status("admin", DeleteStorageRequest(group: Harness.group, storageID: "10.0.0.1")) == .success)
        #expect(h.ok("10.0.0.1", Harness.join(), as: StorageJoinResponse.self)?.status == .initial)
        // SYNC_SRC_REQ: unknown storage or one still INIT -> ENOENT; no recorded source -> empty.
        #expect(h.status("10.0.0.2", SyncSourceRequest(group: Harness.group, destinationID: try StorageID("10.9.9.9"))) == .ENOENT)
        #expect(h.status("10.0.0.2", SyncSourceRequest(group: Harness.group, destinationID: try StorageID("10.0.0.1"))) == .ENOENT)
        #expect(h.ok("10.0.0.2", SyncSourceRequest(group: Harness.group, destinationID: try StorageID("10.0.0.5")), as: OptionalSyncInfo.self)?.info == nil)
        // The leader ignores REPLICA_CHG.
        #expect(h.status("10.0.0.1", ReplicaChangeRequest(briefs: [StorageBrief(status: .deleted, port: 23000, id: "10.0.0.5", ipAddress: "10.0.0.5")])) == .success)
        #expect(h.storage("10.0.0.5")?.status == .waitSync)
    }

    /// The tracker starts from torn data files and keeps every complete record.
    @Test func trackerStartsFromTruncatedFiles() async throws {
        let base = try temporaryDirectory()
        let h = Harness()
        for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] { h.activeStorage(ip) }
        let directory = try TrackerDataDirectory(basePath: base)
        try directory.save(h.state.snapshot, useStorageID: false)
        let path = directory.path(of: .storages)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // Cut in the middle of the third storage's block.
        let cut = text.range(of: "[Storage003]")!.upperBound
        try String(text[..<cut]).write(toFile: path, atomically: false, encoding: .utf8)
        let core = try TrackerCore(policy: Harness.policy(), basePath: base, logger: .init(label: "test"), now: { 1 })
        let state = await core.clusterState
        #expect(state.storages(in: Harness.group).map(\.id.rawValue) == ["10.0.0.1", "10.0.0.2"])
    }
}

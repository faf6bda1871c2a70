import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import Logging
import ServiceLifecycle
import Testing
@testable import FDFSStorage

@Suite struct PeerTableTests {
    static func brief(_ id: String, _ status: StorageStatus) -> StorageBrief {
        StorageBrief(status: status, port: 23000, id: id, ipAddress: id)
    }

    @Test func mergeRulesOfSection2_5() throws {
        var table = PeerTable(selfID: try StorageID("10.0.0.1"))
        var r = table.merge([Self.brief("10.0.0.1", .active), Self.brief("10.0.0.2", .waitSync), Self.brief("10.0.0.3", .deleted)])
        #expect(r.ownStatus == .active && r.startSync.map(\.rawValue) == ["10.0.0.2"], "new peers are synced to, deleted ones ignored")
        #expect(table.peers.map(\.id.rawValue) == ["10.0.0.2"])
        // Remote OFFLINE while local is WAIT_SYNC: pushed back; ACTIVE/ONLINE locally become OFFLINE.
        r = table.merge([Self.brief("10.0.0.2", .offline)])
        #expect(r.pushBack.map(\.status) == [.waitSync])
        r = table.merge([Self.brief("10.0.0.2", .active)])
        #expect(table.peer(try StorageID("10.0.0.2"))?.status == .active)
        r = table.merge([Self.brief("10.0.0.2", .offline)])
        #expect(table.peer(try StorageID("10.0.0.2"))?.status == .offline && r.pushBack.isEmpty)
        // A listed-lower WAIT_SYNC is pushed back; a peer missing from the list is pushed back.
        _ = table.merge([Self.brief("10.0.0.2", .active)])
        r = table.merge([Self.brief("10.0.0.2", .syncing)])
        #expect(r.pushBack.map(\.status) == [.active])
        r = table.merge([])
        #expect(r.pushBack.map(\.id) == ["10.0.0.2"])
        // A retired slot revives (and is synced to again) unless deleted.
        table.retire(try StorageID("10.0.0.2"))
        r = table.merge([Self.brief("10.0.0.2", .deleted)])
        let retired = table.peer(try StorageID("10.0.0.2"))?.status
        #expect(r.startSync.isEmpty && retired == StorageStatus.none)
        r = table.merge([Self.brief("10.0.0.2", .active)])
        #expect(r.startSync.map(\.rawValue) == ["10.0.0.2"])
    }
}

@Suite(.serialized) struct TrackerReporterTests {
    static let group = try! GroupName("group1")

    static func node(_ ip: String, trackers: [(host: String, port: Int)]) -> StorageNode {
        var s = ReporterSettings(group: group, storagePort: 23000, storePathCount: 1, trackers: trackers)
        s.bindAddress = ip
        s.heartBeatInterval = .milliseconds(200)
        s.statReportInterval = .milliseconds(200)
        s.connectTimeout = .seconds(1)
        return StorageNode(settings: s, joinTime: 1_795_000_000, upTime: 1_795_000_000, syncOldDone: false,
                           syncSource: SyncInfo(sourceID: nil, untilTimestamp: 0), disk: { [.init(totalMB: 10_000, freeMB: 5_000)] })
    }

    /// Runs one reporter per tracker of `node` while `body` runs.
    static func reporting<T: Sendable>(_ node: StorageNode, _ body: @Sendable () async throws -> T) async throws -> T {
        var logger = Logger(label: "test.reporter")
        logger.logLevel = .critical
        let reporters = (0..<node.settings.trackers.count).map { TrackerReporter(node: node, trackerIndex: $0, logger: logger) }
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            for r in reporters { tasks.addTask { await r.run() } }
            defer { tasks.cancelAll() }
            return try await body()
        }
    }

    static func status(_ tracker: RunningTracker, _ id: String) async throws -> StorageStatus? {
        let client = try await tracker.client()
        let status = try? await client.request(ListStorageRequest(group: group, storageID: id)).storages.first?.status
        await client.close()
        return status
    }

    static func waitFor(_ wanted: StorageStatus, _ tracker: RunningTracker, _ id: String) async throws -> StorageStatus? {
        var last: StorageStatus? = nil
        for _ in 0..<50 {
            last = try await status(tracker, id)
            if last == wanted { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    @Test func aStorageJoinsAndBecomesActive() async throws {
        try await withTracker(basePath: try temporaryDirectory()) { tracker in
            let a = Self.node("127.0.0.2", trackers: [tracker.endpoint])
            try await Self.reporting(a) {
                #expect(try await Self.waitFor(.active, tracker, "127.0.0.2") == .active)
                let (ip, done) = (await a.ownIPAddress, await a.syncOldDone)
                #expect(ip == "127.0.0.2" && done)
                let client = try await tracker.client()
                let store = try await client.request(QueryStoreWithoutGroupOneRequest())
                #expect(store.storage.ipAddress == "127.0.0.2", "disk usage was reported")
                await client.close()
            }
        }
    }

    @Test func aNewMemberGetsItsSyncSource() async throws {
        try await withTracker(basePath: try temporaryDirectory()) { tracker in
            let a = Self.node("127.0.0.2", trackers: [tracker.endpoint])
            try await Self.reporting(a) {
                #expect(try await Self.waitFor(.active, tracker, "127.0.0.2") == .active)
                let b = Self.node("127.0.0.3", trackers: [tracker.endpoint])
                try await Self.reporting(b) {
                    #expect(try await Self.waitFor(.waitSync, tracker, "127.0.0.3") == .waitSync)
                    let (done, source) = (await b.syncOldDone, await b.syncSource)
                    #expect(done && source.sourceID?.rawValue == "127.0.0.2")
                    // A learns B from the leader's list.
                    var known: [String] = []
                    for _ in 0..<30 where known.isEmpty {
                        try await Task.sleep(for: .milliseconds(100))
                        known = await a.peers?.peers.map(\.id.rawValue) ?? []
                    }
                    #expect(known == ["127.0.0.3"])
                }
            }
        }
    }

    @Test func aDeadTrackerDoesNotStopTheOthers() async throws {
        try await withTracker(basePath: try temporaryDirectory()) { tracker in
            // The first listed tracker does not exist; its reporter keeps retrying.
            let a = Self.node("127.0.0.2", trackers: [("127.0.0.9", 1), tracker.endpoint])
            try await Self.reporting(a) { () async throws in
                #expect(try await Self.waitFor(.active, tracker, "127.0.0.2") == .active)
            }
        }
    }
}

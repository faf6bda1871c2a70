import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSTesting
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing
@testable import FDFSTracker

/// Sends raw bytes and reads until `expect` bytes came back, the server closed, or `wait`
/// passed (then `closed` is false).
func rawExchange(port: Int, _ bytes: [UInt8], expect: Int = 0, wait: Duration = .seconds(2)) async throws -> (reply: [UInt8], closed: Bool) {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
    return try await channel.executeThenClose { inbound, outbound in
        if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
        return try await withThrowingTaskGroup(of: ([UInt8], Bool)?.self) { group in
            group.addTask {
                var reply: [UInt8] = []
                for try await chunk in inbound {
                    reply += chunk.readableBytesView
                    if expect > 0 && reply.count >= expect { return (reply, false) }
                }
                return (reply, true)
            }
            group.addTask {
                try await Task.sleep(for: wait)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first ?? ([], false)
        }
    }
}

@Suite(.serialized) struct TrackerLoopbackTests {
    static let group = try! GroupName("group1")

    @Test func aStorageJoinsBeatsAndIsOffered() async throws {
        try await withTracker(basePath: try temporaryDirectory()) { tracker in
            let a = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [tracker.endpoint])
            #expect(try await a.join().status == .initial)
            #expect(try await a.syncDestRequest() == nil)
            let note = try await a.beat()
            #expect(note.flags.contains(.groupServers) && note.groupServers.map(\.status) == [.active])
            try await a.reportDiskUsage()
            _ = try await a.syncReport([.init(peerID: a.id, syncedTimestamp: 0)])
            let client = try await tracker.client()
            let store = try await client.request(QueryStoreWithoutGroupOneRequest())
            #expect(store.storage == StorageEndpoint(ipAddress: "127.0.0.2", port: 23000))
            let list = try await client.request(ListStorageRequest(group: Self.group))
            #expect(list.storages.map(\.id) == ["127.0.0.2"] && list.storages[0].status == .active)
            await client.close()
            await a.close()
        }
    }

    /// TrackerClient.storageIDs pages through FETCH_STORAGE_IDS: 600 ids do not fit in one
    /// 8 KiB reply, and come back complete, in order; without ids the answer is empty.
    @Test func storageIDsArriveOverSeveralPages() async throws {
        var lines: [String] = []
        for n in 0..<600 { lines.append("\(100_000 + n) group\(n % 3 + 1) 10.\(n / 250).\(n % 250).1,192.168.\(n / 250).\(n % 250):\(23000 + n % 7)" + (n % 5 == 0 ? " rw=read" : "")) }
        let ids = try StorageIDs.parse(text: lines.joined(separator: "\n"), path: "test storage_ids.conf")
        try await withTracker(basePath: try temporaryDirectory(), configure: { policy in
            policy.useStorageID = true
            policy.storageIDs = ids
        }) { tracker in
            let client = try await tracker.client()
            let first = try await client.request(FetchStorageIDsRequest(startIndex: 0, allowEmpty: true))
            #expect(first.total == 600 && first.count > 0 && first.count < 600, "the test needs more than one page")
            let fetched = try await TrackerClient(connection: client).storageIDs()
            #expect(fetched == ids)
            await client.close()
        }
        try await withTracker(basePath: try temporaryDirectory()) { tracker in
            let client = try await tracker.client()
            #expect(try await TrackerClient(connection: client).storageIDs().entries.isEmpty)
            await client.close()
        }
    }

    /// Two storages of one group walk INIT -> WAIT_SYNC -> SYNCING -> OFFLINE -> ACTIVE.
    @Test func newMemberFullSyncOverTheWire() async throws {
        let base = try temporaryDirectory()
        try await withTracker(basePath: base) { tracker in
            let a = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [tracker.endpoint])
            _ = try await a.join()
            _ = try await a.syncDestRequest()
            try await a.beat()
            try await a.reportDiskUsage()
            let b = try await ScriptedStorage.connect(ipAddress: "127.0.0.3", group: Self.group, trackers: [tracker.endpoint])
            #expect(try await b.join().status == .initial)
            let info = try #require(try await b.syncDestRequest())
            #expect(info.sourceID == a.id)
            let admin = try await tracker.client()
            func statusOfB() async throws -> StorageStatus {
                try await admin.request(ListStorageRequest(group: Self.group, storageID: "127.0.0.3")).storages[0].status
            }
            #expect(try await statusOfB() == .waitSync)
            // A, the sync source, reports from its own fresh connection as the C storage does.
            let source = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [tracker.endpoint])
            try await source.reportStatus(of: b, .syncing)
            #expect(try await statusOfB() == .syncing)
            try await source.reportStatus(of: b, .offline)
            #expect(try await statusOfB() == .offline)
            try await b.beat()
            #expect(try await statusOfB() == .active)
            let members = try await a.beat().groupServers
            #expect(members.map(\.id) == ["127.0.0.2", "127.0.0.3"] && members.allSatisfy { $0.status == .active })
            // Each status change is on disk before its reply: a tracker killed now would not
            // bring B back as WAIT_SYNC (found by the crash-restart test).
            let onDisk = try TrackerDataDirectory(basePath: base).load().snapshot.storages
            #expect(onDisk.first { $0.id.rawValue == "127.0.0.3" }?.status == .active, "\(onDisk.map { ($0.id, $0.status) })")
            for c in [a, b, source] { await c.close() }
            await admin.close()
        }
    }

    @Test func aStorageThatStopsBeatingBecomesOffline() async throws {
        try await withTracker(basePath: try temporaryDirectory(), checkActiveIntervalSeconds: 1) { tracker in
            let a = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [tracker.endpoint])
            _ = try await a.join()
            _ = try await a.syncDestRequest()
            try await a.beat()
            let admin = try await tracker.client()
            #expect(try await admin.request(ListStorageRequest(group: Self.group)).storages[0].status == .active)
            // Silent but connected: the liveness check (1 s interval, 1 s timeout) takes it offline.
            var status = StorageStatus.active
            for _ in 0..<40 where status == .active {
                try await Task.sleep(for: .milliseconds(100))
                status = try await admin.request(ListStorageRequest(group: Self.group)).storages[0].status
            }
            #expect(status == .offline)
            // And a closed connection is noticed at once.
            try await a.beat()
            #expect(try await admin.request(ListStorageRequest(group: Self.group)).storages[0].status == .active)
            await a.close()
            var afterClose = StorageStatus.active
            for _ in 0..<20 where afterClose == .active {
                try await Task.sleep(for: .milliseconds(50))
                afterClose = try await admin.request(ListStorageRequest(group: Self.group)).storages[0].status
            }
            #expect(afterClose == .offline)
            await admin.close()
        }
    }

    @Test func restartKeepsGroupsAndStorages() async throws {
        let base = try temporaryDirectory()
        try await withTracker(basePath: base) { tracker in
            for ip in ["127.0.0.2", "127.0.0.3"] {
                let s = try await ScriptedStorage.connect(ipAddress: ip, group: Self.group, trackers: [tracker.endpoint])
                _ = try await s.join(initFlag: false, status: .offline)
                try await s.beat()
                await s.close()
            }
        }
        try await withTracker(basePath: base) { tracker in
            let admin = try await tracker.client()
            let groups = try await admin.request(ListAllGroupsRequest())
            #expect(groups.groups.map(\.groupName) == ["group1"] && groups.groups[0].storageCount == 2)
            let list = try await admin.request(ListStorageRequest(group: Self.group))
            #expect(list.storages.map(\.id) == ["127.0.0.2", "127.0.0.3"])
            #expect(list.storages.allSatisfy { $0.status == .offline }, "after a restart every non-sync status is OFFLINE")
            await admin.close()
        }
    }

    @Test func badInputGetsItsStatusAndOthersAreStillServed() async throws {
        // 2 s: long enough that a loaded machine (multi-process tests run beside this one)
        // does not hit it between connecting and writing, short enough to wait for below.
        try await withTracker(basePath: try temporaryDirectory(), networkTimeout: .seconds(2)) { tracker in
            func packet(_ command: UInt8, _ body: [UInt8], length: Int64? = nil) -> [UInt8] {
                var b = ByteBuffer()
                FDFSHeader(bodyLength: length ?? Int64(body.count), command: command).encode(into: &b)
                b.writeBytes(body)
                return Array(b.readableBytesView)
            }
            let activeTest = packet(111, [])
            let okReply: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 100, 0]
            let einval: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 100, 22]
            // A JOIN with an invalid group name: EINVAL, connection kept (the ACTIVE_TEST after it is answered).
            var join = ByteBuffer()
            StorageJoinRequest(group: Self.group, storagePort: 23000, storePathCount: 1, subdirCountPerPath: 256, uploadPriority: 10,
                               joinTime: 1, upTime: 1, version: "6.16.1", initFlag: true, status: .initial, storageID: nil,
                               currentTrackerIP: "127.0.0.1", trackers: ["127.0.0.1:\(tracker.port)"]).encode(into: &join)
            var badGroup = Array(join.readableBytesView)
            badGroup[0] = UInt8(ascii: "-")
            var r = try await rawExchange(port: tracker.port, packet(81, badGroup) + activeTest, expect: 20)
            #expect(r.reply == einval + okReply && !r.closed)
            // A body of the wrong length (JOIN shorter than 145 bytes): EINVAL, kept.
            r = try await rawExchange(port: tracker.port, packet(81, Array(badGroup.prefix(100))) + activeTest, expect: 20)
            #expect(r.reply == einval + okReply && !r.closed)
            // An unknown command: EINVAL, kept.
            r = try await rawExchange(port: tracker.port, packet(250, []) + activeTest, expect: 20)
            #expect(r.reply == einval + okReply && !r.closed)
            // A negative length: closed, no reply.
            r = try await rawExchange(port: tracker.port, packet(111, [], length: -1))
            #expect(r.reply.isEmpty && r.closed)
            // Half a header, then silence: closed after the network timeout.
            r = try await rawExchange(port: tracker.port, [0, 0, 0], wait: .seconds(6))
            #expect(r.reply.isEmpty && r.closed)
            // An unreachable peer does not block an empty tracker (C answers EAGAIN, §10.13), but
            // a storage whose list does not name this tracker is refused: ENOENT.
            let early = try await ScriptedStorage.connect(ipAddress: "127.0.0.4", group: Self.group, trackers: [("127.0.0.9", 22122)],
                                                          dial: tracker.endpoint)
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await early.join() }
            await early.close()
            let member = try await ScriptedStorage.connect(ipAddress: "127.0.0.5", group: Self.group, trackers: [tracker.endpoint])
            _ = try await member.join()
            await member.close()
            let stranger = try await ScriptedStorage.connect(ipAddress: "127.0.0.4", group: Self.group, trackers: [("127.0.0.9", 22122)],
                                                             dial: tracker.endpoint)
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await stranger.join() }
            await stranger.close()
            // QUIT: no reply, the connection closes.
            r = try await rawExchange(port: tracker.port, packet(82, []))
            #expect(r.reply.isEmpty && r.closed)
            // Everyone else is still served.
            let client = try await tracker.client()
            _ = try await client.request(ActiveTestRequest())
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.request(QueryStoreWithoutGroupOneRequest()) }
            await client.close()
        }
    }

    /// Two trackers: a storage joins both; both know it; either answers clients; with one
    /// stopped, the other keeps answering. With a cluster secret, the trackers prove it to
    /// each other to elect their leader.
    @Test(arguments: [false, true]) func twoTrackersBothServe(withSecret: Bool) async throws {
        let baseA = try temporaryDirectory(), baseB = try temporaryDirectory()
        let secrets = withSecret ? ClusterSecrets(current: "the secret of two trackers") : nil
        try await withTracker(basePath: baseA, clusterSecrets: secrets) { first in
            let portB = try await withTracker(basePath: baseB, clusterSecrets: secrets) { second in
                let trackers = [first.endpoint, second.endpoint]
                for (index, _) in trackers.enumerated() {
                    let s = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: trackers, to: index,
                                                              clusterSecrets: secrets)
                    _ = try await s.join(initFlag: false, status: .offline, trackerIndex: index)
                    try await s.beat()
                    try await s.reportDiskUsage()
                    await s.close()
                }
                for tracker in [first, second] {
                    let client = try await tracker.client()
                    #expect(try await client.request(ListStorageRequest(group: Self.group)).storages.map(\.id) == ["127.0.0.2"])
                    await client.close()
                }
                // They elect one leader (equal uptimes: the greater port wins) and agree on it.
                let expected = IPPort(ip: "127.0.0.1", port: max(first.port, second.port))
                var leaders: [IPPort?] = [nil, nil]
                for _ in 0..<50 where leaders != [expected, expected] {
                    try await Task.sleep(for: .milliseconds(100))
                    for (i, tracker) in [first, second].enumerated() {
                        let client = try await tracker.client()
                        leaders[i] = try? await client.request(GetLeaderRequest()).address
                        await client.close()
                    }
                }
                #expect(leaders == [expected, expected])
                let leaderFlags = await [first.core.clusterState.isLeader, second.core.clusterState.isLeader]
                #expect(leaderFlags.filter { $0 }.count == 1)
                return second.port
            }
            // The second tracker is stopped: its port refuses; the first still answers.
            await #expect(throws: (any Error).self) { try await FDFSClientConnection.connect(host: "127.0.0.1", port: portB) }
            let client = try await first.client()
            #expect(try await client.request(ListAllGroupsRequest()).groups.count == 1)
            await client.close()
        }
    }

    /// A tracker that starts empty copies the data files of a peer at its first JOIN (§3.5),
    /// proving the cluster secret to it when one is set.
    @Test(arguments: [false, true]) func anEmptyTrackerCopiesItsPeer(withSecret: Bool) async throws {
        let secrets = withSecret ? ClusterSecrets(current: "the secret of two trackers") : nil
        try await withTracker(basePath: try temporaryDirectory(), clusterSecrets: secrets) { first in
            let a = try await ScriptedStorage.connect(ipAddress: "127.0.0.2", group: Self.group, trackers: [first.endpoint], clusterSecrets: secrets)
            _ = try await a.join(initFlag: false, status: .offline)
            try await a.beat()
            try await withTracker(basePath: try temporaryDirectory(), clusterSecrets: secrets) { fresh in
                // A second storage joins the fresh tracker and lists both trackers.
                let trackers = [first.endpoint, fresh.endpoint]
                let b = try await ScriptedStorage.connect(ipAddress: "127.0.0.3", group: Self.group, trackers: trackers, to: 1, clusterSecrets: secrets)
                _ = try await b.join(initFlag: false, status: .offline, trackerIndex: 1)
                let client = try await fresh.client()
                let ids = try await client.request(ListStorageRequest(group: Self.group)).storages.map(\.id)
                #expect(ids == ["127.0.0.2", "127.0.0.3"], "the fresh tracker knows A from its peer's files")
                await client.close()
                await b.close()
            }
            await a.close()
        }
    }
}


import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import NIOCore
import Testing
@testable import FDFSTracker

/// A small cluster driven through the state machine with explicit times (no sockets, no clock).
final class Harness {
    var state: ClusterState
    var sessions: [String: TrackerSession] = [:]
    static let group = try! GroupName("group1")

    init(policy: TrackerPolicy = Harness.policy()) {
        state = ClusterState(policy: policy)
    }

    static func policy(_ edit: (inout TrackerPolicy) -> Void = { _ in }) -> TrackerPolicy {
        var p = TrackerPolicy()
        p.port = 22122
        p.reservedStorageSpace = .percent(10)
        edit(&p)
        return p
    }

    static func join(initFlag: Bool = true, status: StorageStatus = .initial, port: Int64 = 23000, paths: Int64 = 1,
                     id: StorageID? = nil, trackers: [String] = ["127.0.0.1:22122"]) -> StorageJoinRequest {
        StorageJoinRequest(group: group, storagePort: port, storePathCount: paths, subdirCountPerPath: 256, uploadPriority: 10,
                           joinTime: 1000, upTime: 1000, version: "6.16.1", initFlag: initFlag, status: status, storageID: id,
                           currentTrackerIP: "127.0.0.1", trackers: trackers)
    }

    /// Sends `request` on the connection of storage `ip` (opened on first use).
    func send(_ ip: String, _ request: any FDFSRequest, now: Int64 = 1000) -> TrackerReply {
        var session = sessions[ip] ?? TrackerSession(peerIP: ip, localIP: "127.0.0.1")
        let reply = state.handle(request, session: &session, now: now)
        sessions[ip] = session
        return reply
    }

    func ok<B: FDFSBody>(_ ip: String, _ request: any FDFSRequest, as: B.Type = B.self, now: Int64 = 1000,
                                  sourceLocation: SourceLocation = #_sourceLocation) -> B? {
        switch send(ip, request, now: now) {
        case .body(let b): return b as? B
        case .error(let e):
            Issue.record("\(type(of: request)) from \(ip) failed: \(e)", sourceLocation: sourceLocation)
            return nil
        case .close: return nil
        }
    }

    func status(_ ip: String, _ request: any FDFSRequest, now: Int64 = 1000) -> FDFSStatus {
        switch send(ip, request, now: now) {
        case .body: .success
        case .error(let e): e.status
        case .close: .success
        }
    }

    func storage(_ ip: String) -> TrackedStorage? { state.storage(StorageKey(group: Self.group, id: try! StorageID(ip))) }

    /// A member that already completed its first sync restarts: it joins with its last known
    /// status (OFFLINE becomes ONLINE), beats (ACTIVE) and reports disk space.
    func activeStorage(_ ip: String, freeMB: Int64 = 500, now: Int64 = 1000) {
        _ = ok(ip, Self.join(initFlag: false, status: .offline), as: StorageJoinResponse.self, now: now)
        _ = ok(ip, StorageBeatRequest(), as: ChangeNotification.self, now: now)
        _ = ok(ip, ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: freeMB)]), as: ChangeNotification.self, now: now)
    }
}

@Suite struct StorageStateMachineTests {
    @Test func firstStorageJoinsAndBecomesActive() throws {
        let h = Harness()
        let join = try #require(h.ok("10.0.0.1", Harness.join(), as: StorageJoinResponse.self))
        #expect(join.status == .initial && join.syncSourceID == nil)
        #expect(h.state.isLeader, "a single tracker leads once it knows the tracker list")
        let dest = try #require(h.ok("10.0.0.1", SyncDestRequest(), as: OptionalSyncInfo.self))
        #expect(dest.info == nil)
        #expect(h.storage("10.0.0.1")?.status == .online)
        let note = try #require(h.ok("10.0.0.1", StorageBeatRequest(), as: ChangeNotification.self))
        #expect(h.storage("10.0.0.1")?.status == .active)
        #expect(note.flags == [.trackerLeader, .groupServers])
        #expect(note.leader?.ipAddress == "127.0.0.1" && note.leader?.port == 22122)
        #expect(note.groupServers.map(\.id) == ["10.0.0.1"] && note.groupServers[0].status == .active)
        // Nothing changed: the next beat carries nothing.
        #expect(h.ok("10.0.0.1", StorageBeatRequest(), as: ChangeNotification.self)?.flags == [])
        let actions = h.state.takeActions()
        #expect(actions.contains(.saveGroups) && actions.contains(.saveStorages))
    }

    /// The new-member procedure of cluster spec §2.4, end to end.
    @Test func newMemberWalksWaitSyncSyncingOfflineActive() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        #expect(h.ok("10.0.0.2", Harness.join(), as: StorageJoinResponse.self, now: 2000)?.status == .initial)
        let info = try #require(h.ok("10.0.0.2", SyncDestRequest(), as: OptionalSyncInfo.self, now: 2000)?.info)
        #expect(info.sourceID?.rawValue == "10.0.0.1" && info.untilTimestamp == 2000)
        #expect(h.storage("10.0.0.2")?.status == .waitSync)
        // While WAIT_SYNC its beats do not activate it.
        _ = h.ok("10.0.0.2", StorageBeatRequest(), as: ChangeNotification.self, now: 2001)
        #expect(h.storage("10.0.0.2")?.status == .waitSync)
        // The source asks who syncs old data to B, then reports SYNCING and OFFLINE.
        let src = try #require(h.ok("10.0.0.1", SyncSourceRequest(group: Harness.group, destinationID: try StorageID("10.0.0.2")), as: OptionalSyncInfo.self))
        #expect(src.info == info)
        let brief = { (s: StorageStatus) in StorageBrief(status: s, port: 0, id: "10.0.0.2", ipAddress: "10.0.0.2") }
        #expect(h.status("10.0.0.1", ReportStatusRequest(group: Harness.group, brief: brief(.syncing))) == .success)
        #expect(h.storage("10.0.0.2")?.status == .syncing)
        #expect(h.status("10.0.0.1", ReportStatusRequest(group: Harness.group, brief: brief(.offline))) == .success)
        #expect(h.storage("10.0.0.2")?.status == .offline)
        // A lower status does not win (greater-status rule, §1.9).
        #expect(h.status("10.0.0.1", ReportStatusRequest(group: Harness.group, brief: brief(.syncing))) == .success)
        #expect(h.storage("10.0.0.2")?.status == .offline)
        _ = h.ok("10.0.0.2", StorageBeatRequest(), as: ChangeNotification.self, now: 2010)
        #expect(h.storage("10.0.0.2")?.status == .active)
        // A's next notification lists both, B active.
        let note = try #require(h.ok("10.0.0.1", StorageBeatRequest(), as: ChangeNotification.self, now: 2011))
        #expect(note.groupServers.map(\.status) == [.active, .active])
    }

    @Test func syncNotifyFromAnotherTrackerConnection() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        _ = h.ok("10.0.0.2", Harness.join(), as: StorageJoinResponse.self)
        let info = SyncInfo(sourceID: try StorageID("10.0.0.1"), untilTimestamp: 1500)
        #expect(h.status("10.0.0.2", SyncNotifyRequest(info: info)) == .success)
        #expect(h.storage("10.0.0.2")?.status == .waitSync && h.storage("10.0.0.2")?.syncUntilTimestamp == 1500)
        #expect(h.ok("10.0.0.2", SyncDestQueryRequest(), as: OptionalSyncInfo.self)?.info == info)
        // An unknown source is ENOENT.
        _ = h.ok("10.0.0.3", Harness.join(), as: StorageJoinResponse.self)
        #expect(h.status("10.0.0.3", SyncNotifyRequest(info: SyncInfo(sourceID: try StorageID("10.9.9.9"), untilTimestamp: 1))) == .ENOENT)
        // An empty source makes INIT/WAIT_SYNC/SYNCING ONLINE.
        #expect(h.status("10.0.0.3", SyncNotifyRequest(info: SyncInfo(sourceID: nil, untilTimestamp: 0))) == .success)
        #expect(h.storage("10.0.0.3")?.status == .online)
    }

    @Test func livenessUsesTheCheckIntervalAndAMockClock() {
        let h = Harness(policy: Harness.policy { $0.checkActiveIntervalSeconds = 100 })
        h.activeStorage("10.0.0.1", now: 1000)
        #expect(h.state.checkLiveness(now: 1100).isEmpty)
        #expect(h.storage("10.0.0.1")?.status == .active)
        #expect(h.state.checkLiveness(now: 1101).map(\.id.rawValue) == ["10.0.0.1"])
        #expect(h.storage("10.0.0.1")?.status == .offline)
        // It comes back with its next beat.
        _ = h.ok("10.0.0.1", StorageBeatRequest(), as: ChangeNotification.self, now: 1200)
        #expect(h.storage("10.0.0.1")?.status == .active)
    }

    @Test func closedConnectionMakesTheStorageOfflineAtOnce() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        h.state.disconnect(session: try #require(h.sessions["10.0.0.1"]))
        #expect(h.storage("10.0.0.1")?.status == .offline && h.storage("10.0.0.1")?.upTime == 0)
        // JOIN turns OFFLINE into ONLINE, the next beat ACTIVE.
        h.sessions["10.0.0.1"] = nil
        #expect(h.ok("10.0.0.1", Harness.join(initFlag: false, status: .active), as: StorageJoinResponse.self)?.status == .online)
        _ = h.ok("10.0.0.1", StorageBeatRequest(), as: ChangeNotification.self)
        #expect(h.storage("10.0.0.1")?.status == .active)
    }

    @Test func joinErrors() {
        let h = Harness()
        #expect(h.status("10.0.0.1", Harness.join(trackers: ["10.9.9.9:22122"])) == .ENOENT, "this tracker is not in the list")
        #expect(h.status("10.0.0.1", Harness.join(port: 0)) == .EINVAL)
        #expect(h.status("10.0.0.2", Harness.join(initFlag: false, status: .deleted)) == .EFAULT)
        #expect(h.status("10.0.0.2", Harness.join(initFlag: false, status: .unknown)) == .EFAULT)
        // A restarted storage that knew its status adopts it (ACTIVE becomes ONLINE).
        #expect(h.status("10.0.0.3", Harness.join(initFlag: false, status: .active)) == .success)
        #expect(h.storage("10.0.0.3")?.status == .online)
        // Fewer store paths than the group has are refused; more are accepted.
        let other = Harness()
        _ = other.ok("10.0.0.4", Harness.join(paths: 2), as: StorageJoinResponse.self)
        #expect(other.status("10.0.0.5", Harness.join(paths: 1)) == .EINVAL)
        #expect(other.status("10.0.0.6", Harness.join(paths: 3)) == .success)
    }

    @Test func storageCommandsNeedAJoin() {
        let h = Harness()
        #expect(h.status("10.0.0.1", StorageBeatRequest()) == .EACCES)
        #expect(h.status("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 1, freeMB: 1)])) == .EACCES)
        #expect(h.status("10.0.0.1", SyncDestRequest()) == .EACCES)
        #expect(h.status("10.0.0.1", SyncNotifyRequest(info: SyncInfo(sourceID: nil, untilTimestamp: 0))) == .EACCES)
        #expect(h.status("10.0.0.1", SyncDestQueryRequest()) == .EACCES)
        #expect(h.status("10.0.0.1", ChangeStatusRequest(status: .offline)) == .EACCES)
    }

    @Test func diskUsageMustCoverEveryPath() {
        let h = Harness()
        _ = h.ok("10.0.0.1", Harness.join(paths: 2), as: StorageJoinResponse.self)
        #expect(h.status("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 1, freeMB: 1)])) == .EINVAL)
    }

    @Test func changeStatus() {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        #expect(h.status("10.0.0.1", ChangeStatusRequest(status: .online)) == .success)
        #expect(h.storage("10.0.0.1")?.status == .active, "both available: ignored")
        #expect(h.status("10.0.0.1", ChangeStatusRequest(status: .waitSync)) == .success)
        #expect(h.storage("10.0.0.1")?.status == .waitSync)
    }

    @Test func restartRuleKeepsSyncStatesOnly() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        _ = h.ok("10.0.0.2", Harness.join(), as: StorageJoinResponse.self, now: 2000)
        _ = h.ok("10.0.0.2", SyncDestRequest(), as: OptionalSyncInfo.self, now: 2000)
        let reloaded = ClusterState(policy: Harness.policy(), snapshot: h.state.snapshot)
        let key = { (ip: String) in StorageKey(group: Harness.group, id: try! StorageID(ip)) }
        #expect(reloaded.storage(key("10.0.0.1"))?.status == .offline)
        #expect(reloaded.storage(key("10.0.0.2"))?.status == .waitSync)
        #expect(reloaded.storage(key("10.0.0.2"))?.syncSourceID?.rawValue == "10.0.0.1")
    }
}

@Suite struct ClientRoutingTests {
    static let fileTime: Int32 = 5000

    static func fileName(source ip: String, kind: FileSizeField = .normal(size: 10, random: 1)) throws -> String {
        let block = FileNameBlock(source: .ipv4(IPv4Address(ip)!), createTimestamp: fileTime, sizeField: kind, crc32: 7)
        return try RemoteFilename(storePathIndex: 0, subdirHigh: 0, subdirLow: 0, name: block.encoded + "123.jpg").text
    }

    @Test func uploadQueriesChooseAWritableStorageWithSpace() throws {
        let h = Harness()
        #expect(h.status("10.0.0.9", QueryStoreWithoutGroupOneRequest()) == .ENOENT, "no groups yet")
        h.activeStorage("10.0.0.1", freeMB: 500)
        let r = try #require(h.ok("10.0.0.9", QueryStoreWithoutGroupOneRequest(), as: QueryStoreResponse.self))
        #expect(r.group == Harness.group && r.storage == StorageEndpoint(ipAddress: "10.0.0.1", port: 23000) && r.storePathIndex == 0)
        #expect(h.status("10.0.0.9", QueryStoreWithGroupOneRequest(group: try GroupName("nosuch"))) == .ENOENT)
        // Below the 10% reserve: no upload target, ENOSPC.
        _ = h.ok("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: 50)]), as: ChangeNotification.self)
        #expect(h.status("10.0.0.9", QueryStoreWithoutGroupOneRequest()) == .ENOSPC)
        #expect(h.status("10.0.0.9", QueryStoreWithGroupAllRequest(group: Harness.group)) == .ENOSPC)
    }

    @Test func roundRobinOverStoragesAndAllVariant() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        h.activeStorage("10.0.0.2")
        let a = try #require(h.ok("c", QueryStoreWithGroupOneRequest(group: Harness.group), as: QueryStoreResponse.self))
        let b = try #require(h.ok("c", QueryStoreWithGroupOneRequest(group: Harness.group), as: QueryStoreResponse.self))
        #expect(Set([a.storage.ipAddress, b.storage.ipAddress]) == ["10.0.0.1", "10.0.0.2"])
        let all = try #require(h.ok("c", QueryStoreWithoutGroupAllRequest(), as: QueryStoreAllResponse.self))
        #expect(all.storages.map(\.ipAddress) == ["10.0.0.1", "10.0.0.2"])
    }

    /// Read-after-write (docs/routing.md): a fresh file is only routed to storages that have it.
    @Test func freshFileIsOnlyRoutedToStoragesThatHaveIt() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        h.activeStorage("10.0.0.2")
        let name = try Self.fileName(source: "10.0.0.1")
        for _ in 0..<4 {
            let r = try #require(h.ok("c", QueryFetchOneRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self))
            #expect(r.storages.map(\.ipAddress) == ["10.0.0.1"])
        }
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.count == 1)
        // B reports data from A up to the file's own second: still not B (another file of
        // that second may not have reached it).
        let report = { (ts: Int32) in SyncReportRequest(entries: [.init(peerID: try! StorageID("10.0.0.1"), syncedTimestamp: ts)]) }
        _ = h.ok("10.0.0.2", report(Self.fileTime), as: ChangeNotification.self)
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.count == 1)
        // A record of a later second: B has it.
        _ = h.ok("10.0.0.2", report(Self.fileTime + 1), as: ChangeNotification.self)
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress)
                == ["10.0.0.1", "10.0.0.2"])
        // With the source gone, B still serves it; a newer file it lacks is ENOENT.
        h.state.disconnect(session: try #require(h.sessions["10.0.0.1"]))
        #expect(h.ok("c", QueryFetchOneRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.2"])
        let newer = FileNameBlock(source: .ipv4(IPv4Address("10.0.0.1")!), createTimestamp: Self.fileTime + 10, sizeField: .normal(size: 1, random: 1), crc32: 1)
        let newerName = try RemoteFilename(storePathIndex: 0, subdirHigh: 0, subdirLow: 0, name: newer.encoded + "123.jpg").text
        #expect(h.status("c", QueryFetchOneRequest(group: Harness.group, filename: newerName)) == .ENOENT)
        #expect(h.status("c", QueryUpdateRequest(group: Harness.group, filename: newerName)) == .ENOENT)
        #expect(h.ok("c", QueryUpdateRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.2"])
    }

    @Test func appenderFilesGoToTheirSource() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        h.activeStorage("10.0.0.2")
        _ = h.ok("10.0.0.2", SyncReportRequest(entries: [.init(peerID: try StorageID("10.0.0.1"), syncedTimestamp: Int32.max)]), as: ChangeNotification.self)
        let name = try Self.fileName(source: "10.0.0.1", kind: .appender(random: 3))
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.1"])
        #expect(h.status("c", QueryFetchOneRequest(group: Harness.group, filename: "M00/00/00/short")) == .EINVAL)
        // Appends, modifies and deletes go to the source; with the source away, to no one (the
        // chaos campaign lost an acknowledged append that went to 10.0.0.2 and was then
        // overwritten by the source's own earlier append), while a normal file's go to B.
        #expect(h.ok("c", QueryUpdateRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.1"])
        h.state.disconnect(session: try #require(h.sessions["10.0.0.1"]))
        #expect(h.status("c", QueryUpdateRequest(group: Harness.group, filename: name)) == .EAGAIN)
        let normal = try Self.fileName(source: "10.0.0.1")
        #expect(h.ok("c", QueryUpdateRequest(group: Harness.group, filename: normal), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.2"])
    }

    /// A storage reports a store path with no space at all when its data directory vanished:
    /// reads and changes of that path's files go to the peers that have them, and no upload is
    /// sent there; a path with space but none free (out of service for uploads) is still read.
    @Test func aVanishedStorePathIsNotReadAndNotWritten() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        h.activeStorage("10.0.0.2")
        _ = h.ok("10.0.0.2", SyncReportRequest(entries: [.init(peerID: try StorageID("10.0.0.1"), syncedTimestamp: Int32.max)]), as: ChangeNotification.self)
        let name = try Self.fileName(source: "10.0.0.1")
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.count == 2)
        // Out of service for uploads (free 0): still read. Its only path takes no new file, so
        // neither can the group (every member holds every file).
        _ = h.ok("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: 0)]), as: ChangeNotification.self)
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.count == 2)
        #expect(h.status("c", QueryStoreWithGroupOneRequest(group: Harness.group)) == .ENOSPC)
        // Vanished (total 0): its files are read from and changed on 10.0.0.2 only, and uploads
        // go there (the lost disk does not hold the group back, as an offline member would not).
        _ = h.ok("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 0, freeMB: 0)]), as: ChangeNotification.self)
        for _ in 0..<4 {
            #expect(h.ok("c", QueryStoreWithGroupOneRequest(group: Harness.group), as: QueryStoreResponse.self)?.storage.ipAddress == "10.0.0.2")
        }
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.2"])
        for _ in 0..<4 {
            #expect(h.ok("c", QueryFetchOneRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.2"])
        }
        #expect(h.ok("c", QueryUpdateRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.map(\.ipAddress) == ["10.0.0.2"])
        // The disk is back.
        _ = h.ok("10.0.0.1", ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: 500)]), as: ChangeNotification.self)
        #expect(h.ok("c", QueryFetchAllRequest(group: Harness.group, filename: name), as: QueryFetchResponse.self)?.storages.count == 2)
    }

    @Test func deleteStorageAndGroup() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        #expect(h.status("admin", DeleteStorageRequest(group: Harness.group, storageID: "10.0.0.1")) == .EBUSY)
        #expect(h.status("admin", DeleteStorageRequest(group: Harness.group, storageID: "10.9.9.9")) == .ENOENT)
        #expect(h.status("admin", DeleteGroupRequest(group: Harness.group)) == .EBUSY)
        #expect(h.status("admin", DeleteGroupRequest(group: try GroupName("nosuch"))) == .ENOENT)
        h.state.disconnect(session: try #require(h.sessions["10.0.0.1"]))
        _ = h.state.takeActions()
        #expect(h.status("admin", DeleteStorageRequest(group: Harness.group, storageID: "10.0.0.1"), now: 7000) == .success)
        #expect(h.state.takeActions().contains(.appendChangelog("7000 group1 10.0.0.1 4 ")))
        #expect(h.status("admin", DeleteStorageRequest(group: Harness.group, storageID: "10.0.0.1")) == .EALREADY)
        #expect(h.status("admin", DeleteGroupRequest(group: Harness.group)) == .success)
        #expect(h.state.groupNames.isEmpty)
    }

    @Test func listingsAndIdentities() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        let groups = try #require(h.ok("c", ListAllGroupsRequest(), as: GroupStatList.self))
        #expect(groups.groups.count == 1 && groups.groups[0].storageCount == 1 && groups.groups[0].freeMB == 500 && groups.groups[0].reservedMB == 100)
        #expect(groups.groups[0].currentTrunkFileID == -1)
        #expect(h.status("c", ListOneGroupRequest(group: try GroupName("nosuch"))) == .ENOENT)
        let storages = try #require(h.ok("c", ListStorageRequest(group: Harness.group), as: StorageStatList.self))
        #expect(storages.storages.map(\.id) == ["10.0.0.1"] && storages.storages[0].status == .active)
        #expect(h.status("c", ListStorageRequest(group: Harness.group, storageID: "10.0.0.7")) == .ENOENT)
        let brief = try #require(h.ok("c", GetStorageStatusRequest(group: Harness.group, address: IPPort(ip: "10.0.0.1", port: 23000)), as: StorageBriefBody.self))
        #expect(brief.brief.status == .active && brief.brief.port == 23000)
        #expect(h.ok("c", GetServerIDRequest(group: Harness.group, address: IPPort(ip: "10.0.0.1", port: 23000)), as: TextBody.self)?.text == "10.0.0.1")
        #expect(h.ok("10.0.0.5", GetMyIPRequest(group: Harness.group, port: 23000), as: TextBody.self)?.text == "10.0.0.5")
        #expect(h.status("c", GetGroupNameRequest(port: 23000)) == .EOPNOTSUPP)
        #expect(h.status("c", FetchStorageIDsRequest(startIndex: 0, allowEmpty: false)) == .EOPNOTSUPP)
        #expect(h.ok("c", FetchStorageIDsRequest(startIndex: 0, allowEmpty: true), as: FetchStorageIDsResponse.self)?.total == 0)
        #expect(h.ok("c", GetLeaderRequest(), as: IPPortBody.self)?.address == IPPort(ip: "127.0.0.1", port: 22122))
        #expect(h.status("c", SetTrunkServerRequest(group: Harness.group)) == .EOPNOTSUPP)
    }

    /// The parameters text of the captured tracker, from the same tracker.conf.
    @Test func parametersMatchTheCapture() throws {
        let config = try TrackerConfiguration.load(path: try SharedVectors.url("conf/tracker.conf").path)
        let policy = TrackerPolicy(configuration: config, storageIDs: nil)
        let vector = try #require(try WireVectorFile.all().first { $0.cmd == 75 && $0.profile == "main" })
        let expected = String(decoding: Hex.decode(try #require(vector.response_hex)).dropFirst(10), as: UTF8.self)
        #expect(policy.parameters.text == expected)
    }
}

/// The few fields of the shared vectors these tests read.
struct WireVectorFile: Decodable {
    let cmd: Int
    let profile: String
    let family: String
    let request_hex: String?
    let response_hex: String?

    static func all() throws -> [WireVectorFile] {
        try JSONDecoder().decode([WireVectorFile].self, from: SharedVectors.data("fastdfs-vectors.json"))
    }
}

@Suite struct IPChangeTests {
    @Test func aStorageMovesToItsNewAddress() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        h.activeStorage("10.0.0.2")
        _ = h.ok("10.0.0.2", SyncReportRequest(entries: [.init(peerID: try StorageID("10.0.0.1"), syncedTimestamp: 900)]), as: ChangeNotification.self)
        let change = ReportIPChangedRequest(group: Harness.group, oldIP: "10.0.0.1", newIP: "10.0.0.9")
        #expect(h.status("10.0.0.8", change) == .EINVAL, "the new IP must be the reporter's")
        #expect(h.status("10.0.0.9", change) == .EBUSY, "the old record is still active")
        h.state.disconnect(session: try #require(h.sessions["10.0.0.1"]))
        _ = h.state.takeActions()
        #expect(h.status("10.0.0.9", change, now: 3000) == .success)
        #expect(h.storage("10.0.0.1")?.status == .ipChanged)
        #expect(h.storage("10.0.0.9")?.status == .offline)
        #expect(h.state.takeActions().contains(.appendChangelog("3000 group1 10.0.0.1 3 10.0.0.9")))
        #expect(h.state.groups[Harness.group]?.synced[try StorageID("10.0.0.9")]?[try StorageID("10.0.0.2")] == 900)
        #expect(h.status("10.0.0.9", change) == .EALREADY)
        #expect(h.status("10.0.0.2", ReportIPChangedRequest(group: Harness.group, oldIP: "10.0.0.7", newIP: "10.0.0.2")) == .ENOENT)
        // The moved storage joins under its new address and carries on.
        #expect(h.ok("10.0.0.9", Harness.join(initFlag: false, status: .offline), as: StorageJoinResponse.self)?.status == .online)
    }
}

@Suite struct IdentityAndStatisticsTests {
    static func idsPolicy() throws -> TrackerPolicy {
        let ids = try StorageIDs.parse(text: """
            100001 group1 10.0.0.1:23000
            100002 group1 10.0.0.2,8.8.8.2:23000 rw=read
            100003 group2 10.0.0.1:23001
            """, path: "storage_ids.conf")
        return Harness.policy {
            $0.useStorageID = true
            $0.storageIDs = ids
            $0.idTypeInFilename = .id
        }
    }

    @Test func storageIdentitiesFromStorageIDsConf() throws {
        let h = Harness(policy: try Self.idsPolicy())
        // Two storages on one IP with different ports are different storages.
        #expect(h.ok("10.0.0.1", Harness.join(), as: StorageJoinResponse.self) != nil)
        #expect(h.state.storage(StorageKey(group: Harness.group, id: try StorageID("100001"))) != nil)
        let g2 = try GroupName("group2")
        var other = TrackerSession(peerIP: "10.0.0.1", localIP: "127.0.0.1")
        var join2 = Harness.join(port: 23001)
        join2.group = g2
        guard case .body = h.state.handle(join2, session: &other, now: 1) else { Issue.record("second storage on the same IP"); return }
        #expect(h.state.storage(StorageKey(group: g2, id: try StorageID("100003"))) != nil)
        // Unknown (group, ip, port), or a claimed id that is not configured: ENOENT.
        #expect(h.status("10.0.0.9", Harness.join()) == .ENOENT)
        #expect(h.status("10.0.0.9", Harness.join(id: try StorageID("999"))) == .ENOENT)
        // Identity commands.
        let address = IPPort(ip: "10.0.0.1", port: 23000)
        #expect(h.ok("c", GetServerIDRequest(group: Harness.group, address: address), as: TextBody.self)?.text == "100001")
        #expect(h.status("c", GetServerIDRequest(group: Harness.group, address: IPPort(ip: "10.0.0.7", port: 23000))) == .ENOENT)
        #expect(h.ok("10.0.0.2", GetMyIPRequest(group: Harness.group, port: 23000), as: TextBody.self)?.text == "10.0.0.2,8.8.8.2")
        #expect(h.ok("c", GetGroupNameRequest(ipAddress: "10.0.0.1", port: 23001), as: GroupNameBody.self)?.group == g2)
        #expect(h.status("c", GetGroupNameRequest(port: 23000)) == .ENOENT)
        let page = try #require(h.ok("c", FetchStorageIDsRequest(startIndex: 0), as: FetchStorageIDsResponse.self))
        #expect(page.total == 3 && page.count == 3)
        #expect(page.text.contains("100002 group1 10.0.0.2,8.8.8.2:23000 rw=read\n"))
        #expect(h.ok("c", FetchStorageIDsRequest(startIndex: 2), as: FetchStorageIDsResponse.self)?.count == 1)
        #expect(h.status("c", FetchStorageIDsRequest(startIndex: 3)) == .EINVAL)
        #expect(h.ok("c", GetStorageStatusRequest(group: Harness.group, address: address), as: StorageBriefBody.self)?.brief.id == "100001")
        #expect(h.status("c", GetStorageStatusRequest(group: Harness.group, address: IPPort(ip: "10.0.0.1", port: 1))) == .ENOENT)
        // Parameters say ids are used, and the IP-change report is refused with ids.
        #expect(h.ok("c", ParameterRequest(), as: TrackerParameters.self)?["use_storage_id"] == "1")
        #expect(h.status("10.0.0.3", ReportIPChangedRequest(group: Harness.group, oldIP: "10.0.0.1", newIP: "10.0.0.3")) == .EOPNOTSUPP)
    }

    @Test func readOnlyStoragesAreNeverUploadTargets() throws {
        let h = Harness(policy: try Self.idsPolicy())
        for ip in ["10.0.0.1", "10.0.0.2"] {
            _ = h.ok(ip, Harness.join(initFlag: false, status: .offline), as: StorageJoinResponse.self)
            _ = h.ok(ip, StorageBeatRequest(), as: ChangeNotification.self)
            _ = h.ok(ip, ReportDiskUsageRequest(paths: [.init(totalMB: 1000, freeMB: 900)]), as: ChangeNotification.self)
        }
        let all = try #require(h.ok("c", QueryStoreWithGroupAllRequest(group: Harness.group), as: QueryStoreAllResponse.self))
        #expect(all.storages.map(\.ipAddress) == ["10.0.0.1"])
        let stat = try #require(h.ok("c", ListOneGroupRequest(group: Harness.group), as: GroupStatList.self)?.groups.first)
        #expect(stat.readableServerCount == 2 && stat.writableServerCount == 1)
    }

    @Test func trackerStatusAndClusterStatistics() throws {
        let h = Harness()
        h.state.processStartTime = 1000
        h.state.restartIntervalSeconds = 650
        #expect(h.status("c", TrackerGetStatusRequest()) == .ENOENT, "no groups yet")
        h.activeStorage("10.0.0.1")
        let status = try #require(h.ok("c", TrackerGetStatusRequest(), as: TrackerRunningStatus.self, now: 1000 + 700))
        #expect(status.isLeader && status.runningTimeSeconds == 600 && status.restartIntervalSeconds == 600)
        let trackers = try #require(h.ok("c", TrackerClusterStatRequest(), as: TrackerClusterStatResponse.self))
        #expect(trackers.trackers.map(\.host) == ["127.0.0.1:22122"] && trackers.trackers[0].isLeader)
        let storages = try #require(h.ok("c", StorageClusterStatRequest(), as: StorageClusterStatResponse.self))
        #expect(storages.storages.map(\.host) == ["10.0.0.1:23000"] && storages.storages[0].status == .active)
        let filtered = try #require(h.ok("c", StorageClusterStatRequest(filterBy: 0x02, operation: UInt8(ascii: "!"), status: .active),
                                         as: StorageClusterStatResponse.self))
        #expect(filtered.storages.isEmpty)
        let volumes = try #require(h.ok("c", StorageVolumeStatRequest(), as: StorageVolumeStatResponse.self))
        #expect(volumes.groups.count == 1 && volumes.groups[0].availableMB == 400 && volumes.groups[0].isDiskAvailable)
        #expect(h.status("c", ReportTrunkFreeRequest(freeMB: 1)) == .EACCES)
        #expect(h.status("10.0.0.1", ReportTrunkFreeRequest(freeMB: 1)) == .EOPNOTSUPP)
    }

    @Test func beatStatisticsAreKept() throws {
        let h = Harness()
        h.activeStorage("10.0.0.1")
        var stats = StorageStatistics()
        stats.totalUploadCount = 7
        stats.lastSourceUpdate = 999
        stats.lastSyncedTimestamp = 12345  // ignored: the tracker keeps its own
        _ = h.ok("10.0.0.1", StorageBeatRequest(statistics: stats), as: ChangeNotification.self, now: 2000)
        let s = try #require(h.storage("10.0.0.1"))
        #expect(s.statistics.totalUploadCount == 7 && s.statistics.lastSourceUpdate == 999)
        #expect(s.statistics.lastSyncedTimestamp == 0 && s.statistics.lastHeartBeatTime == 2000)
    }
}

@Suite struct TrackerCoreTests {
    @Test func changelogPiecesAdvanceEachStoragesOffset() async throws {
        let base = try temporaryDirectory()
        var policy = Harness.policy()
        policy.port = 22122
        let core = try TrackerCore(policy: policy, basePath: base, logger: .init(label: "test"), now: { 5000 })
        var a = TrackerSession(peerIP: "10.0.0.1", localIP: "127.0.0.1")
        var b = TrackerSession(peerIP: "10.0.0.2", localIP: "127.0.0.1")
        var admin = TrackerSession(peerIP: "10.0.0.9", localIP: "127.0.0.1")
        for (session, ip) in [(a, "10.0.0.1"), (b, "10.0.0.2")] {
            var s = session
            _ = await core.handle(Harness.join(initFlag: false, status: .offline), session: &s)
            if ip == "10.0.0.1" { a = s } else { b = s }
        }
        // A fresh storage reads nothing; a deletion then reaches the other storage once.
        guard case .body(let empty) = await core.handle(ChangelogRequest(), session: &a) else { Issue.record("77"); return }
        #expect((empty as? RawBody)?.bytes.isEmpty == true)
        await core.disconnect(b)
        guard case .body = await core.handle(DeleteStorageRequest(group: Harness.group, storageID: "10.0.0.2"), session: &admin) else {
            Issue.record("93")
            return
        }
        guard case .body(let piece) = await core.handle(ChangelogRequest(), session: &a) else { Issue.record("77"); return }
        #expect((piece as? RawBody)?.bytes == Array("5000 group1 10.0.0.2 4 \n".utf8))
        guard case .body(let again) = await core.handle(ChangelogRequest(), session: &a) else { Issue.record("77"); return }
        #expect((again as? RawBody)?.bytes.isEmpty == true)
        // By group and id on an unjoined connection; unknown storage: ENOENT.
        let who = ChangelogRequest(requester: .init(group: Harness.group, storageID: try StorageID("10.0.0.7")))
        guard case .error(let e) = await core.handle(who, session: &admin) else { Issue.record("77 by id"); return }
        #expect(e.status == .ENOENT)
        // The data files on disk hold the deletion: a restart does not resurrect the storage.
        let reloaded = try TrackerCore(policy: policy, basePath: base, logger: .init(label: "test"), now: { 6000 })
        let state = await reloaded.clusterState
        #expect(state.storages(in: Harness.group).map(\.id.rawValue) == ["10.0.0.1"])
    }

    @Test func peersCopyTheDataFiles() async throws {
        let base = try temporaryDirectory()
        let core = try TrackerCore(policy: Harness.policy(), basePath: base, logger: .init(label: "test"), now: { 5000 })
        var copier = TrackerSession(peerIP: "127.0.0.5", localIP: "127.0.0.1")
        var other = TrackerSession(peerIP: "127.0.0.6", localIP: "127.0.0.1")
        guard case .error(let empty) = await core.handle(GetSysFilesStartRequest(), session: &copier) else { Issue.record("61"); return }
        #expect(empty.status == .ENOENT, "an empty tracker has nothing to copy")
        var storage = TrackerSession(peerIP: "10.0.0.1", localIP: "127.0.0.1")
        _ = await core.handle(Harness.join(initFlag: false, status: .offline), session: &storage)
        guard case .body = await core.handle(GetSysFilesStartRequest(), session: &copier) else { Issue.record("61"); return }
        guard case .error(let busy) = await core.handle(GetSysFilesStartRequest(), session: &other) else { Issue.record("61 twice"); return }
        #expect(busy.status == .EBUSY)
        guard case .body(let piece) = await core.handle(GetOneSysFileRequest(fileIndex: 0, offset: 0), session: &copier),
              let groups = piece as? SysFilePiece else { Issue.record("63"); return }
        let onDisk = try String(contentsOfFile: base + "/data/storage_groups_new.dat", encoding: .utf8)
        #expect(groups.fileSize == Int64(onDisk.utf8.count) && groups.content == Array(onDisk.utf8))
        #expect(onDisk.contains("group_name=group1"))
        guard case .error(let beyond) = await core.handle(GetOneSysFileRequest(fileIndex: 1, offset: 1 << 20), session: &copier) else {
            Issue.record("63 beyond")
            return
        }
        #expect(beyond.status == .EINVAL)
        guard case .error(let notStarted) = await core.handle(GetOneSysFileRequest(fileIndex: 0, offset: 0), session: &other) else {
            Issue.record("63 without 61")
            return
        }
        #expect(notStarted.status == .EINVAL)
        _ = await core.handle(GetSysFilesEndRequest(), session: &copier)
        guard case .body = await core.handle(GetSysFilesStartRequest(), session: &other) else { Issue.record("61 after end"); return }
        // A copier that disconnects releases the copy too.
        await core.disconnect(other)
        guard case .body = await core.handle(GetSysFilesStartRequest(), session: &copier) else { Issue.record("61 after drop"); return }
    }
}


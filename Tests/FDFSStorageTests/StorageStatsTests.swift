import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing
import FDFSTracker
@testable import FDFSStorage

/// The live counters as the connection handler keeps them.
@Suite(.serialized) struct StorageStatsTests {
    static let group = try! GroupName("group1")
    static let clock: Int64 = 1_800_000_000

    /// The real handler and store on 127.0.0.1 port 0, counting into `stats`.
    static func withCountingStorage<T: Sendable>(_ stats: StorageStats, _ body: @Sendable (Int) async throws -> T) async throws -> T {
        try await withStorage(stats: stats, now: { Self.clock }) { try await body($0.port) }
    }

    static func connect(_ port: Int) async throws -> FDFSClientConnection { try await FDFSClientConnection.connect(host: "127.0.0.1", port: port) }

    static func uploaded(_ client: FDFSClientConnection, _ content: [UInt8], appender: Bool = false) async throws -> RemoteFilename {
        let response = try await client.send(uploadPacket(content, appender: appender))
        return try RemoteFilename(parsing: try UploadResponse.decode(body: response.body, command: appender ? 23 : 11).remoteFilename)
    }

    static func streamed(_ request: some FDFSRequest, _ content: [UInt8]) -> ByteBuffer {
        var packet = request.requestPacket()
        packet.writeBytes(content)
        return packet
    }

    @Test func countersAfterASequenceOfOperations() async throws {
        let stats = StorageStats(now: { Self.clock })
        try await Self.withCountingStorage(stats) { port in
            let client = try await Self.connect(port)
            let file = try await Self.uploaded(client, Array("hello".utf8))
            let appender = try await Self.uploaded(client, Array("abc".utf8), appender: true)
            #expect(try await client.send(Self.streamed(AppendFileRequest(filename: appender.text, appendSize: 4), Array("defg".utf8))).header.status == 0)
            #expect(try await client.send(Self.streamed(ModifyFileRequest(filename: appender.text, offset: 0, modifySize: 1), Array("A".utf8))).header.status == 0)
            _ = try await client.request(TruncateFileRequest(filename: appender.text, newSize: 2))
            let slave = UploadSlaveFileRequest(masterFilename: file.text, fileSize: 5, prefix: "_s", fileExtension: "txt")
            #expect(try await client.send(Self.streamed(slave, Array("thumb".utf8))).header.status == 0)
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: file.text)).bytes.count == 5)
            #expect(try await client.request(DownloadFileRequest(offset: 2, count: 2, group: Self.group, filename: file.text)).bytes.count == 2)
            _ = try await client.request(QueryFileInfoRequest(group: Self.group, filename: file.text))
            _ = try await client.request(DeleteFileRequest(group: Self.group, filename: file.text))
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.request(DeleteFileRequest(group: Self.group, filename: file.text)) }
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.request(DownloadFileRequest(group: Self.group, filename: file.text)) }
            _ = try await client.request(ActiveTestRequest())
            await client.close()
            // Refused before anything is written: a bad extension (EINVAL) and an append to a
            // missing file (ENOENT) count in the totals only.
            let bad = try await Self.connect(port)
            #expect(try await bad.send(uploadPacket([1], ext: "a b")).header.status == FDFSStatus.EINVAL.rawValue)
            await bad.close()
            let missing = try await Self.connect(port)
            let gone = String(appender.text.dropLast(3)) + "xyz"
            #expect(try await missing.send(Self.streamed(AppendFileRequest(filename: gone, appendSize: 1), [1])).header.status == FDFSStatus.ENOENT.rawValue)
            await missing.close()
        }
        let c = stats.counters
        #expect((c.totalUploadCount, c.successUploadCount, c.totalUploadBytes, c.successUploadBytes) == (4, 3, 14, 13),
                "upload, appender and slave uploads count as uploads")
        #expect((c.totalAppendCount, c.successAppendCount, c.totalAppendBytes, c.successAppendBytes) == (2, 1, 5, 4))
        #expect((c.totalModifyCount, c.successModifyCount, c.totalModifyBytes, c.successModifyBytes) == (1, 1, 1, 1))
        #expect((c.totalTruncateCount, c.successTruncateCount) == (1, 1))
        #expect((c.totalDeleteCount, c.successDeleteCount) == (2, 1))
        #expect((c.totalDownloadCount, c.successDownloadCount, c.totalDownloadBytes, c.successDownloadBytes) == (3, 2, 7, 7))
        #expect(c.lastSourceUpdate == Self.clock && c.totalSetMetaCount == 0 && c.totalGetMetaCount == 0)
        // Data-file I/O: opened for the 2 uploads, the append, the modify, the slave and the 2
        // downloads (the refused requests open nothing); one write per received chunk (each
        // content arrives in one); one read per (small) download.
        #expect((c.totalFileOpenCount, c.successFileOpenCount) == (7, 7))
        #expect((c.totalFileWriteCount, c.successFileWriteCount) == (5, 5))
        #expect((c.totalFileReadCount, c.successFileReadCount) == (2, 2))
        #expect((c.totalSyncInBytes, c.totalSyncOutBytes) == (0, 0), "no sync traffic")
        let (_, wire) = stats.snapshot()
        #expect(wire.successUploadCount == 3 && wire.totalDownloadBytes == 7 && wire.lastSourceUpdate == Self.clock)
        #expect(wire.connectionMaxCount >= 1 && wire.connectionAllocCount == wire.connectionMaxCount)
    }

    @Test func aBeatCarriesStatisticsOnlyWhenTheyChanged() {
        #expect(TrackerReporter.beat(nil, lastSent: nil).0.statistics == nil, "no stats object: empty beats")
        let stats = StorageStats(now: { Self.clock })
        let (first, sent) = TrackerReporter.beat(stats, lastSent: nil)
        #expect(first.statistics != nil && sent != nil, "the first beat of a connection carries the block")
        let (second, none) = TrackerReporter.beat(stats, lastSent: sent)
        #expect(second.statistics == nil && none == nil)
        stats.record(.upload, success: true, bytes: 10)
        let (third, _) = TrackerReporter.beat(stats, lastSent: sent)
        #expect(third.statistics?.successUploadCount == 1 && third.statistics?.totalUploadBytes == 10)
    }
}

// MARK: - The storage daemon (StorageService) against a real tracker

/// A port that was free a moment ago on 127.0.0.1, in 20000..<22000: below the kernel's
/// ephemeral range, so no client socket (the abuse tests open thousands) takes it meanwhile.
func freePort() async throws -> Int {
    while true {
        let candidate = Int.random(in: 20000..<22000)
        guard let channel = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: candidate).get()
        else { continue }
        try await channel.close().get()
        return candidate
    }
}

/// storage.conf for a storage on 127.0.0.1:`port` with one store path, 2 x 2 directories, a
/// rotation every 2 files and 1-second intervals.
func storageConfiguration(base: String, port: Int, tracker: RunningTracker, group: String? = "group1") throws -> StorageConfiguration {
    var text = """
        base_path = \(base)
        store_path0 = \(base)/store0
        bind_addr = 127.0.0.1
        port = \(port)
        tracker_server = 127.0.0.1:\(tracker.port)
        heart_beat_interval = 1
        stat_report_interval = 1
        sync_stat_file_interval = 1
        subdir_count_per_path = 2
        file_distribute_rotate_count = 2
        connect_timeout = 2

        """
    if let group { text += "group_name = \(group)\n" }
    return try StorageConfiguration.parse(text: text, path: base + "/storage.conf")
}

/// Runs the storage daemon around `body` and stops it gracefully.
func withStorageService<T: Sendable>(_ configuration: StorageConfiguration, _ body: @Sendable () async throws -> T) async throws -> T {
    var logger = Logger(label: "test.storaged")
    logger.logLevel = ProcessInfo.processInfo.environment["FDFS_TEST_LOG"] == nil ? .critical : .debug
    let group = ServiceGroup(configuration: .init(services: [StorageService(configuration: configuration, logger: logger)], logger: logger))
    return try await withRunningServices(group, body)
}

/// Polls `probe` every 100 ms, at most `seconds`, until it returns a value.
func eventually<T: Sendable>(seconds: Double = 10, _ probe: @Sendable () async throws -> T?) async throws -> T? {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if let value = try? await probe() { return value }
        try await Task.sleep(for: .milliseconds(100))
    }
    return nil
}

/// The tracker's record of a storage (LIST_STORAGE), when it has one.
func trackerRecord(_ tracker: RunningTracker, group: String = "group1", id: String) async throws -> StorageStat? {
    let client = try await tracker.client()
    let record = try? await client.request(ListStorageRequest(group: try GroupName(group), storageID: id)).storages.first
    await client.close()
    return record
}

/// Connects to the storage once it accepts connections.
func storageClient(_ port: Int) async throws -> FDFSClientConnection {
    guard let client = try await eventually({ () async throws -> FDFSClientConnection? in try await FDFSClientConnection.connect(host: "127.0.0.1", port: port) }) else {
        throw StorageStartupError(description: "the storage did not start listening on \(port)")
    }
    return client
}

@Suite(.serialized) struct StorageDaemonBookkeepingTests {
    static let group = try! GroupName("group1")

    static func tracker(_ policy: inout TrackerPolicy) { policy.reservedStorageSpace = .bytes(0) }

    @Test func statisticsReachTheTrackerWithTheBeat() async throws {
        try await withTracker(basePath: try temporaryDirectory(), configure: Self.tracker) { tracker in
            let port = try await freePort()
            let configuration = try storageConfiguration(base: try temporaryDirectory(), port: port, tracker: tracker)
            try await withStorageService(configuration) {
                let client = try await storageClient(port)
                let name = try RemoteFilename(parsing: try UploadResponse.decode(body: try await client.send(uploadPacket(Array("0123456789".utf8))).body,
                                                                               command: 11).remoteFilename)
                #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes.count == 10)
                await client.close()
                let record = try await eventually {
                    let r = try await trackerRecord(tracker, id: "127.0.0.1")
                    return r?.statistics.successDownloadCount == 1 ? r : nil
                }
                let s = try #require(record?.statistics, "the tracker never showed the counters")
                #expect((s.totalUploadCount, s.successUploadCount, s.totalUploadBytes, s.successUploadBytes) == (1, 1, 10, 10))
                #expect((s.totalDownloadCount, s.successDownloadBytes) == (1, 10))
                #expect(s.lastSourceUpdate > 0 && s.connectionMaxCount >= 1)
            }
        }
    }

    @Test func storageStatDatSurvivesARestart() async throws {
        try await withTracker(basePath: try temporaryDirectory(), configure: Self.tracker) { tracker in
            let base = try temporaryDirectory()
            let port = try await freePort()
            let configuration = try storageConfiguration(base: base, port: port, tracker: tracker)
            let statPath = StorageStatFile.path(basePath: base)
            // First run: 3 uploads go to 00/00, 00/00, 00/01 (2 files per directory).
            let first: [RemoteFilename] = try await withStorageService(configuration) {
                let client = try await storageClient(port)
                var names: [RemoteFilename] = []
                for i in 0..<3 {
                    let body = try await client.send(uploadPacket([UInt8(i)])).body
                    names.append(try RemoteFilename(parsing: try UploadResponse.decode(body: body, command: 11).remoteFilename))
                }
                await client.close()
                // The periodic rewrite (sync_stat_file_interval = 1) happens while running.
                let periodic = try await eventually { try StorageStatFile.load(path: statPath).flatMap { $0.counters.successUploadCount == 3 ? $0 : nil } }
                #expect(periodic?.distPathIndexLow == 1 && periodic?.distWriteFileCount == 1)
                return names
            }
            #expect(first.map { "\($0.subdirHigh)/\($0.subdirLow)" } == ["0/0", "0/0", "0/1"])
            let flagPath = StorageInitFlag.path(basePath: base)
            let joinTime = try #require(try StorageInitFlag.load(path: flagPath)).storageJoinTime
            let afterFirst = try #require(try StorageStatFile.load(path: statPath))
            #expect(afterFirst.counters.successUploadCount == 3 && afterFirst.counters.totalUploadBytes == 3)
            #expect((afterFirst.distPathIndexHigh, afterFirst.distPathIndexLow, afterFirst.distWriteFileCount) == (0, 1, 1))

            // Second run: the cursor continues (the 4th file completes 00/01), the counters go on.
            let fourth: RemoteFilename = try await withStorageService(configuration) {
                let client = try await storageClient(port)
                let body = try await client.send(uploadPacket([9, 9])).body
                await client.close()
                return try RemoteFilename(parsing: try UploadResponse.decode(body: body, command: 11).remoteFilename)
            }
            #expect((fourth.subdirHigh, fourth.subdirLow) == (0, 1), "placement continued where it stopped")
            let afterSecond = try #require(try StorageStatFile.load(path: statPath), "written at shutdown")
            #expect(afterSecond.counters.successUploadCount == 4 && afterSecond.counters.totalUploadBytes == 5)
            #expect((afterSecond.distPathIndexHigh, afterSecond.distPathIndexLow, afterSecond.distWriteFileCount) == (1, 0, 0))
            let flag = try #require(try StorageInitFlag.load(path: flagPath))
            #expect(flag.storageJoinTime == joinTime, "the identity is kept")
            // The store path got its mark on the first start and it was accepted on the second.
            let mark = try #require(try StorePathMark.loadMark(path: StorePathMark.path(storePath: base + "/store0")))
            #expect(flag.storePathMarks[0] == mark)
            let record = try #require(StorePathMark(mark: mark).record)
            #expect(record.ipAddress == "127.0.0.1" && record.port == port && record.storePathIndex == 0)
        }
    }

    @Test func aStorePathOfAnotherStorageIsRefused() async throws {
        try await withTracker(basePath: try temporaryDirectory(), configure: Self.tracker) { tracker in
            let base = try temporaryDirectory()
            let port = try await freePort()
            let configuration = try storageConfiguration(base: base, port: port, tracker: tracker)
            var logger = Logger(label: "test.storaged")
            logger.logLevel = .critical
            let markPath = StorePathMark.path(storePath: base + "/store0")
            try FileManager.default.createDirectory(atPath: base + "/store0/data", withIntermediateDirectories: true)
            let foreign = StorePathMark.generate(ipAddress: "10.0.0.9", port: 23000, storePathIndex: 0, now: 1_700_000_000)
            try foreign.save(path: markPath)

            // A new storage (no .data_init_flag) given a used store path.
            let error = await #expect(throws: StorageStartupError.self) { try await StorageService(configuration: configuration, logger: logger).run() }
            #expect(error?.description.contains("store_path0") == true && error?.description.contains("10.0.0.9") == true)
            #expect(!FileManager.default.fileExists(atPath: StorageInitFlag.path(basePath: base)), "nothing written")

            // A storage whose own mark for the path differs.
            var flag = StorageInitFlag.new(now: 1_790_000_000, serverPort: port, ipAddresses: "127.0.0.1")
            flag.storePathMarks[0] = StorePathMark.generate(ipAddress: "127.0.0.1", port: port, storePathIndex: 0, now: 1_790_000_000).mark
            try flag.save(path: StorageInitFlag.path(basePath: base))
            let different = await #expect(throws: StorageStartupError.self) { try await StorageService(configuration: configuration, logger: logger).run() }
            #expect(different?.description.contains("another storage") == true)
            #expect(try StorePathMark.loadMark(path: markPath) == foreign.mark, "the foreign mark is left alone")
            #expect(try StorageInitFlag.load(path: StorageInitFlag.path(basePath: base)) == flag)
        }
    }

    @Test func theGroupNameComesFromTheTrackerWithStorageIDs() async throws {
        let port = try await freePort()
        let ids = try StorageIDs.parse(text: "100001 group1 127.0.0.1:\(port)\n", path: "storage_ids.conf")
        try await withTracker(basePath: try temporaryDirectory(), configure: { policy in
            Self.tracker(&policy)
            policy.useStorageID = true
            policy.storageIDs = ids
            policy.idTypeInFilename = .id
        }) { tracker in
            let configuration = try storageConfiguration(base: try temporaryDirectory(), port: port, tracker: tracker, group: nil)
            #expect(configuration.groupName == nil)
            try await withStorageService(configuration) {
                let client = try await storageClient(port)
                let response = try UploadResponse.decode(body: try await client.send(uploadPacket([1, 2, 3])).body, command: 11)
                await client.close()
                #expect(response.group == Self.group, "the group GET_GROUP_NAME returned")
                #expect(try RemoteFilename(parsing: response.remoteFilename).block.source == .serverID(100001),
                        "id_type_in_filename = id: names carry the server id")
                let record = try await eventually { try await trackerRecord(tracker, id: "100001").flatMap { $0.status == .active ? $0 : nil } }
                #expect(record?.ipAddress == "127.0.0.1", "joined under its server id")
            }
        }
    }

    @Test func withoutGroupNameOrStorageIDsStartupFailsClearly() async throws {
        try await withTracker(basePath: try temporaryDirectory(), configure: Self.tracker) { tracker in
            let configuration = try storageConfiguration(base: try temporaryDirectory(), port: try await freePort(), tracker: tracker, group: nil)
            var logger = Logger(label: "test.storaged")
            logger.logLevel = .critical
            let error = await #expect(throws: StorageStartupError.self) { try await StorageService(configuration: configuration, logger: logger).run() }
            #expect(error?.description.contains("group_name is not set") == true && error?.description.contains("EOPNOTSUPP") == true)
        }
    }
}

import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// Disk recovery (cluster spec §7.6) with the real daemons: a storage whose store path was
/// deleted gets its files back from its group's other member before it serves again.
@Suite(.serialized) struct DiskRecoveryTests {
    static let group = try! GroupName("group1")

    /// A tracker with storage ids and two storages of group1 on 127.0.0.1.
    struct TwoStorages {
        let directory: String
        let trackerPort: Int
        let ports: [String: Int]
        var processes: [String: Process] = [:]

        init() throws {
            directory = try temporaryDirectory()
            let slot = Int.random(in: 0..<50)
            trackerPort = 22800 + slot
            ports = ["A": 23800 + 2 * slot, "B": 23801 + 2 * slot]
            let conf = DaemonCluster.packageRoot.appendingPathComponent("conf")
            for d in ["tracker", "A", "B", "storeA", "storeB"] {
                try FileManager.default.createDirectory(atPath: directory + "/" + d, withIntermediateDirectories: true)
            }
            try "100001 group1 127.0.0.1:\(ports["A"]!)\n100002 group1 127.0.0.1:\(ports["B"]!)\n"
                .write(toFile: directory + "/storage_ids.conf", atomically: true, encoding: .utf8)
            let tracker = try DaemonCluster.override(String(contentsOf: conf.appendingPathComponent("tracker.conf"), encoding: .utf8), [
                "bind_addr": "127.0.0.1", "port": "\(trackerPort)", "base_path": directory + "/tracker", "reserved_storage_space": "1%",
                "use_storage_id": "true", "storage_ids_filename": directory + "/storage_ids.conf",
                // Two ports in one group need file names that carry ids (cluster spec §1.3).
                "id_type_in_filename": "id",
            ])
            try tracker.write(toFile: directory + "/tracker.conf", atomically: true, encoding: .utf8)
            for name in ["A", "B"] {
                let storage = try DaemonCluster.override(String(contentsOf: conf.appendingPathComponent("storage.conf"), encoding: .utf8), [
                    "bind_addr": "127.0.0.1", "port": "\(ports[name]!)", "base_path": directory + "/" + name,
                    "store_path0": directory + "/store" + name, "tracker_server": "127.0.0.1:\(trackerPort)", "subdir_count_per_path": "4",
                ])
                try storage.write(toFile: directory + "/\(name).conf", atomically: true, encoding: .utf8)
            }
        }

        mutating func startTracker() throws {
            processes["tracker"] = try DaemonCluster.launch("fdfs-trackerd", ["--config", directory + "/tracker.conf"], log: directory + "/tracker.log")
        }

        /// Starts storage `name`; its log is appended to `<name>.log` (one per start).
        mutating func start(_ name: String, run: Int) throws {
            processes[name] = try DaemonCluster.launch("fdfs-storaged", ["--config", directory + "/\(name).conf"], log: directory + "/\(name).\(run).log")
        }

        /// SIGTERM and wait for the exit; returns the exit code.
        func stop(_ name: String) async -> Int32 {
            guard let p = processes[name] else { return 0 }
            if p.isRunning { p.terminate() }
            let deadline = ContinuousClock.now + .seconds(10)
            while p.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            return p.terminationStatus
        }

        func stopAll() async { for name in ["A", "B", "tracker"] { _ = await stop(name) } }

        /// The tracker's status of storage `id`, nil when it does not list it.
        func status(_ id: String) async -> StorageStatus? {
            guard let link = try? await FDFSClientConnection.connect(host: "127.0.0.1", port: trackerPort, connectTimeout: .seconds(1)) else { return nil }
            let status = try? await link.request(ListStorageRequest(group: DiskRecoveryTests.group, storageID: id)).storages.first?.status
            await link.close()
            return status
        }

        /// Polls the tracker until `accept` holds for storage `id`; fails early when one of the
        /// `running` processes exits.
        func waitUntil(_ id: String, _ accept: @Sendable (StorageStatus?) -> Bool, what: String, running: [String],
                       timeout: Duration = .seconds(60)) async throws {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if running.contains(where: { processes[$0]?.isRunning != true }) { break }
                if accept(await status(id)) { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw DaemonError("storage \(id) did not become \(what) within \(timeout):\n" + logs())
        }

        func logs() -> String {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
            return names.map { "--- \($0)\n" + ((try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) ?? "") }.joined(separator: "\n")
        }
    }

    /// Content of file `i`: sizes from 0 B to 64 KiB.
    static func content(_ i: Int) -> [UInt8] {
        let size = i % 20 == 0 ? 0 : (i == 1 ? 65536 : (i * 7919) % 65536)
        return (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
    }

    @Test(.timeLimit(.minutes(3)))
    func wipedStorePathIsRecoveredFromThePeerBeforeTheStorageServes() async throws {
        var cluster = try TwoStorages()
        do {
            try await run(&cluster)
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
    }

    /// A group of three: each peer lacks a file the other has, and each has an appender file
    /// without its last append that the other has whole (as when the wiped storage had pushed
    /// them to one peer only). The wiped storage gets every file from whichever peer has it,
    /// and each appender from its longer copy, whichever peer its download slot asks first.
    @Test(.timeLimit(.minutes(3)))
    func aWipedStorageGetsEveryFileAnyPeerHas() async throws {
        try await ReplicationTests.withCluster(3, storageSettings: { _ in ["scrub_interval": "0"] }) { cluster in
            for i in 0..<3 { try cluster.start(i) }
            try await cluster.waitUntilActive([0, 1, 2])
            let a = try await cluster.client(0)
            var contents: [String: [UInt8]] = [:]
            for i in 0..<30 {
                let bytes = (0..<(100 + i * 977)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
                contents[try await a.uploadFile(.bytes(bytes), fileExtension: "bin").fileID().remoteFilename.text] = bytes
            }
            // Two appender files of three parts each.
            var appenders: [(id: FileID, firstParts: Int)] = []
            for n in 0..<2 {
                let parts = (0..<3).map { p in (0..<(5000 + p)).map { UInt8(truncatingIfNeeded: $0 &+ p &+ n) } }
                let id = try await a.uploadAppenderFile(.bytes(parts[0]), fileExtension: "log").fileID()
                for part in parts.dropFirst() { try await a.appendFile(id, .bytes(part)) }
                contents[id.remoteFilename.text] = parts.flatMap { $0 }
                appenders.append((id, parts[0].count + parts[1].count))
            }
            await a.close()
            for i in [1, 2] {
                try await cluster.waitForFiles(contents.mapValues { (Int64($0.count), CRC32.checksum($0)) }, on: i)
            }

            // Behind the peers' backs: one file gone from B, another from A; the first appender
            // without its last append on B, the second on A.
            let names = contents.keys.filter { name in !appenders.contains { $0.id.remoteFilename.text == name } }.sorted()
            func path(_ i: Int, _ name: String) throws -> String { cluster.storePath(i) + "/" + (try RemoteFilename(parsing: name)).relativePath }
            #expect(unlink(try path(1, names[0])) == 0)
            #expect(unlink(try path(0, names[1])) == 0)
            #expect(truncate(try path(1, appenders[0].id.remoteFilename.text), off_t(appenders[0].firstParts)) == 0)
            #expect(truncate(try path(0, appenders[1].id.remoteFilename.text), off_t(appenders[1].firstParts)) == 0)

            // C's disk is replaced.
            #expect(await cluster.stop(2) == 0)
            try FileManager.default.removeItem(atPath: cluster.storePath(2))
            try cluster.start(2)
            try await cluster.waitUntilActive([2], timeout: .seconds(90))
            let log = cluster.log(2)
            let restored = log.split(separator: "\n").first { $0.contains("disk recovery: files restored") }
            #expect(restored?.contains("32 records, 32 files downloaded") == true && restored?.contains(", 0 skipped") == true, "\(log)")
            let c = try await cluster.client(2)
            for (name, bytes) in contents {
                #expect(try await c.downloadFile(FileID(group: Self.group, remoteFilename: try RemoteFilename(parsing: name))) == bytes, "\(name) on C")
            }
            await c.close()
        }
    }

    func run(_ cluster: inout TwoStorages) async throws {
        try cluster.startTracker()
        // B joins an empty group: ONLINE at once, then ACTIVE, and its .data_init_flag gets
        // sync_old_done=1 (a member, not a new storage).
        try cluster.start("B", run: 1)
        try await cluster.waitUntil("100002", { $0 == .active }, what: "ACTIVE", running: ["tracker", "B"])
        // A is a member that finished its initial sync earlier (sync_old_done=1): joining a
        // group with an ACTIVE member it would otherwise wait in WAIT_SYNC for replication,
        // which this test must not depend on.
        try FileManager.default.createDirectory(atPath: cluster.directory + "/A/data", withIntermediateDirectories: true)
        try StorageInitFlag(storageJoinTime: Int64(Date().timeIntervalSince1970), syncOldDone: true, lastServerPort: cluster.ports["A"]!)
            .save(path: StorageInitFlag.path(basePath: cluster.directory + "/A"))
        try cluster.start("A", run: 1)
        try await cluster.waitUntil("100001", { $0 == .active }, what: "ACTIVE", running: ["tracker", "A", "B"])
        // A's store path was new too, but no tracker knew A: nothing to recover.
        let firstLog = (try? String(contentsOfFile: cluster.directory + "/A.1.log", encoding: .utf8)) ?? ""
        #expect(firstLog.contains("nothing to recover"), "\(firstLog)")

        // 200 files of 0 B...64 KiB straight to A; metadata on some, two deleted again.
        let a = try await StorageClient.connect(host: "127.0.0.1", port: cluster.ports["A"]!)
        var ids: [FileID] = []
        for i in 0..<200 {
            ids.append(try await a.uploadFile(.bytes(Self.content(i)), fileExtension: "bin").fileID())
        }
        for i in 0..<5 { try await a.setMetadata(ids[i], FDFSMetadata([.init("index", "\(i)"), .init("kind", "test")])) }
        let deleted = [ids[7], ids[8]]
        for id in deleted { try await a.deleteFile(id) }
        await a.close()
        let totalBytes = (0..<200).filter { $0 != 7 && $0 != 8 }.reduce(0) { $0 + Self.content($1).count }

        // B stops; its store path is deleted entirely; B starts again.
        #expect(await cluster.stop("B") == 0)
        try await cluster.waitUntil("100002", { $0 != .active }, what: "not ACTIVE", running: ["tracker", "A"], timeout: .seconds(20))
        try FileManager.default.removeItem(atPath: cluster.directory + "/storeB")
        let restarted = ContinuousClock.now
        try cluster.start("B", run: 2)
        try await cluster.waitUntil("100002", { $0 == .active }, what: "ACTIVE after its disk recovery", running: ["tracker", "A", "B"],
                                    timeout: .seconds(90))
        let recoveryTime = ContinuousClock.now - restarted

        // Every file from B itself, byte for byte, with its metadata and A's mtime.
        let b = try await StorageClient.connect(host: "127.0.0.1", port: cluster.ports["B"]!)
        for (i, id) in ids.enumerated() where !deleted.contains(id) {
            let bytes = try await b.downloadFile(id)
            #expect(bytes == Self.content(i), "file \(i) (\(id)) differs on B")
            let pathB = cluster.directory + "/storeB/" + id.remoteFilename.relativePath
            let pathA = cluster.directory + "/storeA/" + id.remoteFilename.relativePath
            let mtime = { (p: String) -> Date? in (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date }
            #expect(mtime(pathB) == mtime(pathA), "file \(i): the mtime is the record's time")
        }
        for i in 0..<5 {
            #expect(try await b.getMetadata(ids[i]) == FDFSMetadata([.init("index", "\(i)"), .init("kind", "test")]))
        }
        for id in deleted {
            #expect(try await b.fileExists(id) == false, "a file deleted at the source is not recovered")
        }
        await b.close()

        let data = cluster.directory + "/storeB/data/"
        for leftover in [".recovery.flag", ".binlog.recovery.0", ".recovery.mark.0"] {
            #expect(!FileManager.default.fileExists(atPath: data + leftover), "\(leftover) is still there")
        }
        let log = (try? String(contentsOfFile: cluster.directory + "/B.2.log", encoding: .utf8)) ?? ""
        let restored = log.split(separator: "\n").first { $0.contains("disk recovery: files restored") }
        #expect(restored?.contains("198 records, 198 files downloaded (0 from another source than the first), 0 skipped") == true, "\(log)")
        print("disk recovery: 198 files (\(totalBytes) bytes) restored; restart to ACTIVE in \(recoveryTime) (debug build)\n\(restored ?? "")")

        // Every recovered file has its catalog row (checked with B stopped).
        #expect(await cluster.stop("B") == 0)
        let catalog = try FileCatalog(path: cluster.directory + "/B/data/catalog.sqlite")
        let snapshot = try catalog.snapshot()
        try catalog.close()
        let rows = Set(snapshot.files.map(\.fileID))
        for id in ids where !deleted.contains(id) { #expect(rows.contains(id.remoteFilename.text)) }
        #expect(snapshot.metadata[ids[0].remoteFilename.text] == [CatalogMetadataItem("index", "0"), CatalogMetadataItem("kind", "test")])

        // An interrupted restore resumes from .recovery.mark.0 at the next start: three files
        // are gone again, the recovery binlog names them, the mark is past the first.
        let resumed = [ids[10], ids[11], ids[12]]
        for id in resumed { try FileManager.default.removeItem(atPath: cluster.directory + "/storeB/" + id.remoteFilename.relativePath) }
        let lines = resumed.map { "1700000000 C \($0.remoteFilename.text)\n" }
        try lines.joined().write(toFile: data + ".binlog.recovery.0", atomically: true, encoding: .utf8)
        try "binlog_offset=\(lines[0].utf8.count)\n".write(toFile: data + ".recovery.mark.0", atomically: true, encoding: .utf8)
        try "saved_storage_status=5\nfetch_binlog_done=1\nrecovery_threads=1\n".write(toFile: data + ".recovery.flag", atomically: true, encoding: .utf8)
        try await cluster.waitUntil("100002", { $0 != .active }, what: "not ACTIVE", running: ["tracker", "A"], timeout: .seconds(20))
        try cluster.start("B", run: 3)
        try await cluster.waitUntil("100002", { $0 == .active }, what: "ACTIVE after resuming its disk recovery", running: ["tracker", "A", "B"])
        let resumeLog = (try? String(contentsOfFile: cluster.directory + "/B.3.log", encoding: .utf8)) ?? ""
        #expect(resumeLog.contains("2 records, 2 files downloaded"), "\(resumeLog)")
        #expect(!FileManager.default.fileExists(atPath: cluster.directory + "/storeB/" + resumed[0].remoteFilename.relativePath),
                "the record before the mark is not replayed")
        let again = try await StorageClient.connect(host: "127.0.0.1", port: cluster.ports["B"]!)
        for i in [11, 12] {
            #expect(try await again.downloadFile(ids[i]) == Self.content(i))
            let attributes = try FileManager.default.attributesOfItem(atPath: cluster.directory + "/storeB/" + ids[i].remoteFilename.relativePath)
            #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_700_000_000, "mtime = the record's timestamp")
        }
        await again.close()
        #expect(!FileManager.default.fileExists(atPath: data + ".recovery.flag"))
    }
}

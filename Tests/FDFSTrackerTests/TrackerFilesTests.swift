import FDFSModel
import FDFSProtocol
import FDFSTesting
import FDFSTracker
import Foundation
import Testing

/// Shared by the persistence tests (TrackerFiles*, TrackerDataDirectory, Changelog).
enum PersistenceFixtures {
    /// A fresh directory under the system temporary directory, removed when `body` returns.
    static func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-persist-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    static func read(_ path: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Index of each persisted statistics key in `StorageStatistics.int64Fields`.
    static let statisticsIndices: [Int] = TrackerFiles.persistedStatisticsKeys.map { StorageStatistics.int64FieldNames.firstIndex(of: $0)! }

    /// A random cluster holding only what the files persist (so that a round trip can be
    /// compared with `==`), with `groupCount` groups and 0...`maxStorages` storages each.
    /// DELETED / IP_CHANGED storages are included (the files leave them out); sync rows cover
    /// the persisted storages, as the cluster state produces them.
    static func randomSnapshot(
        _ rng: inout SeededRandomNumberGenerator, useStorageID: Bool, groupCount: Int? = nil, maxStorages: Int = 5,
        allowIPv6: Bool = true, maxChangelogOffset: Int64 = 5000
    ) -> ClusterSnapshot {
        func number(_ rng: inout SeededRandomNumberGenerator) -> Int64 {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: 0
            case 1: Int64.random(in: 1...100, using: &rng)
            case 2: Int64.random(in: 1_700_000_000...1_800_000_000, using: &rng)
            default: Int64.random(in: Int64.min / 2...Int64.max, using: &rng)
            }
        }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var names: Set<String> = []
        let count = groupCount ?? Int.random(in: 0...4, using: &rng)
        while names.count < count {
            names.insert(String((0..<Int.random(in: 1...16, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
        }
        var snapshot = ClusterSnapshot()
        var nextID = 100001
        for (g, name) in names.sorted(by: { ASCII.compare($0, $1) < 0 }).enumerated() {
            let groupName = try! GroupName(name)
            var group = TrackedGroup(name: groupName)
            group.storagePort = [23000, 23700, -1, Int.random(in: 1...65535, using: &rng)].randomElement(using: &rng)!
            group.storePathCount = Int.random(in: 0...10, using: &rng)
            group.subdirCountPerPath = [0, 1, 256].randomElement(using: &rng)!
            group.currentTrunkFileID = number(&rng)
            var storages: [TrackedStorage] = []
            for k in 0..<Int.random(in: 0...maxStorages, using: &rng) {
                let ip = allowIPv6 && useStorageID && Bool.random(using: &rng) ? "fd00::\(g + 1):\(k + 1)" : "10.\(g).\(k).\(Int.random(in: 1...254, using: &rng))"
                let id = useStorageID ? try! StorageID(String(nextID)) : try! StorageID(ip)
                nextID += Int.random(in: 1...3, using: &rng)
                var s = TrackedStorage(id: id, group: groupName, ipAddresses: [ip], port: Int.random(in: 1...65535, using: &rng),
                                       status: StorageStatus.allNamed.randomElement(using: &rng)!)
                s.version = Bool.random(using: &rng) ? "6.16.\(Int.random(in: 0...9, using: &rng))" : ""
                s.joinTime = number(&rng)
                s.totalMB = number(&rng)
                s.freeMB = number(&rng)
                s.storePathCount = Int.random(in: 0...10, using: &rng)
                s.subdirCountPerPath = [0, 256].randomElement(using: &rng)!
                s.uploadPriority = number(&rng)
                s.syncUntilTimestamp = number(&rng)
                s.changelogOffset = Int64.random(in: 0...maxChangelogOffset, using: &rng)
                var values = s.statistics.int64Fields
                for index in statisticsIndices { values[index] = number(&rng) }
                s.statistics.int64Fields = values
                storages.append(s)
            }
            let persisted = storages.filter { TrackerFiles.isPersisted($0.status) }
            for i in storages.indices where Bool.random(using: &rng) {
                storages[i].syncSourceID = persisted.filter { $0.id != storages[i].id }.randomElement(using: &rng)?.id
            }
            if Bool.random(using: &rng) { group.trunkServerID = persisted.randomElement(using: &rng)?.id }
            if Bool.random(using: &rng) { group.lastTrunkServerID = persisted.randomElement(using: &rng)?.id }
            for source in persisted {
                let timestamps = persisted.map { _ in Bool.random(using: &rng) ? 0 : Int64.random(in: 1_700_000_000...1_800_000_000, using: &rng) }
                snapshot.syncTimestamps.append(SyncTimestampRow(group: groupName, sourceID: source.id, timestamps: timestamps))
            }
            snapshot.groups.append(group)
            snapshot.storages += storages
        }
        return snapshot
    }

    /// What loading the files written from `snapshot` must give: the persisted storages.
    static func persisted(_ snapshot: ClusterSnapshot) -> ClusterSnapshot {
        var expected = snapshot
        expected.storages = snapshot.storages.filter { TrackerFiles.isPersisted($0.status) }
        return expected
    }
}

@Suite("Tracker data file formats")
struct TrackerFilesTests {
    typealias F = PersistenceFixtures

    struct VectorSet: CustomStringConvertible {
        var directory: String
        var useStorageID: Bool
        var description: String { directory.isEmpty ? "main" : directory }
        func name(_ file: String) -> String { directory.isEmpty ? "tracker/\(file)" : "tracker/\(directory)/\(file)" }
    }

    static let vectorSets = [
        VectorSet(directory: "", useStorageID: false),
        VectorSet(directory: "before-storage-delete", useStorageID: false),
        VectorSet(directory: "ids-profile", useStorageID: true),
    ]

    // MARK: Golden files

    @Test(arguments: vectorSets)
    func vectorFilesParseCleanlyAndFormatByteForByte(_ set: VectorSet) throws {
        let groupsText = try SharedVectors.text(set.name("storage_groups_new.dat"))
        let storagesText = try SharedVectors.text(set.name("storage_servers_new.dat"))
        let syncText = try SharedVectors.text(set.name("storage_sync_timestamp.dat"))

        let (groups, groupProblems) = TrackerFiles.parseGroups(groupsText, path: "groups", useStorageID: set.useStorageID)
        #expect(groupProblems.isEmpty, "\(groupProblems)")
        let (storages, storageProblems) = TrackerFiles.parseStorages(storagesText, path: "storages", groups: groups, useStorageID: set.useStorageID)
        #expect(storageProblems.isEmpty, "\(storageProblems)")
        let snapshot = ClusterSnapshot(groups: groups, storages: storages)
        let (rows, syncProblems) = TrackerFiles.parseSyncTimestamps(syncText, path: "sync", snapshot: snapshot, useStorageID: set.useStorageID)
        #expect(syncProblems.isEmpty, "\(syncProblems)")

        #expect(TrackerFiles.formatGroups(groups) == groupsText)
        #expect(TrackerFiles.formatStorages(storages, groups: groups, useStorageID: set.useStorageID) == storagesText)
        #expect(TrackerFiles.formatSyncTimestamps(rows) == syncText)
    }

    @Test func mainRunValues() throws {
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/storage_groups_new.dat"), path: "g")
        let group = try #require(groups.first)
        #expect(groups.count == 1)
        #expect(group.name == (try GroupName("group1")))
        #expect(group.storagePort == 23700)
        #expect(group.storePathCount == 1)
        #expect(group.subdirCountPerPath == 256)
        #expect(group.trunkServerID == nil && group.lastTrunkServerID == nil)

        let (storages, _) = TrackerFiles.parseStorages(try SharedVectors.text("tracker/storage_servers_new.dat"), path: "s", groups: groups, useStorageID: false)
        let a = try #require(storages.first)
        #expect(storages.count == 1)  // storage B was deleted: the file leaves it out
        #expect(a.id == (try StorageID("127.0.0.62")))
        #expect(a.ipAddresses == ["127.0.0.62"])
        #expect(a.port == 23700)
        #expect(a.status == .offline)
        #expect(a.version == "6.16.1")
        #expect(a.joinTime == 1795260727)
        #expect(a.totalMB == 258019 && a.freeMB == 77682)
        #expect(a.changelogOffset == 32)
        #expect(a.uploadPriority == 10)
        #expect(a.statistics.totalUploadCount == 16)
        #expect(a.statistics.successSyncInBytes == 372)
        #expect(a.statistics.lastSourceUpdate == 1795260827)
        #expect(a.statistics.lastSyncedTimestamp == 1795260813)
        #expect(a.statistics.lastHeartBeatTime == 1795260875)
        #expect(a.statistics.totalModifyCount == 0)

        let (rows, _) = TrackerFiles.parseSyncTimestamps(try SharedVectors.text("tracker/storage_sync_timestamp.dat"), path: "t",
                                                         snapshot: ClusterSnapshot(groups: groups, storages: storages))
        #expect(rows == [SyncTimestampRow(group: group.name, sourceID: a.id, timestamps: [0])])
    }

    @Test func beforeDeleteValues() throws {
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/before-storage-delete/storage_groups_new.dat"), path: "g")
        let (storages, _) = TrackerFiles.parseStorages(try SharedVectors.text("tracker/before-storage-delete/storage_servers_new.dat"),
                                                       path: "s", groups: groups, useStorageID: false)
        #expect(storages.map(\.id.rawValue) == ["127.0.0.62", "127.0.0.63"])
        #expect(storages.map(\.status) == [.active, .waitSync])
        #expect(storages[1].syncSourceID == storages[0].id)
        #expect(storages[1].syncUntilTimestamp == 1795260759)
    }

    @Test func idsProfileValues() throws {
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/ids-profile/storage_groups_new.dat"), path: "g", useStorageID: true)
        let (storages, _) = TrackerFiles.parseStorages(try SharedVectors.text("tracker/ids-profile/storage_servers_new.dat"),
                                                       path: "s", groups: groups, useStorageID: true)
        #expect(storages.map(\.id.rawValue) == ["100001", "100002"])
        #expect(storages.map(\.primaryIPAddress) == ["127.0.0.67", "127.0.0.68"])
        #expect(storages.map(\.status) == [.offline, .offline])
        #expect(storages[1].syncSourceID == (try StorageID("100001")))
        let (rows, _) = TrackerFiles.parseSyncTimestamps(try SharedVectors.text("tracker/ids-profile/storage_sync_timestamp.dat"), path: "t",
                                                         snapshot: ClusterSnapshot(groups: groups, storages: storages), useStorageID: true)
        #expect(rows.map(\.timestamps) == [[0, 1795261139], [0, 0]])
    }

    // MARK: Layout details

    @Test func layoutOfEmptyAndNumberedFiles() throws {
        #expect(TrackerFiles.formatGroups([]) == "[Global]\n\tgroup_count=0\n\n")
        #expect(TrackerFiles.formatStorages([], groups: [], useStorageID: false) == "\n[Global]\n\tstorage_count=0\n")
        #expect(TrackerFiles.formatSyncTimestamps([]) == "")

        // Groups are sorted by name whatever the input order; section numbers grow past 999.
        var groups = try (1...1001).map { try TrackedGroup(name: GroupName("g\($0)")) }
        groups.reverse()
        let text = TrackerFiles.formatGroups(groups)
        #expect(text.contains("# group: g1\n[Group001]\n\tgroup_name=g1\n"))
        #expect(text.contains("[Group1001]\n"))
        let parsed = TrackerFiles.parseGroups(text, path: "g")
        #expect(parsed.problems.isEmpty)
        #expect(parsed.groups.count == 1001)
    }

    @Test func deletedAndIPChangedStoragesAreNotWrittenAndDoNotCount() throws {
        let group = try TrackedGroup(name: GroupName("group1"))
        let statuses: [StorageStatus] = [.active, .deleted, .ipChanged, .waitSync]
        let storages = try statuses.enumerated().map { i, status in
            try TrackedStorage(id: StorageID("10.0.0.\(i + 1)"), group: group.name, ipAddresses: ["10.0.0.\(i + 1)"], port: 23000, status: status)
        }
        let text = TrackerFiles.formatStorages(storages, groups: [group], useStorageID: false)
        #expect(text.contains("[Storage001]\n\tgroup_name=group1\n\tip_addr=10.0.0.1\n"))
        #expect(text.contains("# storage: 10.0.0.4:23000\n[Storage002]\n"))
        #expect(!text.contains("10.0.0.2") && !text.contains("10.0.0.3"))
        #expect(text.hasSuffix("\n\n\n[Global]\n\tstorage_count=2\n"))
    }

    @Test func ipv6AddressIsBracketedInTheComment() throws {
        let group = try TrackedGroup(name: GroupName("group1"))
        let storage = try TrackedStorage(id: StorageID("7"), group: group.name, ipAddresses: ["fd00::7", "10.0.0.7"], port: 23700, status: .active)
        let text = TrackerFiles.formatStorages([storage], groups: [group], useStorageID: true)
        #expect(text.hasPrefix("# storage: [fd00::7]:23700\n[Storage001]\n\tid=7\n\tgroup_name=group1\n\tip_addr=fd00::7\n"))
    }

    @Test func statisticsKeysAreTheWireOrderWithoutModifyAndTruncate() {
        let expected = StorageStatistics.int64FieldNames.filter { !$0.contains("modify") && !$0.contains("truncate") }
        #expect(TrackerFiles.persistedStatisticsKeys == expected)
        #expect(expected.count == 36)
    }

    // MARK: Round trips

    @Test(arguments: [false, true])
    func randomSnapshotsRoundTrip(useStorageID: Bool) {
        let seed = Mutator.seed("randomSnapshotsRoundTrip\(useStorageID)")
        var rng = SeededRandomNumberGenerator(seed: seed)
        for iteration in 0..<200 {
            let snapshot = F.randomSnapshot(&rng, useStorageID: useStorageID)
            let expected = F.persisted(snapshot)
            let groups = TrackerFiles.parseGroups(TrackerFiles.formatGroups(snapshot.groups), path: "g", useStorageID: useStorageID)
            let storagesText = TrackerFiles.formatStorages(snapshot.storages, groups: snapshot.groups, useStorageID: useStorageID)
            let storages = TrackerFiles.parseStorages(storagesText, path: "s", groups: groups.groups, useStorageID: useStorageID)
            let loaded = ClusterSnapshot(groups: groups.groups, storages: storages.storages)
            let rows = TrackerFiles.parseSyncTimestamps(TrackerFiles.formatSyncTimestamps(snapshot.syncTimestamps), path: "t",
                                                        snapshot: loaded, useStorageID: useStorageID)
            let context = "seed \(seed) iteration \(iteration)"
            #expect(groups.problems.isEmpty && storages.problems.isEmpty && rows.problems.isEmpty, "\(context)")
            #expect(groups.groups == expected.groups, "\(context)")
            #expect(storages.storages == expected.storages, "\(context)")
            #expect(rows.rows == expected.syncTimestamps, "\(context)")
            if groups.groups != expected.groups || storages.storages != expected.storages || rows.rows != expected.syncTimestamps { return }
        }
    }

    @Test func trackerStatusRoundTripAndDamage() {
        let status = TrackerStatusRecord(upTime: 1795260000, lastCheckTime: 1795260300)
        let text = TrackerFiles.formatTrackerStatus(status)
        #expect(text == "up_time=1795260000\nlast_check_time=1795260300\n")
        let parsed = TrackerFiles.parseTrackerStatus(text, path: "st")
        #expect(parsed.status == status && parsed.problems.isEmpty)
        let torn = TrackerFiles.parseTrackerStatus("up_time=1795260000\nlast_check_ti", path: "st")
        #expect(torn.status == TrackerStatusRecord(upTime: 1795260000, lastCheckTime: 0))
        #expect(torn.problems.contains { $0.path == "st" && $0.line == 2 })
    }

    // MARK: Damage

    /// The line number (1-based) of the first line of `text` that starts with `prefix`.
    static func lineNumber(of prefix: String, in text: String) -> Int {
        text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(prefix) }! + 1
    }

    @Test func nonNumericStatusIsReportedWithFileAndLine() throws {
        let original = try SharedVectors.text("tracker/storage_servers_new.dat")
        let text = original.replacingOccurrences(of: "\tstatus=5\n", with: "\tstatus=abc\n")
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/storage_groups_new.dat"), path: "g")
        let (storages, problems) = TrackerFiles.parseStorages(text, path: "data/storage_servers_new.dat", groups: groups, useStorageID: false)
        #expect(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.path == "data/storage_servers_new.dat")
        #expect(problem.line == Self.lineNumber(of: "\tstatus=", in: text))
        #expect(problem.line == 5)
        #expect(problem.description.hasPrefix("data/storage_servers_new.dat:5: "))
        #expect(problem.message.contains("status"))
        // The record is kept; the bad value takes the default, like C's atoi.
        #expect(storages.count == 1)
        #expect(storages.first?.status == .initial)
        #expect(storages.first?.changelogOffset == 32)
    }

    @Test func invalidValuesInGroupsAndTimestamps() throws {
        let groupsText = try SharedVectors.text("tracker/storage_groups_new.dat").replacingOccurrences(of: "storage_port=23700", with: "storage_port=23x")
        let (groups, groupProblems) = TrackerFiles.parseGroups(groupsText, path: "g")
        #expect(groupProblems.map(\.line) == [7])
        #expect(groups.first?.storagePort == 0)

        let (storages, _) = TrackerFiles.parseStorages(try SharedVectors.text("tracker/before-storage-delete/storage_servers_new.dat"),
                                                       path: "s", groups: groups, useStorageID: false)
        // storage_port is given per storage, so the group's bad value does not matter here.
        #expect(storages.map(\.port) == [23700, 23700])
        let snapshot = ClusterSnapshot(groups: groups, storages: storages)
        let sync = "group1,127.0.0.62,0,17x\ngroup9,127.0.0.62,0,0\ngroup1,127.0.0.99,0,0\ngroup1,127.0.0.62,1,1\ngroup1\n"
        let (rows, problems) = TrackerFiles.parseSyncTimestamps(sync, path: "t", snapshot: snapshot)
        #expect(rows == [SyncTimestampRow(group: groups[0].name, sourceID: storages[0].id, timestamps: [0, 0])])
        #expect(problems.map(\.line) == [1, 2, 3, 4, 5, 5])  // 5 twice: bad line, then "no row for 127.0.0.63"
        #expect(problems.allSatisfy { $0.path == "t" })

        let extra = TrackerFiles.parseSyncTimestamps("group1,127.0.0.62,1,2,3\n", path: "t", snapshot: snapshot)
        #expect(extra.rows.first?.timestamps == [1, 2])
        #expect(extra.problems.first?.line == 1)
    }

    @Test func unterminatedLastLineIsDroppedAndItsKeyDefaults() throws {
        let original = try SharedVectors.text("tracker/storage_servers_new.dat")
        let cut = original.range(of: "last_heart_beat_time=17952")!.upperBound
        let text = String(original[..<cut])
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/storage_groups_new.dat"), path: "g")
        let (storages, problems) = TrackerFiles.parseStorages(text, path: "s", groups: groups, useStorageID: false)
        #expect(storages.count == 1)
        #expect(storages.first?.statistics.lastHeartBeatTime == 0)
        #expect(storages.first?.statistics.lastSyncedTimestamp == 1795260813)
        let tornLine = Self.lineNumber(of: "\tlast_heart_beat_time=", in: text)
        #expect(problems.contains { $0.line == tornLine && $0.message.contains("no newline") })
        #expect(problems.contains { $0.message.contains("lacks last_heart_beat_time") })
        #expect(problems.contains { $0.message.contains("storage_count not found") })
    }

    @Test func blocksAreKeptWhateverTheCountsSay() throws {
        let groupsText = try SharedVectors.text("tracker/storage_groups_new.dat")
            .replacingOccurrences(of: "group_count=1", with: "group_count=3")
        let (groups, problems) = TrackerFiles.parseGroups(groupsText, path: "g")
        #expect(groups.count == 1)
        #expect(problems.map(\.line) == [2])

        let noGlobal = try SharedVectors.text("tracker/before-storage-delete/storage_servers_new.dat")
            .replacingOccurrences(of: "[Global]\n\tstorage_count=2\n", with: "")
        let parsed = TrackerFiles.parseStorages(noGlobal, path: "s", groups: groups, useStorageID: false)
        #expect(parsed.storages.count == 2)
        #expect(parsed.problems.count == 1)
    }

    @Test func blocksWithoutMandatoryKeysOrWithUnknownGroupsAreSkipped() throws {
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/storage_groups_new.dat"), path: "g")
        let text = try SharedVectors.text("tracker/before-storage-delete/storage_servers_new.dat")
        let noIP = text.replacingOccurrences(of: "\tip_addr=127.0.0.62\n", with: "\tip_addr=\n")
        var parsed = TrackerFiles.parseStorages(noIP, path: "s", groups: groups, useStorageID: false)
        #expect(parsed.storages.map(\.id.rawValue) == ["127.0.0.63"])
        // The second storage's sync source was the skipped one: it is cleared, with a problem.
        #expect(parsed.storages.first?.syncSourceID == nil)
        #expect(parsed.problems.count == 2)  // no ip_addr; sync source cleared (storage_count counts blocks: 2 is right)

        let otherGroup = text.replacingOccurrences(of: "group_name=group1\n\tip_addr=127.0.0.63", with: "group_name=group2\n\tip_addr=127.0.0.63")
        parsed = TrackerFiles.parseStorages(otherGroup, path: "s", groups: groups, useStorageID: false)
        #expect(parsed.storages.map(\.id.rawValue) == ["127.0.0.62"])
        #expect(parsed.problems.count == 1)
        #expect(parsed.problems.first?.message.contains("group2") == true)

        let badGroup = try SharedVectors.text("tracker/storage_groups_new.dat").replacingOccurrences(of: "group_name=group1", with: "group_name=group-1")
        let groupsParsed = TrackerFiles.parseGroups(badGroup, path: "g")
        #expect(groupsParsed.groups.isEmpty)
        #expect(groupsParsed.problems.first?.line == 6)
    }

    @Test func missingIDsAreResolvedThroughTheCallerOrSkipped() throws {
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/ids-profile/storage_groups_new.dat"), path: "g", useStorageID: true)
        let text = try SharedVectors.text("tracker/ids-profile/storage_servers_new.dat")
            .replacingOccurrences(of: "\tid=100001\n", with: "")
            .replacingOccurrences(of: "\tid=100002\n", with: "\tid=\n")
            .replacingOccurrences(of: "sync_src_server=100001", with: "sync_src_server=127.0.0.67")

        let skipped = TrackerFiles.parseStorages(text, path: "s", groups: groups, useStorageID: true)
        #expect(skipped.storages.isEmpty)
        #expect(skipped.problems.count == 2)  // one per record without an id

        var calls: [String] = []
        let resolved = TrackerFiles.parseStorages(text, path: "s", groups: groups, useStorageID: true, resolveID: { group, ip, port in
            calls.append("\(group) \(ip):\(port)")
            return ["127.0.0.67": try? StorageID("100001"), "127.0.0.68": try? StorageID("100002")][ip] ?? nil
        })
        #expect(resolved.problems.isEmpty)
        #expect(resolved.storages.map(\.id.rawValue) == ["100001", "100002"])
        #expect(resolved.storages[1].syncSourceID?.rawValue == "100001")
        #expect(calls == ["group1 127.0.0.67:23700", "group1 127.0.0.68:23700", "group1 127.0.0.67:23700"])
    }

    @Test func missingStoragePortMeansTheGroupPort() throws {
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/storage_groups_new.dat"), path: "g")
        let text = try SharedVectors.text("tracker/storage_servers_new.dat").replacingOccurrences(of: "\tstorage_port=23700\n", with: "\tstorage_port=0\n")
        let parsed = TrackerFiles.parseStorages(text, path: "s", groups: groups, useStorageID: false)
        #expect(parsed.storages.first?.port == 23700)
        #expect(parsed.problems.isEmpty)
    }

    @Test func changelogOffsetsAreClampedToTheChangelog() throws {
        let (groups, _) = TrackerFiles.parseGroups(try SharedVectors.text("tracker/storage_groups_new.dat"), path: "g")
        let text = try SharedVectors.text("tracker/storage_servers_new.dat")
        #expect(TrackerFiles.parseStorages(text, path: "s", groups: groups, useStorageID: false, changelogSize: 32).problems.isEmpty)
        let clamped = TrackerFiles.parseStorages(text, path: "s", groups: groups, useStorageID: false, changelogSize: 0)
        #expect(clamped.storages.first?.changelogOffset == 0)
        #expect(clamped.problems.map(\.line) == [Self.lineNumber(of: "\tchangelog_offset=", in: text)])
    }

    @Test func trunkServersAreTranslatedWithIDs() throws {
        let text = try SharedVectors.text("tracker/ids-profile/storage_groups_new.dat")
            .replacingOccurrences(of: "\ttrunk_server=\n", with: "\ttrunk_server=127.0.0.67\n")
            .replacingOccurrences(of: "\tlast_trunk_server=\n", with: "\tlast_trunk_server=127.0.0.99\n")
        let resolver: StorageIDResolver = { _, ip, port in ip == "127.0.0.67" && port == 23700 ? try? StorageID("100001") : nil }
        let (groups, problems) = TrackerFiles.parseGroups(text, path: "g", useStorageID: true, resolveID: resolver)
        #expect(groups.first?.trunkServerID?.rawValue == "100001")
        #expect(groups.first?.lastTrunkServerID == nil)
        #expect(problems.map(\.line) == [12])
        // Without ids the value is the id (an IP address).
        let plain = TrackerFiles.parseGroups(text, path: "g")
        #expect(plain.groups.first?.trunkServerID?.rawValue == "127.0.0.67")
        #expect(plain.problems.isEmpty)
    }

    @Test func iniReaderOddities() throws {
        let text = """
            # comment
            stray=1
            [Global]
            group_count = 2
            [Group001
            group_name=evil
            [Group001]
            \t group_name = group1 \r
            \tgroup_name=group9
            just words
            [Group002]
            \tgroup_name=group2
            [Group001]
            \tgroup_name=group3
            [Other]

            """
        let (groups, problems) = TrackerFiles.parseGroups(text, path: "g")
        #expect(groups.map(\.name.rawValue) == ["group1", "group2"])
        let lines = problems.map(\.line)
        #expect(lines.contains(2))   // a key before any section
        #expect(lines.contains(5))   // malformed header; its keys do not leak into [Global]
        #expect(lines.contains(9))   // duplicate key: the first wins
        #expect(lines.contains(10))  // not key=value
        #expect(lines.contains(13))  // duplicate section
        #expect(lines.contains(15))  // unknown section
        #expect(!lines.contains(4))  // group_count (2) matches the two [GroupNNN] sections read
    }

    // MARK: Legacy formats

    @Test func legacyGroupsAndStorages() throws {
        let (groups, groupProblems) = TrackerFiles.parseLegacyGroups("group2,23001,2,128\n group1 , 23000 \nbad\n", path: "lg")
        #expect(groups.map(\.name.rawValue) == ["group1", "group2"])
        #expect(groups.map(\.storagePort) == [23000, 23001])
        #expect(groups[1].storePathCount == 2 && groups[1].subdirCountPerPath == 128)
        #expect(groupProblems.map(\.line) == [3])

        let seventeen = "group1,10.0.0.1,7,,0,1,2,3,4,5,6,7,8,9,10,1700000000,1700000001"
        let eighteen = "group1,10.0.0.2,1,10.0.0.1,1700000002,0,0,0,0,0,0,0,0,0,0,0,0,99999"
        let twenty = "group2,10.0.0.3,5,,0,0,0,0,0,0,0,0,0,0,0,0,0,12,23005,8888"
        let twentyTwo = "group2,10.0.0.4,2,10.0.0.3,5,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1600000000,5.12"
        let text = [seventeen, eighteen, twenty, twentyTwo, "group1,10.0.0.9,1"].joined(separator: "\n") + "\n"
        let (storages, problems) = TrackerFiles.parseLegacyStorages(text, path: "ls", groups: groups, useStorageID: false, changelogSize: 100)
        #expect(storages.map(\.id.rawValue) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
        let first = storages[0]
        #expect(first.status == .active && first.port == 23000)
        #expect(first.statistics.totalUploadCount == 1 && first.statistics.successGetMetaCount == 10)
        #expect(first.statistics.totalSetMetaCount == 3 && first.statistics.successDeleteCount == 6)
        #expect(first.statistics.lastSourceUpdate == 1700000000 && first.statistics.lastSyncUpdate == 1700000001)
        #expect(storages[1].syncSourceID == first.id && storages[1].syncUntilTimestamp == 1700000002)
        #expect(storages[1].changelogOffset == 100)  // clamped to the changelog size
        #expect(storages[2].port == 23005 && storages[2].changelogOffset == 12)
        #expect(storages[3].port == 23001)  // 0 -> the group's port
        #expect(storages[3].joinTime == 1600000000 && storages[3].version == "5.12")
        #expect(storages[3].syncSourceID == storages[2].id)
        #expect(problems.map(\.line) == [2, 5])
    }
}

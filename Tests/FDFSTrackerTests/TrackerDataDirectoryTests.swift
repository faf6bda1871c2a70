import FDFSModel
import FDFSTesting
import FDFSTracker
import Foundation
import Testing

@Suite("Tracker data directory")
struct TrackerDataDirectoryTests {
    typealias F = PersistenceFixtures

    static func snapshot(useStorageID: Bool = false) -> ClusterSnapshot {
        var rng = SeededRandomNumberGenerator(seed: Mutator.seed("TrackerDataDirectoryTests"))
        return F.randomSnapshot(&rng, useStorageID: useStorageID, groupCount: 2, maxStorages: 4, maxChangelogOffset: 0)
    }

    static func directoryEntries(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    @Test func initCreatesDataAndLogs() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base + "/")
            #expect(directory.dataPath == base + "/data")
            #expect(F.exists(base + "/data") && F.exists(base + "/logs"))
            _ = try TrackerDataDirectory(basePath: base)  // existing directories are fine
            #expect(directory.path(of: .groups) == base + "/data/storage_groups_new.dat")
            #expect(directory.changelogPath == base + "/data/storage_changelog.dat")
            #expect((0...4).map(directory.systemFilePath(index:)) == [
                directory.path(of: .groups), directory.path(of: .storages), directory.path(of: .syncTimestamps), directory.changelogPath, nil,
            ])
        }
    }

    @Test func emptyDirectoryLoadsAnEmptyCluster() throws {
        try F.withTemporaryDirectory { base in
            let (snapshot, problems) = try TrackerDataDirectory(basePath: base).load()
            #expect(snapshot == ClusterSnapshot())
            #expect(problems.isEmpty)
        }
    }

    @Test(arguments: [false, true])
    func saveWritesEveryFileAtomicallyAndLoadReadsItBack(useStorageID: Bool) throws {
        let snapshot = Self.snapshot(useStorageID: useStorageID)
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try directory.save(snapshot, useStorageID: useStorageID)
            #expect(try Self.directoryEntries(directory.dataPath) == TrackerDataFile.allCases.map(\.fileName).sorted())
            for file in TrackerDataFile.allCases {
                #expect(try F.read(directory.path(of: file)) == TrackerFiles.format(file, of: snapshot, useStorageID: useStorageID))
                #expect(try directory.contents(of: file) == Array(TrackerFiles.format(file, of: snapshot, useStorageID: useStorageID).utf8))
            }
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.path(of: .groups))
            #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o600 } == 0o600)
            let (loaded, problems) = try directory.load(useStorageID: useStorageID)
            #expect(problems.isEmpty)
            #expect(loaded == F.persisted(snapshot))
        }
    }

    @Test func saveWritesOnlyTheChosenFiles() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try directory.save(Self.snapshot(), useStorageID: false, which: [.storages])
            #expect(try Self.directoryEntries(directory.dataPath) == ["storage_servers_new.dat"])
        }
    }

    @Test func failedSaveKeepsTheOldFile() throws {
        let old = Self.snapshot()
        var new = old
        new.groups.removeLast()
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try directory.save(old, useStorageID: false)
            let before = try F.read(directory.path(of: .groups))

            // The temp file cannot be created: a directory is in the way.
            try FileManager.default.createDirectory(atPath: directory.path(of: .groups) + ".tmp", withIntermediateDirectories: false)
            #expect(throws: TrackerIOError.self) { try directory.save(new, useStorageID: false, which: [.groups]) }
            do throws(TrackerIOError) {
                try directory.save(new, useStorageID: false, which: [.groups])
            } catch {
                #expect(error.operation == "open")
                #expect(error.path == directory.path(of: .groups) + ".tmp")
                #expect(error.errno == EISDIR)
            }
            #expect(try F.read(directory.path(of: .groups)) == before)
            try FileManager.default.removeItem(atPath: directory.path(of: .groups) + ".tmp")

            // The rename fails: the target is a directory. The temp file is removed again.
            try FileManager.default.removeItem(atPath: directory.path(of: .storages))
            try FileManager.default.createDirectory(atPath: directory.path(of: .storages) + "/keep", withIntermediateDirectories: true)
            do throws(TrackerIOError) {
                try directory.save(new, useStorageID: false, which: [.storages])
                Issue.record("save over a directory succeeded")
            } catch {
                #expect(error.operation == "rename")
            }
            #expect(!F.exists(directory.path(of: .storages) + ".tmp"))
            #expect(!(try Self.directoryEntries(directory.dataPath)).contains { $0.hasSuffix(".tmp") && $0 != "storage_groups_new.dat.tmp" })
        }
    }

    @Test func loadsTheVectorFiles() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            for name in ["storage_groups_new.dat", "storage_servers_new.dat", "storage_sync_timestamp.dat", "storage_changelog.dat"] {
                try SharedVectors.data("tracker/\(name)").write(to: URL(fileURLWithPath: directory.dataPath + "/" + name))
            }
            let (snapshot, problems) = try directory.load()
            #expect(problems.isEmpty)
            #expect(snapshot.groups.map(\.name.rawValue) == ["group1"])
            #expect(snapshot.groups.first?.storagePort == 23700)
            let storage = try #require(snapshot.storages.first)
            #expect(storage.id.rawValue == "127.0.0.62" && storage.status == .offline && storage.changelogOffset == 32)
            #expect(snapshot.syncTimestamps.count == 1)
        }
    }

    @Test func idsProfileVectorFilesLoadWithIDs() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            for file in TrackerDataFile.allCases {
                try SharedVectors.data("tracker/ids-profile/\(file.fileName)").write(to: URL(fileURLWithPath: directory.path(of: file)))
            }
            let (snapshot, problems) = try directory.load(useStorageID: true)
            #expect(problems.isEmpty)
            #expect(snapshot.storages.map(\.id.rawValue) == ["100001", "100002"])
            #expect(snapshot.storages.first?.id.numericValue == 100001)
            #expect(snapshot.syncTimestamps.map(\.timestamps) == [[0, 1795261139], [0, 0]])
            // Saved back unchanged.
            try directory.save(snapshot, useStorageID: true)
            for file in TrackerDataFile.allCases {
                #expect(try directory.contents(of: file) == Array(try SharedVectors.data("tracker/ids-profile/\(file.fileName)")))
            }
        }
    }

    @Test func storagesWithoutAGroupsFileAreIgnoredWithAProblem() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try F.write(try SharedVectors.text("tracker/storage_servers_new.dat"), to: directory.path(of: .storages))
            let (snapshot, problems) = try directory.load()
            #expect(snapshot == ClusterSnapshot())
            #expect(problems.map(\.path) == [directory.path(of: .storages)])
        }
    }

    @Test func unreadableFileThrows() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try FileManager.default.createDirectory(atPath: directory.path(of: .groups), withIntermediateDirectories: false)
            #expect(throws: TrackerIOError.self) { _ = try directory.load() }
        }
    }

    @Test func legacyFilesAreConvertedOnce() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try F.write("group1,23000,1,256\ngroup2,23001\n", to: directory.legacyGroupsPath)
            try F.write("group1,10.0.0.1,7,,0,1,2,3,4,5,6,7,8,9,10,1700000000,1700000001,0\n"
                        + "group1,10.0.0.2,2,10.0.0.1,1700000002,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1600000000,6.16.1\n",
                        to: directory.legacyStoragesPath)
            let (first, problems) = try directory.load()
            #expect(problems.isEmpty)
            #expect(first.groups.map(\.name.rawValue) == ["group1", "group2"])
            #expect(first.storages.map(\.id.rawValue) == ["10.0.0.1", "10.0.0.2"])
            #expect(first.storages[1].syncSourceID?.rawValue == "10.0.0.1")
            #expect(first.storages[1].version == "6.16.1")
            #expect(first.storages[1].port == 23000)
            #expect(!F.exists(directory.legacyGroupsPath) && !F.exists(directory.legacyStoragesPath))
            #expect(F.exists(directory.path(of: .groups)) && F.exists(directory.path(of: .storages)))

            let (second, secondProblems) = try directory.load()
            #expect(secondProblems.isEmpty)
            #expect(second == first)
        }
    }

    @Test func legacyFileWithProblemsIsConvertedButKept() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try F.write(try SharedVectors.text("tracker/storage_groups_new.dat"), to: directory.path(of: .groups))
            try F.write("group1,10.0.0.1,7,,0,1,2,3,4,5,6,7,8,9,10,1700000000,1700000001\ngroup1,10.0.0.2,broken\n", to: directory.legacyStoragesPath)
            let (snapshot, problems) = try directory.load()
            #expect(snapshot.storages.map(\.id.rawValue) == ["10.0.0.1"])
            #expect(problems.map(\.path) == [directory.legacyStoragesPath, directory.legacyStoragesPath])
            #expect(problems.map(\.line) == [2, 1])
            #expect(F.exists(directory.legacyStoragesPath))
            #expect(try TrackerFiles.parseStorages(F.read(directory.path(of: .storages)), path: "s", groups: snapshot.groups, useStorageID: false).storages
                    == snapshot.storages)
        }
    }

    @Test func trackerStatusFile() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            #expect(try directory.readTrackerStatus() == nil)
            let status = TrackerStatusRecord(upTime: 1795260000, lastCheckTime: 1795260300)
            try directory.writeTrackerStatus(status)
            #expect(try F.read(directory.trackerStatusPath) == "up_time=1795260000\nlast_check_time=1795260300\n")
            #expect(try directory.readTrackerStatus()?.status == status)
            try directory.writeTrackerStatus(TrackerStatusRecord(upTime: 1, lastCheckTime: 2))
            #expect(try F.read(directory.trackerStatusPath) == "up_time=1\nlast_check_time=2\n")
            try F.write("up_time=17", to: directory.trackerStatusPath)
            let torn = try #require(try directory.readTrackerStatus())
            #expect(torn.status == TrackerStatusRecord(upTime: 0, lastCheckTime: 0))
            #expect(!torn.problems.isEmpty)
        }
    }
}

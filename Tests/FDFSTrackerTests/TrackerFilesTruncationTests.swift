import FDFSModel
import FDFSTesting
import FDFSTracker
import Foundation
import Testing

/// A crash can leave any prefix of a data file behind (when the safe rewrite is bypassed, or
/// a file is copied from a peer tracker and the copy is cut off). `load()` must then keep every
/// record whose block made it completely and report what was lost, never throw.
@Suite("Tracker data files cut at any offset")
struct TrackerFilesTruncationTests {
    typealias F = PersistenceFixtures

    /// A cluster with 3 groups, every group with at least one storage written to the files and
    /// at least 7 such storages in all.
    static func cluster(useStorageID: Bool, seed: UInt64) -> ClusterSnapshot {
        var rng = SeededRandomNumberGenerator(seed: seed)
        while true {
            let snapshot = F.randomSnapshot(&rng, useStorageID: useStorageID, groupCount: 3, maxStorages: 5, maxChangelogOffset: 4000)
            let persisted = snapshot.storages.filter { TrackerFiles.isPersisted($0.status) }
            let groupsWithStorages = Set(persisted.map(\.group))
            if persisted.count >= 7 && groupsWithStorages.count == 3 { return snapshot }
        }
    }

    /// For each record of a file, the offset just after the newline of its block's last line
    /// (the line starting with `marker`, or every line when `marker` is nil).
    static func recordEnds(_ text: String, marker: String?) -> [Int] {
        let bytes = Array(text.utf8)
        var ends: [Int] = []
        var lineStart = 0
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            let line = String(decoding: bytes[lineStart..<i], as: UTF8.self)
            if marker.map({ line.hasPrefix($0) }) ?? true { ends.append(i + 1) }
            lineStart = i + 1
        }
        return ends
    }

    static func offsets(for length: Int, every: Bool, seed: UInt64) -> [Int] {
        if every { return Array(0...length) }
        var rng = SeededRandomNumberGenerator(seed: seed)
        return ([0, 1, length - 1, length] + (0..<200).map { _ in Int.random(in: 0...length, using: &rng) }).sorted()
    }

    /// Writes the three files (one of them cut at each offset) and loads them; `check` gets the
    /// offset, the result and the records complete at that offset.
    func truncate(
        _ file: TrackerDataFile, useStorageID: Bool, every: Bool,
        check: (_ offset: Int, _ full: Int, _ loaded: ClusterSnapshot, _ problems: [TrackerFileProblem], _ complete: Int, _ directory: TrackerDataDirectory) -> Void
    ) throws {
        let seed = Mutator.seed("truncate \(file) \(useStorageID)")
        let snapshot = Self.cluster(useStorageID: useStorageID, seed: seed)
        let texts = Dictionary(uniqueKeysWithValues: TrackerDataFile.allCases.map { ($0, TrackerFiles.format($0, of: snapshot, useStorageID: useStorageID)) })
        let full = Array(texts[file]!.utf8)
        let marker: String? = switch file {
        case .groups: "\tlast_trunk_server="
        case .storages: "\tlast_heart_beat_time="
        case .syncTimestamps: nil
        }
        let ends = Self.recordEnds(texts[file]!, marker: marker)
        let records = switch file {
        case .groups: snapshot.groups.count
        case .storages: F.persisted(snapshot).storages.count
        case .syncTimestamps: snapshot.syncTimestamps.count
        }
        #expect(ends.count == records && records >= 3)
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            // Offsets in the storages file are clamped to the changelog's size: make it large enough.
            try F.write(String(repeating: "x\n", count: 2500), to: directory.changelogPath)
            for other in TrackerDataFile.allCases where other != file {
                try F.write(texts[other]!, to: directory.path(of: other))
            }
            for offset in Self.offsets(for: full.count, every: every, seed: seed) {
                try Data(full[..<offset]).write(to: URL(fileURLWithPath: directory.path(of: file)))
                let (loaded, problems) = try directory.load(useStorageID: useStorageID)
                #expect(problems.allSatisfy { $0.line >= 1 && !$0.path.isEmpty }, "offset \(offset)")
                let complete = ends.filter { $0 <= offset }.count
                check(offset, full.count, loaded, problems, complete, directory)
            }
        }
    }

    @Test(arguments: [false, true])
    func groupsFile(useStorageID: Bool) throws {
        let expected = F.persisted(Self.cluster(useStorageID: useStorageID, seed: Mutator.seed("truncate \(TrackerDataFile.groups) \(useStorageID)")))
        try truncate(.groups, useStorageID: useStorageID, every: true) { offset, full, loaded, problems, complete, directory in
            let path = directory.path(of: .groups)
            for group in expected.groups.prefix(complete) {
                #expect(loaded.groups.contains(group), "offset \(offset): complete group \(group.name) lost or altered")
            }
            #expect(Set(loaded.groups.map(\.name)).isSubset(of: expected.groups.map(\.name)), "offset \(offset)")
            if complete < expected.groups.count {
                #expect(problems.contains { $0.path == path }, "offset \(offset): a group was lost without a problem")
            }
            if offset == full {
                #expect(problems.isEmpty && loaded == expected, "offset \(offset): \(problems)")
            }
        }
    }

    @Test(arguments: [false, true])
    func storagesFile(useStorageID: Bool) throws {
        let expected = F.persisted(Self.cluster(useStorageID: useStorageID, seed: Mutator.seed("truncate \(TrackerDataFile.storages) \(useStorageID)")))
        try truncate(.storages, useStorageID: useStorageID, every: false) { offset, full, loaded, problems, complete, directory in
            let path = directory.path(of: .storages)
            let loadedIDs = Set(loaded.storages.map { [$0.group.rawValue, $0.id.rawValue] })
            for var storage in expected.storages.prefix(complete) {
                // A sync source whose own block was lost is cleared (with a problem).
                if let source = storage.syncSourceID, !loadedIDs.contains([storage.group.rawValue, source.rawValue]) {
                    storage.syncSourceID = nil
                }
                #expect(loaded.storages.contains(storage), "offset \(offset): complete storage \(storage.id) lost or altered")
            }
            #expect(loadedIDs.isSubset(of: expected.storages.map { [$0.group.rawValue, $0.id.rawValue] }), "offset \(offset)")
            #expect(loaded.groups == expected.groups)
            if offset < full {
                // The [Global] trailer comes last, so any cut loses at least part of it.
                #expect(problems.contains { $0.path == path }, "offset \(offset): nothing reported")
            } else {
                #expect(problems.isEmpty && loaded == expected, "offset \(offset): \(problems)")
            }
        }
    }

    @Test(arguments: [false, true])
    func syncTimestampFile(useStorageID: Bool) throws {
        let expected = F.persisted(Self.cluster(useStorageID: useStorageID, seed: Mutator.seed("truncate \(TrackerDataFile.syncTimestamps) \(useStorageID)")))
        try truncate(.syncTimestamps, useStorageID: useStorageID, every: true) { offset, full, loaded, problems, complete, directory in
            let path = directory.path(of: .syncTimestamps)
            #expect(loaded.syncTimestamps == Array(expected.syncTimestamps.prefix(complete)), "offset \(offset)")
            #expect(loaded.storages == expected.storages)
            if offset < full {
                #expect(problems.contains { $0.path == path }, "offset \(offset): nothing reported")
            } else {
                #expect(problems.isEmpty, "offset \(offset): \(problems)")
            }
        }
    }
}

import FDFSModel
import FDFSTesting
import Foundation
import Testing
@testable import FDFSStorageEngine

/// Seeded random values survive format → parse, and save → load on disk.
@Suite struct StateFilesRoundTripTests {
    static func number(_ rng: inout SeededRandomNumberGenerator) -> Int64 {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: 0
        case 1: Int64.random(in: 1...1000, using: &rng)
        case 2: Int64.random(in: 1_700_000_000...1_800_000_000, using: &rng)
        default: Int64.random(in: Int64.min...Int64.max, using: &rng)
        }
    }

    static func word(_ rng: inout SeededRandomNumberGenerator, maxLength: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789.:,_-")
        return String((0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static func randomIPAddress(_ rng: inout SeededRandomNumberGenerator) -> String {
        if Bool.random(using: &rng) {
            return (0..<4).map { _ in String(Int.random(in: 0...255, using: &rng)) }.joined(separator: ".")
        }
        return (0..<8).map { _ in String(UInt16.random(in: 0...UInt16.max, using: &rng), radix: 16) }.joined(separator: ":")
    }

    static func randomInitFlag(_ rng: inout SeededRandomNumberGenerator) -> StorageInitFlag {
        var marks: [Int: String] = [:]
        for index in 0..<Int.random(in: 0...4, using: &rng) where Bool.random(using: &rng) {
            marks[index * Int.random(in: 1...60, using: &rng)] = StorePathMarkRecord(
                ipAddress: randomIPAddress(&rng), port: Int.random(in: 0...65535, using: &rng), storePathIndex: index,
                createTime: Int64(Int32.random(in: Int32.min...Int32.max, using: &rng))).encoded()
        }
        return StorageInitFlag(
            storageJoinTime: number(&rng), syncOldDone: Bool.random(using: &rng), syncSourceServer: word(&rng, maxLength: 15),
            syncUntilTimestamp: number(&rng),
            lastIPAddresses: (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomIPAddress(&rng) }.joined(separator: ","),
            lastServerPort: Int.random(in: 0...65535, using: &rng), currentTrunkFileID: number(&rng),
            trunkLastCompressTime: number(&rng), trunkBinlogCompressStage: Int.random(in: 0...9, using: &rng), storePathMarks: marks)
    }

    static func randomStat(_ rng: inout SeededRandomNumberGenerator) -> StorageStatFile {
        var stat = StorageStatFile()
        for (_, property) in StorageStatFile.keys { stat[keyPath: property] = number(&rng) }
        return stat
    }

    static func randomMark(_ rng: inout SeededRandomNumberGenerator) -> SyncMark {
        SyncMark(
            binlogIndex: Int.random(in: 0...Int(Int32.max), using: &rng), binlogOffset: abs(number(&rng) / 2),
            needSyncOld: Bool.random(using: &rng), syncOldDone: Bool.random(using: &rng), untilTimestamp: number(&rng),
            scanRowCount: number(&rng), syncRowCount: number(&rng))
    }

    @Test func randomValuesRoundTrip() throws {
        var rng = SeededRandomNumberGenerator(seed: 0x57A7E)
        for iteration in 0..<500 {
            let flag = Self.randomInitFlag(&rng)
            let flagText = flag.format()
            #expect(try StorageInitFlag(parsing: flagText, path: "/f") == flag, "seed 0x57A7E iteration \(iteration)")

            let stat = Self.randomStat(&rng)
            let statText = stat.format()
            #expect(try StorageStatFile(parsing: statText, path: "/s") == stat, "seed 0x57A7E iteration \(iteration)")
            #expect(statText.split(separator: "\n").count == 43)

            let mark = Self.randomMark(&rng)
            #expect(try SyncMark(parsing: mark.format(), path: "/m") == mark, "seed 0x57A7E iteration \(iteration)")

            let record = StorePathMarkRecord(
                ipAddress: Self.randomIPAddress(&rng), port: Int.random(in: 0...65535, using: &rng),
                storePathIndex: Int.random(in: 0...255, using: &rng),
                createTime: Int64(Int32.random(in: Int32.min...Int32.max, using: &rng)))
            let encoded = record.encoded()
            #expect(encoded.utf8.count == 75)
            #expect(try StorePathMarkRecord(decoding: encoded) == record, "seed 0x57A7E iteration \(iteration)")
            let file = StorePathMark(record: record)
            #expect(try StorePathMark(parsing: file.format(), path: "/v") == file)
        }
    }

    /// The pure date arithmetic agrees with Foundation's Gregorian calendar.
    @Test func renameTimestampMatchesFoundation() {
        var rng = SeededRandomNumberGenerator(seed: 0xDA7E)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for _ in 0..<1000 {
            let time = Int64.random(in: -2_000_000_000...5_000_000_000, using: &rng)
            let offset = Int.random(in: -12...14, using: &rng) * 3600
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                            from: Date(timeIntervalSince1970: TimeInterval(time + Int64(offset))))
            let expected = String(format: "%04d%02d%02d%02d%02d%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
            #expect(SyncMark.renameTimestamp(unixTime: time, utcOffsetSeconds: offset) == expected, "time \(time) offset \(offset)")
        }
        #expect(SyncMark.renameTimestamp(unixTime: 0) == "19700101000000")
        #expect(SyncMark.renameTimestamp(unixTime: 951_782_400) == "20000229000000")
    }

    @Test func portChangeRename() {
        #expect(SyncMark.fileNameAfterPortChange("127.0.0.63_23700.mark", oldPort: 23700, newPort: 23000) == "127.0.0.63_23000.mark")
        #expect(SyncMark.fileNameAfterPortChange("127.0.0.63_23000.mark", oldPort: 23700, newPort: 23000) == nil)
        #expect(SyncMark.fileNameAfterPortChange("100002.mark", oldPort: 23700, newPort: 23000) == nil)
        #expect(SyncMark.fileNameAfterPortChange("_23700.mark", oldPort: 23700, newPort: 23000) == nil)
        #expect(SyncMark.fileNameAfterPortChange("127.0.0.63_123700.mark", oldPort: 23700, newPort: 23000) == nil)
    }

    static func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        try body(url.path)
    }

    static func contents(_ path: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    @Test func saveThenLoadInATemporaryBasePath() throws {
        try Self.withTemporaryDirectory { base in
            try FileManager.default.createDirectory(atPath: SyncMark.directory(basePath: base), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/disk0/data", withIntermediateDirectories: true)
            var rng = SeededRandomNumberGenerator(seed: 0x5AFE)

            let flagPath = StorageInitFlag.path(basePath: base)
            #expect(try StorageInitFlag.load(path: flagPath) == nil)
            var flag = StorageInitFlag.new(now: 1_795_260_727, serverPort: 23700, ipAddresses: "127.0.0.62")
            #expect(!flag.syncOldDone && flag.syncSourceServer == "" && flag.storageJoinTime == 1_795_260_727)
            try flag.save(path: flagPath)
            #expect(try StorageInitFlag.load(path: flagPath) == flag)
            // A rewrite replaces the whole file.
            flag.syncOldDone = true
            flag.storePathMarks[0] = StorePathMark.generate(ipAddress: "127.0.0.62", port: 23700, storePathIndex: 0, now: 1_795_260_727).mark
            try flag.save(path: flagPath)
            #expect(try Self.contents(flagPath) == flag.format())
            #expect(try Self.contents(flagPath) == (try SharedVectors.text("storage/storageA-final/.data_init_flag")))

            let statPath = StorageStatFile.path(basePath: base)
            let stat = Self.randomStat(&rng)
            try stat.save(path: statPath)
            #expect(try StorageStatFile.load(path: statPath) == stat)
            #expect(try Self.contents(statPath) == stat.format())

            let markPath = SyncMark.path(basePath: base, fileName: SyncMark.fileName(peerIPAddress: "127.0.0.63", ownPort: 23700))
            let mark = Self.randomMark(&rng)
            try mark.save(path: markPath)
            #expect(try SyncMark.load(path: markPath) == mark)

            let varsPath = StorePathMark.path(storePath: base + "/disk0")
            #expect(try StorePathMark.loadMark(path: varsPath) == nil)
            let vars = StorePathMark(mark: flag.storePathMarks[0]!)
            try vars.save(path: varsPath)
            #expect(try StorePathMark.load(path: varsPath) == vars)
            #expect(try StorePathMark.loadMark(path: varsPath) == vars.mark)
            #expect(StorePathMark.decide(storePathMark: try StorePathMark.loadMark(path: varsPath), initFlagMark: flag.storePathMarks[0]) == .accept)
            try Data("other_key=1\n".utf8).write(to: URL(fileURLWithPath: varsPath))
            #expect(try StorePathMark.loadMark(path: varsPath) == nil)  // no key counts as no mark

            // Atomic replacement leaves no temporary file behind.
            let leftovers = try FileManager.default.subpathsOfDirectory(atPath: base).filter { $0.hasSuffix(".tmp") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func loadReportsFileSystemAndEncodingErrors() throws {
        try Self.withTemporaryDirectory { base in
            // Saving into a directory that does not exist fails with the temp file's path.
            let missing = base + "/no/such/dir/.data_init_flag"
            do throws(StateFileError) {
                try StorageInitFlag.new(now: 1, serverPort: 23000).save(path: missing)
                Issue.record("save into a missing directory succeeded")
            } catch {
                guard case .fileSystem(let failure) = error else { Issue.record("unexpected \(error)"); return }
                #expect(failure.operation == "open" && failure.path == missing + ".tmp")
            }
            let binary = base + "/storage_stat.dat"
            try Data([0xFF, 0xFE, 0x3D, 0x0A]).write(to: URL(fileURLWithPath: binary))
            #expect(throws: StateFileError.invalidEncoding(path: binary)) { try StorageStatFile.load(path: binary) }
        }
    }
}

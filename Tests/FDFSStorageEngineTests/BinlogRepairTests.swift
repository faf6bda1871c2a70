import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// A crash during an append leaves a torn last line; a file system may leave garbage after
/// one. Opening the writer must cut exactly that, report it, and never lose a complete record.
@Suite("Binlog torn-tail repair")
struct BinlogRepairTests {
    typealias F = BinlogFixtures

    /// Writes `count` records with a fresh writer and returns them with the file's size.
    static func writeRecords(base: String, count: Int, seed: String) throws -> (records: [BinlogRecord], sizeBytes: Int64, path: String) {
        var rng = SeededRandomNumberGenerator(seed: Mutator.seed(seed))
        let records = (0..<count).map { _ in F.randomRecord(&rng) }
        let writer = try BinlogWriter(basePath: base)
        try writer.append(records)
        try writer.close()
        return (records, writer.position.offsetBytes, writer.currentPath)
    }

    static func readAll(base: String, upTo end: BinlogPosition) throws -> [BinlogRecord] {
        try F.readAll(try BinlogReader(syncDirectory: base + "/data/sync"), upTo: end).map(\.record)
    }

    @Test func cutsAPartialLastLine() throws {
        try F.withTemporaryDirectory { base in
            let (records, size, path) = try Self.writeRecords(base: base, count: 10, seed: "torn partial")
            let partial = Array("1795260750 C M00/00/00/fwAAPmsBgU6EH_za".utf8)
            try F.appendBytes(partial, to: path)

            let writer = try BinlogWriter(basePath: base)
            let repair = try #require(writer.repair)
            #expect(repair.path == path)
            #expect(repair.offsetBytes == size)
            #expect(repair.removedBytes == Int64(partial.count))
            #expect(repair.removedLineCount == 1)
            #expect(repair.reason == .unterminatedLine)
            #expect(repair.excerpt == String(decoding: partial, as: UTF8.self))
            #expect(repair.description.contains("offset \(size)") && repair.description.contains(path))
            #expect(F.size(path) == size && writer.position.offsetBytes == size)

            // New appends follow cleanly.
            let more = [try BinlogRecord(line: "1795260751 D M00/00/00/fwAAPmsBgU6EH_zaAAAAAHvqt4A409.log"),
                        try BinlogRecord(line: "1795260752 c M00/00/00/fwAAPmsBgU6EH_zaAAAAAHvqt4A409.log")]
            try writer.append(more)
            #expect(try Self.readAll(base: base, upTo: writer.position) == records + more)
            try writer.close()
            #expect(try BinlogWriter(basePath: base).repair == nil)
        }
    }

    @Test func cutsGarbageAfterTheLastRecord() throws {
        try F.withTemporaryDirectory { base in
            let (records, size, path) = try Self.writeRecords(base: base, count: 10, seed: "torn garbage")
            // Complete lines that are not records, then NULs as a file system leaves them.
            let garbage = Array("garbage line\n1795260750 X M00/00/00/a\n".utf8) + [0xFF, 0xFE, 0x0A] + [UInt8](repeating: 0, count: 300)
            try F.appendBytes(garbage, to: path)

            let writer = try BinlogWriter(basePath: base)
            let repair = try #require(writer.repair)
            #expect(repair.offsetBytes == size && repair.removedBytes == Int64(garbage.count))
            #expect(repair.removedLineCount == 4)
            #expect(repair.reason == .invalidLine(.badTimestamp("garbage")))
            #expect(repair.excerpt.hasPrefix("garbage line\n"))
            #expect(F.size(path) == size)
            let more = try BinlogRecord(line: "1795260751 U M00/00/00/fwAAPmsBgU6EH_zaAAAAAHvqt4A409.log-m")
            try writer.append(more)
            #expect(try Self.readAll(base: base, upTo: writer.position) == records + [more])
        }
    }

    /// The C empty-link line is a complete record a C storage wrote; it is not a torn tail.
    @Test func keepsACEmptyLinkLineAtTheEnd() throws {
        try F.withTemporaryDirectory { base in
            let sync = base + "/data/sync"
            try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
            let lines = try F.vectorLines("ids-profile-storageA-final")
            let content = Array(lines[0..<5].flatMap(\.bytes))
            try F.write(content, to: sync + "/binlog.000")
            let writer = try BinlogWriter(basePath: base)
            #expect(writer.repair == nil && writer.position.offsetBytes == Int64(content.count))
        }
    }

    /// A copy of a captured binlog cut at every offset: opening never throws and keeps exactly
    /// the complete lines; the reader then returns exactly the records of those lines.
    @Test(arguments: ["ids-profile-storageA-final", "storageB-final"])
    func truncationAtEveryOffsetKeepsTheCompleteLines(vector: String) throws {
        let lines = try F.vectorLines(vector)
        let full = Array(lines.flatMap(\.bytes))
        let lineEnds = lines.map { Int64($0.offset + $0.bytes.count) }
        try F.withTemporaryDirectory { base in
            let sync = base + "/data/sync"
            try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
            let path = sync + "/binlog.000"
            let step = full.count > 1000 ? 7 : 1  // every offset of the small file, every 7th of the large one
            for offset in stride(from: 0, through: full.count, by: step) {
                try F.write(Array(full[..<offset]), to: path)
                let writer = try BinlogWriter(basePath: base)
                let complete = lineEnds.last { $0 <= Int64(offset) } ?? 0
                #expect(writer.position == BinlogPosition(fileIndex: 0, offsetBytes: complete), "offset \(offset)")
                #expect(F.size(path) == complete, "offset \(offset)")
                #expect((writer.repair == nil) == (complete == Int64(offset)), "offset \(offset)")
                if let repair = writer.repair {
                    #expect(repair.reason == .unterminatedLine && repair.removedLineCount == 1 && repair.offsetBytes == complete)
                }
                let expected = lines.filter { Int64($0.offset + $0.bytes.count) <= complete }.compactMap { try? BinlogRecord(lineBytes: $0.bytes) }
                #expect(try F.readAll(try BinlogReader(syncDirectory: sync), upTo: writer.position).map(\.record) == expected, "offset \(offset)")
                try writer.close()
            }
        }
    }

    /// A file with no newline at all is one partial line.
    @Test func cutsAFileThatIsOnePartialLine() throws {
        try F.withTemporaryDirectory { base in
            let sync = base + "/data/sync"
            try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
            try F.write([UInt8](repeating: 0, count: 4096), to: sync + "/binlog.000")
            let writer = try BinlogWriter(basePath: base)
            #expect(writer.position == .start && writer.repair?.removedBytes == 4096)
        }
    }

    /// More damage than a crash during one append can leave: the writer refuses to open
    /// rather than cut megabytes.
    @Test func refusesToCutMoreThanTheRepairLimit() throws {
        try F.withTemporaryDirectory { base in
            let (_, size, path) = try Self.writeRecords(base: base, count: 3, seed: "torn large")
            let damage = Int(BinlogWriter.maxRepairBytes) + 1000
            try F.appendBytes([UInt8](repeating: UInt8(ascii: "x"), count: damage), to: path)
            #expect(throws: BinlogError.tailDamageTooLarge(path: path, validEndOffsetBytes: nil, sizeBytes: size + Int64(damage))) {
                try BinlogWriter(basePath: base)
            }
            #expect(F.size(path) == size + Int64(damage), "nothing was cut")

            // Many short garbage lines beyond the limit are refused too (the scan stops at the
            // first line past the limit).
            try F.write(Array(repeating: Array("junk\n".utf8), count: Int(BinlogWriter.maxRepairBytes) / 5 + 10).flatMap { $0 }, to: path)
            let junkSize = try #require(F.size(path))
            #expect(throws: BinlogError.tailDamageTooLarge(path: path, validEndOffsetBytes: junkSize - (BinlogWriter.maxRepairBytes / 5 + 1) * 5, sizeBytes: junkSize)) {
                try BinlogWriter(basePath: base)
            }
        }
    }
}

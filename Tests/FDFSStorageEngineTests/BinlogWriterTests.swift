import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

@Suite("Binlog writer")
struct BinlogWriterTests {
    typealias F = BinlogFixtures

    @Test func opensAFreshStorage() throws {
        try F.withTemporaryDirectory { base in
            let writer = try BinlogWriter(basePath: base)
            let sync = base + "/data/sync"
            #expect(writer.syncDirectory == sync)
            #expect(writer.position == .start)
            #expect(writer.repair == nil && !writer.convertedLegacyIndex)
            #expect(writer.currentPath == sync + "/binlog.000")
            #expect(try F.read(sync + "/binlog_index.dat") == Array("current_write=0\ncurrent_compress=0\n".utf8))
            #expect(F.size(sync + "/binlog.000") == 0)
            #expect(try writer.append([]) == .start)
            try writer.close()
            try writer.close()
            #expect(throws: BinlogError.writerClosed) { try writer.append(try BinlogRecord(line: "1 C a")) }
        }
    }

    /// Seeded random records of every operation, appended in random batches, come back from
    /// the reader unchanged and in order, with positions that add up.
    @Test(arguments: [BinlogSyncPolicy.everyWrite, .never, .interval(.seconds(1))])
    func roundTripsRandomRecords(policy: BinlogSyncPolicy) throws {
        let seed = Mutator.seed("binlog round trip \(policy)")
        var rng = SeededRandomNumberGenerator(seed: seed)
        var records = BinlogOperation.allCases.map { F.randomRecord(&rng, operation: $0) }
        records += (0..<1500).map { _ in F.randomRecord(&rng) }
        try F.withTemporaryDirectory { base in
            let writer = try BinlogWriter(basePath: base, syncPolicy: policy)
            let reader = try BinlogReader(syncDirectory: writer.syncDirectory)
            var read: [BinlogEntry] = []
            var remaining = records[...]
            while !remaining.isEmpty {
                let batch = remaining.prefix(Int.random(in: 1...25, using: &rng))
                remaining = remaining.dropFirst(batch.count)
                let end = try writer.append(Array(batch))
                #expect(end == writer.position)
                if policy == .everyWrite { #expect(writer.unsyncedBytes == 0) } else { #expect(writer.unsyncedBytes > 0) }
                if case .interval = policy { try writer.sync(); #expect(writer.unsyncedBytes == 0) }
                // Readers follow the writer's published position.
                read += try F.readAll(reader, upTo: end)
            }
            #expect(read.map(\.record) == records, "seed \(seed)")
            var offset: Int64 = 0
            for entry in read {
                #expect(entry.start == BinlogPosition(fileIndex: 0, offsetBytes: offset))
                offset += Int64(entry.record.encodedLength)
                #expect(entry.end == BinlogPosition(fileIndex: 0, offsetBytes: offset))
            }
            #expect(writer.position.offsetBytes == offset)
            #expect(F.size(writer.currentPath) == offset)
            #expect(Set(read.map(\.record.operation)).count == 16)
            try writer.close()
            // The file is exactly the records' lines.
            #expect(try F.read(writer.currentPath) == records.flatMap(\.encodedBytes))
        }
    }

    /// With a small maximum the writer moves to binlog.001, .002, ... after the append that
    /// reached it; the index file follows; the reader crosses every boundary.
    @Test func rotatesAtMaxFileBytes() throws {
        var rng = SeededRandomNumberGenerator(seed: Mutator.seed("binlog rotation"))
        let records = (0..<120).map { _ in F.randomRecord(&rng, operation: .sourceCreate) }
        let maxFileBytes: Int64 = 1000
        try F.withTemporaryDirectory { base in
            let sync = base + "/data/sync"
            let writer = try BinlogWriter(basePath: base, maxFileBytes: maxFileBytes)
            // A stale file with the name of the next one is replaced, not appended to.
            try F.write("stale\n", to: sync + "/binlog.001")
            let reader = try BinlogReader(syncDirectory: sync)
            var read: [BinlogEntry] = []
            for batch in stride(from: 0, to: records.count, by: 4) {
                let before = writer.position
                let end = try writer.append(Array(records[batch..<min(batch + 4, records.count)]))
                if before.offsetBytes + Int64(records[batch..<min(batch + 4, records.count)].reduce(0) { $0 + $1.encodedLength }) >= maxFileBytes {
                    #expect(end == BinlogPosition(fileIndex: before.fileIndex + 1, offsetBytes: 0))
                } else {
                    #expect(end.fileIndex == before.fileIndex)
                }
                #expect(try BinlogIndex.load(syncDirectory: sync).index.currentWrite == end.fileIndex)
                if batch % 12 == 0 { read += try F.readAll(reader, upTo: end) }
            }
            read += try F.readAll(reader, upTo: writer.position)
            #expect(read.map(\.record) == records)
            let last = writer.position.fileIndex
            #expect(last >= 3)
            #expect(Set(read.map(\.start.fileIndex)) == Set(0...last).subtracting(writer.position.offsetBytes == 0 ? [last] : []))
            for index in 0..<last {
                let size = F.size(BinlogIndex.binlogPath(syncDirectory: sync, index: index))!
                #expect(size >= maxFileBytes && size < maxFileBytes + 4 * Int64(BinlogRecord.maxLineBytes))
            }
            #expect(try F.read(sync + "/binlog.001").starts(with: records[read.firstIndex { $0.start.fileIndex == 1 }!].encodedBytes))
            #expect(try F.read(sync + "/binlog_index.dat") == Array("current_write=\(last)\ncurrent_compress=0\n".utf8))
            try writer.close()

            // Reopening continues in the last file.
            let again = try BinlogWriter(basePath: base, maxFileBytes: maxFileBytes)
            #expect(again.position == writer.position && again.repair == nil)
            // The reader's entry ends are valid resume points.
            let resumed = try BinlogReader(syncDirectory: sync, position: read[37].end)
            #expect(try F.readAll(resumed, upTo: again.position).map(\.record) == Array(records[38...]))
        }
    }

    /// A crash between an append that filled a file and the rotation: the next open rotates.
    @Test func rotatesOnOpenWhenTheFileIsFull() throws {
        try F.withTemporaryDirectory { base in
            let sync = base + "/data/sync"
            let record = try BinlogRecord(line: "1795260748 C M00/00/00/fwAAPmsBgUyAWxrXAAAAIHXGBXM263.txt")
            do {
                let writer = try BinlogWriter(basePath: base)
                try writer.append(Array(repeating: record, count: 10))
            }
            let writer = try BinlogWriter(basePath: base, maxFileBytes: 100)
            #expect(writer.position == BinlogPosition(fileIndex: 1, offsetBytes: 0))
            #expect(try BinlogIndex.load(syncDirectory: sync).index.currentWrite == 1)
            try writer.append(record)
            let reader = try BinlogReader(syncDirectory: sync)
            #expect(try F.readAll(reader, upTo: writer.position).count == 11)
        }
    }

    /// Only `binlog.index` (pre-5.x): its number is the current file, `binlog_index.dat` is
    /// written, appends go on in that file.
    @Test func convertsTheLegacyIndex() throws {
        try F.withTemporaryDirectory { base in
            let sync = base + "/data/sync"
            try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
            try F.write("3\n", to: sync + "/binlog.index")
            let old = "1795260748 C M00/00/00/fwAAPmsBgUyAWxrXAAAAIHXGBXM263.txt\n"
            try F.write(old, to: sync + "/binlog.003")
            let writer = try BinlogWriter(basePath: base)
            #expect(writer.convertedLegacyIndex)
            #expect(writer.index == (try BinlogIndex(currentWrite: 3)))
            #expect(writer.position == BinlogPosition(fileIndex: 3, offsetBytes: Int64(old.utf8.count)))
            #expect(try F.read(sync + "/binlog_index.dat") == Array("current_write=3\ncurrent_compress=0\n".utf8))
            try writer.append(try BinlogRecord(line: "1795260749 D M00/00/00/fwAAPmsBgUyAWxrXAAAAIHXGBXM263.txt"))
            let reader = try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: 3, offsetBytes: 0))
            #expect(try F.readAll(reader, upTo: writer.position).map(\.record.operation) == [.sourceCreate, .sourceDelete])
            try writer.close()
            // From now on the new file is used (the legacy one is left alone, as C does).
            let again = try BinlogWriter(basePath: base)
            #expect(!again.convertedLegacyIndex && again.index.currentWrite == 3)
        }
    }

    @Test func refusesABadIndexFile() throws {
        try F.withTemporaryDirectory { base in
            let sync = base + "/data/sync"
            try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
            try F.write("current_write=x\n", to: sync + "/binlog_index.dat")
            let path = sync + "/binlog_index.dat"
            #expect(throws: BinlogError.indexFile(.invalidValue(path: path, key: "current_write", value: "x", expected: "a decimal integer"))) {
                try BinlogWriter(basePath: base)
            }
            try F.write("current_write=-3\n", to: path)
            #expect(throws: BinlogError.indexFile(.invalidValue(path: path, key: "current_write", value: "-3", expected: "an integer in 0...2147483647"))) {
                try BinlogWriter(basePath: base)
            }
        }
    }

    @Test func limitsOneAppend() throws {
        try F.withTemporaryDirectory { base in
            let writer = try BinlogWriter(basePath: base)
            let record = try BinlogRecord(line: "1795260748 C M00/00/00/" + String(repeating: "a", count: 117))
            let count = BinlogWriter.maxAppendBytes / record.encodedLength + 1
            #expect(throws: BinlogError.appendTooLarge(lengthBytes: count * record.encodedLength)) {
                try writer.append(Array(repeating: record, count: count))
            }
            #expect(writer.position == .start && F.size(writer.currentPath) == 0)
            try writer.append(Array(repeating: record, count: count - 1))
            #expect(writer.position.offsetBytes == Int64((count - 1) * record.encodedLength))
        }
    }
}

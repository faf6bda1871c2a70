import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

@Suite("Binlog reader")
struct BinlogReaderTests {
    typealias F = BinlogFixtures

    static let create = "1795260748 C M00/00/00/fwAAPmsBgUyAWxrXAAAAIHXGBXM263.txt\n"
    static let delete = "1795260749 D M00/00/00/fwAAPmsBgUyAWxrXAAAAIHXGBXM263.txt\n"

    /// Makes `<base>/data/sync` with the given files.
    static func syncDirectory(_ base: String, files: [String: [UInt8]]) throws -> String {
        let sync = base + "/data/sync"
        try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
        for (name, bytes) in files { try F.write(bytes, to: sync + "/" + name) }
        return sync
    }

    /// The captured binlogs read with the end taken from their own index files: every record,
    /// the empty link record skipped and counted, and the C mark files' offsets fall on our
    /// record boundaries (the same unit as `binlog_offset`), except where C skipped the bad
    /// link record: C 6.16.1 does not add a skipped record's length to `binlog_offset`, so
    /// that mark lags the true position by exactly that line (541 - 59 = 482, which is 5 bytes
    /// into the last line; a C restart would resume mid-line).
    @Test(arguments: BinlogFixtures.vectorNames)
    func readsTheCapturedBinlogs(vector: String) throws {
        let sync = try F.vectorSyncDirectory(vector)
        let lines = try F.vectorLines(vector)
        let reader = try BinlogReader(syncDirectory: sync)
        var entries: [BinlogEntry] = []
        while let entry = try reader.next() { entries.append(entry) }
        let expected = lines.compactMap { try? BinlogRecord(lineBytes: $0.bytes) }
        #expect(entries.map(\.record) == expected)
        let fileSize = Int64(lines.last!.offset + lines.last!.bytes.count)
        #expect(reader.position == BinlogPosition(fileIndex: 0, offsetBytes: fileSize))
        #expect(try BinlogReader.endOfLog(syncDirectory: sync) == reader.position)

        let skipped = reader.takeSkippedLines()
        #expect(reader.skippedInvalidCount == 0)
        if vector == "ids-profile-storageA-final" {
            #expect(reader.skippedEmptyFilenameCount == 1)
            #expect(skipped == [BinlogSkippedLine(path: sync + "/binlog.000", offsetBytes: Int64(lines[4].offset), lengthBytes: Int64(lines[4].bytes.count), reason: .emptyFilename(.sourceLink))])
            #expect(skipped.first?.description.contains("§10.1") == true)
        } else {
            #expect(reader.skippedEmptyFilenameCount == 0 && skipped.isEmpty)
        }
        #expect(reader.takeSkippedLines().isEmpty)

        let boundaries = Set([0] + lines.map { Int64($0.offset + $0.bytes.count) })
        #expect(Set(entries.map(\.end.offsetBytes)).isSubset(of: boundaries))
        let marks = try FileManager.default.contentsOfDirectory(atPath: sync).filter { $0.contains(".mark") }
        #expect(!marks.isEmpty)
        for mark in marks {
            let text = try String(contentsOfFile: sync + "/" + mark, encoding: .utf8)
            let offset = try #require(text.split(separator: "\n").first { $0.hasPrefix("binlog_offset=") }.flatMap { Int64($0.dropFirst(14)) })
            if vector == "ids-profile-storageA-final" {
                #expect(offset == fileSize - Int64(lines[4].bytes.count) && !boundaries.contains(offset))
                // Resuming there, as C would, misreads the tail of the last line as a record.
                let misaligned = try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: 0, offsetBytes: offset))
                #expect(try misaligned.next()?.record.timestampSeconds == 61139)
            } else {
                #expect(boundaries.contains(offset), "\(vector)/\(mark) binlog_offset=\(offset)")
            }
        }
    }

    /// At the end the reader returns nil; after more appends it goes on from where it was.
    @Test func resumesAfterTheEnd() throws {
        try F.withTemporaryDirectory { base in
            let writer = try BinlogWriter(basePath: base)
            let reader = try BinlogReader(syncDirectory: writer.syncDirectory)
            #expect(try reader.next(upTo: writer.position) == nil)
            #expect(try reader.next() == nil)
            let first = try BinlogRecord(line: Self.create)
            try writer.append(first)
            let entry = try #require(try reader.next(upTo: writer.position))
            #expect(entry.record == first && entry.start == .start && entry.end == writer.position)
            #expect(try reader.next(upTo: writer.position) == nil)
            let second = try BinlogRecord(line: Self.delete)
            try writer.append([second, first])
            #expect(try reader.next()?.record == second)
            #expect(try reader.next()?.record == first)
            #expect(try reader.next() == nil)
            #expect(reader.position == writer.position)
            // A reader created at a saved position (a mark file) continues from there.
            let again = try BinlogReader(syncDirectory: writer.syncDirectory, position: entry.end)
            #expect(try F.readAll(again, upTo: writer.position).map(\.record) == [second, first])
        }
    }

    /// In the file being written, a line without its newline yet is not read (it may still be
    /// completed); nor is anything past the end the caller gives.
    @Test func doesNotReadAnIncompleteLastLine() throws {
        try F.withTemporaryDirectory { base in
            let partial = Array(Self.delete.utf8.dropLast(5))
            let sync = try Self.syncDirectory(base, files: ["binlog.000": Array(Self.create.utf8) + partial])
            let reader = try BinlogReader(syncDirectory: sync)
            #expect(try reader.next()?.record == (try BinlogRecord(line: Self.create)))
            #expect(try reader.next() == nil)
            #expect(reader.position.offsetBytes == Int64(Self.create.utf8.count))
            try F.appendBytes(Array(Self.delete.utf8.suffix(5)), to: sync + "/binlog.000")
            #expect(try reader.next()?.record == (try BinlogRecord(line: Self.delete)))

            let bounded = try BinlogReader(syncDirectory: sync)
            let end = BinlogPosition(fileIndex: 0, offsetBytes: Int64(Self.create.utf8.count))
            #expect(try F.readAll(bounded, upTo: end).count == 1)
            #expect(throws: BinlogError.positionBeyondEnd(position: bounded.position, end: .start)) { try bounded.next(upTo: .start) }
        }
    }

    /// A malformed line stops the reader with file, offset and reason, and it stays there;
    /// with `skipInvalidRecords` it is skipped and counted.
    @Test func reportsOrSkipsAnInvalidLine() throws {
        try F.withTemporaryDirectory { base in
            let bad = "1795260748 C M00/00/00/a b\n"
            let content = Self.create + bad + Self.delete
            let sync = try Self.syncDirectory(base, files: ["binlog.000": Array(content.utf8)])
            let path = sync + "/binlog.000"
            let badOffset = Int64(Self.create.utf8.count)
            let reader = try BinlogReader(syncDirectory: sync)
            #expect(try reader.next()?.record.operation == .sourceCreate)
            let expected = BinlogError.invalidLine(path: path, offsetBytes: badOffset, reason: .unexpectedField(" b"))
            #expect(throws: expected) { try reader.next() }
            #expect(throws: expected) { try reader.next() }
            #expect(reader.position.offsetBytes == badOffset)
            #expect(expected.description == "\(path) offset \(badOffset): unexpected text ' b' after the last field")

            let skipping = try BinlogReader(syncDirectory: sync, skipInvalidRecords: true)
            #expect(try F.readAll(skipping, upTo: try BinlogReader.endOfLog(syncDirectory: sync)).map(\.record.operation) == [.sourceCreate, .sourceDelete])
            #expect(skipping.skippedInvalidCount == 1 && skipping.skippedEmptyFilenameCount == 0)
            #expect(skipping.takeSkippedLines() == [BinlogSkippedLine(path: path, offsetBytes: badOffset, lengthBytes: Int64(bad.utf8.count), reason: .unexpectedField(" b"))])
        }
    }

    @Test func reportsOrSkipsAnOverlongLine() throws {
        try F.withTemporaryDirectory { base in
            let long = "1795260748 C " + String(repeating: "x", count: 300) + "\n"
            let content = Self.create + long + Self.delete
            let sync = try Self.syncDirectory(base, files: ["binlog.000": Array(content.utf8)])
            let reader = try BinlogReader(syncDirectory: sync)
            _ = try reader.next()
            #expect(throws: BinlogError.invalidLine(path: sync + "/binlog.000", offsetBytes: Int64(Self.create.utf8.count), reason: .lineTooLong(lengthBytes: long.utf8.count))) {
                try reader.next()
            }
            let skipping = try BinlogReader(syncDirectory: sync, skipInvalidRecords: true)
            var records: [BinlogRecord] = []
            while let entry = try skipping.next() { records.append(entry.record) }
            #expect(records.map(\.operation) == [.sourceCreate, .sourceDelete])
            #expect(skipping.skippedInvalidCount == 1)
        }
    }

    /// Rotated files are read to their end; a rotated file that ends mid-line is an error (or
    /// skipped), and the reader moves on to the next file.
    @Test func crossesFilesAndRejectsAnUnterminatedOldFile() throws {
        try F.withTemporaryDirectory { base in
            let sync = try Self.syncDirectory(base, files: [
                "binlog.000": Array((Self.create + "1795260749 D M00").utf8),
                "binlog.001": Array(Self.delete.utf8),
                "binlog_index.dat": Array("current_write=1\ncurrent_compress=0\n".utf8),
            ])
            let reader = try BinlogReader(syncDirectory: sync)
            #expect(try reader.next()?.end == BinlogPosition(fileIndex: 0, offsetBytes: Int64(Self.create.utf8.count)))
            #expect(throws: BinlogError.unterminatedFile(path: sync + "/binlog.000", offsetBytes: Int64(Self.create.utf8.count))) { try reader.next() }

            let skipping = try BinlogReader(syncDirectory: sync, skipInvalidRecords: true)
            var entries: [BinlogEntry] = []
            while let entry = try skipping.next() { entries.append(entry) }
            #expect(entries.map(\.record.operation) == [.sourceCreate, .sourceDelete])
            #expect(entries[1].start == BinlogPosition(fileIndex: 1, offsetBytes: 0))
            #expect(skipping.position == BinlogPosition(fileIndex: 1, offsetBytes: Int64(Self.delete.utf8.count)))
            #expect(skipping.skippedInvalidCount == 1)
        }
    }

    @Test func missingAndCompressedFiles() throws {
        try F.withTemporaryDirectory { base in
            let sync = try Self.syncDirectory(base, files: [
                "binlog.001": Array(Self.create.utf8),
                "binlog.002": Array(Self.delete.utf8),
                "binlog_index.dat": Array("current_write=2\ncurrent_compress=1\n".utf8),
            ])
            #expect(throws: BinlogError.missingFile(path: sync + "/binlog.000")) { try BinlogReader(syncDirectory: sync).next() }
            try F.write([0x1F, 0x8B], to: sync + "/binlog.000.gz")
            #expect(throws: BinlogError.compressedFile(path: sync + "/binlog.000.gz")) { try BinlogReader(syncDirectory: sync).next() }
            let fromOne = try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: 1, offsetBytes: 0))
            #expect(try fromOne.next()?.record.operation == .sourceCreate)
            #expect(try fromOne.next()?.record.operation == .sourceDelete)
            #expect(try fromOne.next() == nil)
            // The file being written may not exist yet while it is empty.
            let ahead = try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: 3, offsetBytes: 0))
            #expect(try ahead.next(upTo: BinlogPosition(fileIndex: 3, offsetBytes: 0)) == nil)
        }
    }

    @Test func rejectsPositionsOutsideTheLog() throws {
        try F.withTemporaryDirectory { base in
            let sync = try Self.syncDirectory(base, files: [
                "binlog.000": Array(Self.create.utf8),
                "binlog.001": [],
                "binlog_index.dat": Array("current_write=1\ncurrent_compress=0\n".utf8),
            ])
            let size = Int64(Self.create.utf8.count)
            let past = try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: 0, offsetBytes: size + 1))
            #expect(throws: BinlogError.positionBeyondEnd(position: BinlogPosition(fileIndex: 0, offsetBytes: size + 1), end: BinlogPosition(fileIndex: 0, offsetBytes: size))) {
                try past.next()
            }
            let later = try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: 2, offsetBytes: 0))
            #expect(throws: BinlogError.self) { try later.next() }
            #expect(throws: BinlogError.fileIndexOutOfRange(-1)) { try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: -1, offsetBytes: 0)) }
            #expect(throws: BinlogError.self) { try BinlogReader(syncDirectory: sync, position: BinlogPosition(fileIndex: 0, offsetBytes: -1)) }
        }
    }

    /// Reading in small steps while the writer appends in batches, across rotations, sees
    /// every record once: the reader's buffering never returns stale or partial data.
    @Test func followsAWriterAcrossRotations() throws {
        var rng = SeededRandomNumberGenerator(seed: Mutator.seed("binlog follow"))
        try F.withTemporaryDirectory { base in
            let writer = try BinlogWriter(basePath: base, maxFileBytes: 64 * 1024, syncPolicy: .never)
            let reader = try BinlogReader(syncDirectory: writer.syncDirectory)
            var written: [BinlogRecord] = []
            var read: [BinlogRecord] = []
            for _ in 0..<400 {
                let batch = (0..<Int.random(in: 1...20, using: &rng)).map { _ in F.randomRecord(&rng) }
                try writer.append(batch)
                written += batch
                for _ in 0..<Int.random(in: 0...25, using: &rng) {
                    guard let entry = try reader.next(upTo: writer.position) else { break }
                    read.append(entry.record)
                }
            }
            read += try F.readAll(reader, upTo: writer.position).map(\.record)
            #expect(read == written)
            #expect(writer.position.fileIndex >= 2)
        }
    }
}

import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

@Suite("Binlog index file")
struct BinlogIndexTests {
    typealias F = BinlogFixtures

    @Test func vectorIndexFilesParseAndReencode() throws {
        for name in F.vectorNames {
            let bytes = [UInt8](try SharedVectors.data("storage/\(name)/sync/binlog_index.dat"))
            let index = try BinlogIndex(parsing: bytes)
            #expect(index.currentWrite == 0 && index.currentCompress == 0, "\(name)")
            #expect(Array(index.encoded.utf8) == bytes, "\(name)")
            let loaded = try BinlogIndex.load(syncDirectory: try F.vectorSyncDirectory(name))
            #expect(loaded.index == index && loaded.source == .indexFile)
        }
    }

    @Test func parsesLikeTheIniReader() throws {
        let text = "# comment\n\n  current_compress = 2 \r\nother=x\ncurrent_write=12\n"
        let index = try BinlogIndex(parsing: Array(text.utf8))
        #expect(index.currentWrite == 12 && index.currentCompress == 2)
        #expect(index.encoded == "current_write=12\ncurrent_compress=2\n")
        #expect(try BinlogIndex(parsing: []) == BinlogIndex())
        #expect(try BinlogIndex(parsing: Array("current_write=5".utf8)).currentCompress == 0)
    }

    @Test func rejectsWhatIsNotAnIndex() {
        let bad = [
            "current_write=abc\n", "current_write=-1\n", "current_write\n", "current_write=\n",
            "current_write=2147483648\n", "current_write=1\ncurrent_compress=2\n", "current_write=1\ncurrent_write=2\n",
        ]
        for text in bad {
            #expect(throws: BinlogError.self, "\(text.debugDescription)") { try BinlogIndex(parsing: Array(text.utf8), path: "x/binlog_index.dat") }
        }
        #expect(throws: BinlogError.self) { try BinlogIndex(parsing: [UInt8](repeating: 0x20, count: BinlogIndex.maxIndexFileBytes + 1)) }
        #expect(throws: BinlogError.fileIndexOutOfRange(-1)) { try BinlogIndex(currentWrite: -1) }
    }

    @Test func legacyIndexIsOneNumber() throws {
        #expect(try BinlogIndex.parseLegacy(Array("3".utf8)) == 3)
        #expect(try BinlogIndex.parseLegacy(Array(" 1024\n".utf8)) == 1024)
        for text in ["", "\n", "x", "3 4", "-2"] {
            #expect(throws: BinlogError.self, "\(text.debugDescription)") { try BinlogIndex.parseLegacy(Array(text.utf8)) }
        }
    }

    @Test func fileNamesHaveThreeDigitsAtLeast() {
        #expect(BinlogIndex.binlogFileName(0) == "binlog.000")
        #expect(BinlogIndex.binlogFileName(7) == "binlog.007")
        #expect(BinlogIndex.binlogFileName(999) == "binlog.999")
        #expect(BinlogIndex.binlogFileName(1000) == "binlog.1000")
        #expect(BinlogIndex.binlogPath(syncDirectory: "/b/data/sync", index: 12) == "/b/data/sync/binlog.012")
        #expect(BinlogIndex.syncDirectory(basePath: "/b") == "/b/data/sync")
        #expect(BinlogPosition(fileIndex: 1, offsetBytes: 0) > BinlogPosition(fileIndex: 0, offsetBytes: 99))
        #expect(BinlogPosition(fileIndex: 1, offsetBytes: 5).description == "binlog.001@5")
    }

    @Test func loadFallsBackToLegacyThenZero() throws {
        try F.withTemporaryDirectory { directory in
            let empty = try BinlogIndex.load(syncDirectory: directory)
            #expect(empty.index == (try BinlogIndex()) && empty.source == BinlogIndex.Source.none)
            try F.write("4\n", to: directory + "/binlog.index")
            let legacy = try BinlogIndex.load(syncDirectory: directory)
            #expect(legacy.index.currentWrite == 4 && legacy.source == .legacyFile)
            try BinlogIndex(currentWrite: 6, currentCompress: 1).save(syncDirectory: directory)
            #expect(try F.read(directory + "/binlog_index.dat") == Array("current_write=6\ncurrent_compress=1\n".utf8))
            let saved = try BinlogIndex.load(syncDirectory: directory)
            #expect(saved.index == (try BinlogIndex(currentWrite: 6, currentCompress: 1)) && saved.source == .indexFile)
            #expect(!FileManager.default.fileExists(atPath: directory + "/binlog_index.dat.tmp"))
        }
    }
}

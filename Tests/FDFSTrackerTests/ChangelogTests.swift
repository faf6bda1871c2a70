import FDFSModel
import FDFSTesting
import FDFSTracker
import Foundation
import Testing

@Suite("storage_changelog.dat")
struct ChangelogTests {
    typealias F = PersistenceFixtures

    static func deletion(_ time: Int64, _ id: String) throws -> ChangelogEntry {
        try ChangelogEntry(time: time, group: GroupName("group1"), storageID: StorageID(id), status: .deleted)
    }

    @Test func lineFormatMatchesTheVector() throws {
        let vector = try SharedVectors.data("tracker/storage_changelog.dat")
        let entry = try Self.deletion(1795260859, "127.0.0.63")
        #expect(Array(entry.line.utf8) == Array(vector))
        let (entries, problems) = Changelog.parse(Array(vector), path: "c")
        #expect(entries == [entry])
        #expect(problems.isEmpty)
        let ipChange = try ChangelogEntry(time: 5, group: GroupName("g"), storageID: StorageID("10.0.0.1"), status: .ipChanged, argument: "10.0.0.2")
        #expect(ipChange.line == "5 g 10.0.0.1 3 10.0.0.2\n")
    }

    @Test func appendSizeAndReopen() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            let changelog = try directory.openChangelog()
            #expect(changelog.openProblems.isEmpty)
            #expect(try changelog.size() == 0)
            #expect(try changelog.read(from: 0) == ([], 0))
            let first = try Self.deletion(1795260859, "127.0.0.63")
            try changelog.append(first)
            #expect(try changelog.size() == 32)
            try changelog.append(line: "1795260860 group1 127.0.0.64 4 ")
            #expect(try F.read(directory.changelogPath) == "1795260859 group1 127.0.0.63 4 \n1795260860 group1 127.0.0.64 4 \n")

            // Opening again appends after what is there.
            let again = try directory.openChangelog()
            try again.append(try Self.deletion(1795260861, "127.0.0.65"))
            #expect(try changelog.size() == 96)
            let (bytes, offset) = try again.read(from: 32)
            #expect(offset == 96)
            let (entries, problems) = Changelog.parse(bytes, path: "c")
            #expect(entries.map(\.storageID.rawValue) == ["127.0.0.64", "127.0.0.65"])
            #expect(problems.isEmpty)
            #expect(try again.read(from: 96) == ([], 96))
            #expect(try again.read(from: 500) == ([], 500))
        }
    }

    @Test func pieceLengths() {
        #expect(Changelog.pieceLength(remaining: 0) == 0)
        #expect(Changelog.pieceLength(remaining: -5) == 0)
        #expect(Changelog.pieceLength(remaining: 1) == 1)
        #expect(Changelog.pieceLength(remaining: 8202) == 8202)
        #expect(Changelog.pieceLength(remaining: 8203) == 8182)
        #expect(Changelog.pieceLength(remaining: 1_000_000) == 8182)
    }

    @Test func readingInPieces() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            // 700 lines of 30 bytes: 21000 bytes.
            var lines: [String] = []
            for i in 0..<700 {
                var line = "\(i) g 10.0.\(i / 100).\(i % 100 + 100) 4 "
                while line.utf8.count < 29 { line = "0" + line }  // a zero-padded time still parses
                lines.append(line + "\n")
            }
            let text = lines.joined()
            #expect(text.utf8.count == 21000)
            try F.write(text, to: directory.changelogPath)
            let changelog = try directory.openChangelog()

            var offset: Int64 = 0
            var pieces: [[UInt8]] = []
            while true {
                let (bytes, next) = try changelog.read(from: offset)
                if bytes.isEmpty { break }
                #expect(next == offset + Int64(bytes.count))
                pieces.append(bytes)
                offset = next
            }
            // 21000 = 8182 + 8182 + 4636 (the last remainder is at most 8202: sent whole).
            #expect(pieces.map(\.count) == [8182, 8182, 4636])
            #expect(pieces.flatMap { $0 } == Array(text.utf8))

            // A piece may end mid-line: parsing it alone reports the cut line instead of crashing.
            let (entries, problems) = Changelog.parse(pieces[0], path: "piece")
            #expect(entries.count == 8182 / 30)
            #expect(problems.count == 1)
            #expect(problems.first?.line == 8182 / 30 + 1)

            // Exactly 8202 remaining: everything in one piece.
            let (whole, end) = try changelog.read(from: 21000 - 8202)
            #expect(whole.count == 8202 && end == 21000)
        }
    }

    @Test func tornLastLineIsTerminatedAndReported() throws {
        try F.withTemporaryDirectory { base in
            let directory = try TrackerDataDirectory(basePath: base)
            try F.write("1795260859 group1 127.0.0.63 4 \n1795260860 group1 127.0", to: directory.changelogPath)
            let changelog = try directory.openChangelog()
            #expect(changelog.openProblems.count == 1)
            #expect(changelog.openProblems.first?.line == 2)
            #expect(changelog.openProblems.first?.path == directory.changelogPath)
            try changelog.append(try Self.deletion(1795260861, "127.0.0.65"))
            let (bytes, _) = try changelog.read(from: 0)
            let (entries, problems) = Changelog.parse(bytes, path: "c")
            // The appended line survives; the torn one is one invalid line.
            #expect(entries.map(\.time) == [1795260859, 1795260861])
            #expect(problems.map(\.line) == [2])
            // Reopening a repaired file reports nothing.
            #expect(try directory.openChangelog().openProblems.isEmpty)
        }
    }

    @Test func parseRejectsMalformedLines() {
        let text = "1 group1 10.0.0.1 4 \nx group1 10.0.0.1 4 \n1 group1 10.0.0.1\n1 group-1 10.0.0.1 4 \n2 g 10.0.0.1 3 10.0.0.2\n\n1 g a 4 b c\n3 g a 4"
        let (entries, problems) = Changelog.parse(Array(text.utf8), path: "c")
        #expect(entries.map(\.time) == [1, 2])
        #expect(entries.last?.argument == "10.0.0.2")
        #expect(problems.map(\.line) == [8, 2, 3, 4, 7])
    }
}

import FDFSFileSystem
import FDFSModel
import FDFSTesting
import Foundation
import Testing
@testable import FDFSStorageEngine

@Suite struct CRC32Tests {
    @Test func knownValues() {
        #expect(CRC32.checksum(Array("hello world".utf8)) == 0x0D4A_1185)  // protocol spec §6.12
        #expect(CRC32.checksum(Array("Hello FastDFS!\n".utf8)) == 0x02F9_BCEE)  // the live example of §6.12
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)  // the standard check value
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func incrementalEqualsOneShotForEverySplit() {
        var rng = SeededRandomNumberGenerator(seed: 32)
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC32.checksum(data)
        for cut in 0...data.count {
            var c = CRC32()
            c.update(data[..<cut])
            c.update(data[cut...])
            #expect(c.value == whole, "cut at \(cut)")
        }
    }

    /// The carry-less multiplication path (runs of 64 bytes and more, where the CPU has it)
    /// against the table version, for every length up to 600 at every alignment of 16, a
    /// running register that is not the initial one, and 1 MiB.
    @Test func foldingEqualsTheTableVersion() {
        var rng = SeededRandomNumberGenerator(seed: 33)
        let data = (0..<(1 << 20) + 16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            func both(_ start: Int, _ count: Int, after prefix: Int) -> (UInt32, UInt32) {
                var folded = CRC32(), sliced = CRC32()
                folded.update(UnsafeRawBufferPointer(rebasing: all[0..<prefix]))
                sliced.updateBySlicing(UnsafeRawBufferPointer(rebasing: all[0..<prefix]))
                let piece = UnsafeRawBufferPointer(rebasing: all[start..<start + count])
                folded.update(piece)
                sliced.updateBySlicing(piece)
                return (folded.value, sliced.value)
            }
            for offset in 0..<16 {
                for count in 0...600 {
                    let (f, s) = both(offset, count, after: 0)
                    #expect(f == s, "offset \(offset), \(count) bytes")
                }
            }
            let (f, s) = both(16, 1 << 20, after: 7)
            #expect(f == s)
        }
        #expect(CRC32.checksum(data[..<128]) == CRC32.checksum(Array(data[..<128])))
    }
}

@Suite struct NewFileNameTests {
    @Test func generatedNamesDecodeToTheirInputs() throws {
        var rng = SeededRandomNumberGenerator(seed: 6)
        for ext in ["", "jpg", "tar.gz", "abcdef", "a-b_c"] {
            let name = try NewFileName.make(source: .ipv4(IPv4Address(192, 168, 1, 10)), createTimestamp: 1_700_000_000,
                                            kind: .normal(size: 11), crc32: 0x0D4A_1185, extension: ext,
                                            storePathIndex: 3, subdirHigh: 0x1A, subdirLow: 0xFF, using: &rng)
            let parsed = try RemoteFilename(parsing: name.text)
            #expect(parsed.kind == .normal && parsed.sizeFromName == 11 && parsed.block.crc32 == 0x0D4A_1185)
            #expect(parsed.storePathIndex == 3 && parsed.subdirHigh == 0x1A && parsed.subdirLow == 0xFF)
            #expect(parsed.fileExtension == ext && name.text.utf8.count == 44)
            #expect(name.text.hasPrefix("M03/1A/FF/wKgBCmVT8Q"))
        }
        let appender = try NewFileName.make(source: .serverID(100_001), createTimestamp: 5, kind: .appender, crc32: 1, extension: "log",
                                            storePathIndex: 0, subdirHigh: 0, subdirLow: 0, using: &rng)
        #expect(appender.kind == .appender && appender.block.source == .serverID(100_001))
    }

    @Test func extensionsThatWouldMakeUnsafeNamesAreRefused() {
        for bad in [".gz", "a..b", "toolong", "a b", "a/b"] {
            #expect(throws: FileIDError.invalidExtension(bad)) { try NewFileName.validateExtension(bad) }
        }
    }
}

@Suite struct SubdirectoryTests {
    @Test func roundRobinRotatesEveryRotateCountFiles() {
        var c = SubdirectoryCursor(subdirCount: 2, rotateCount: 3)
        let dirs = (0..<14).map { _ in c.next() }.map { "\($0.high)/\($0.low)" }
        #expect(dirs == ["0/0", "0/0", "0/0", "0/1", "0/1", "0/1", "1/0", "1/0", "1/0", "1/1", "1/1", "1/1", "0/0", "0/0"])
        #expect(c.high == 0 && c.low == 0 && c.writtenCount == 2)
    }

    @Test func hashModeIsDeterministicAndInRange() {
        let c = SubdirectoryCursor(subdirCount: 10)
        let a = c.hashed("wKgBCmVT8QCAEjRWAAAACw1KEYU")
        #expect(a == c.hashed("wKgBCmVT8QCAEjRWAAAACw1KEYU"))
        #expect(a.high < 10 && a.low < 10)
        var seen = Set<String>()
        var rng = SeededRandomNumberGenerator(seed: 9)
        for _ in 0..<500 {
            let block = FileNameBlock(source: .serverID(1), createTimestamp: .random(in: 0 ... .max, using: &rng),
                                      sizeField: .normal(size: 1, random: 1), crc32: .random(in: 0 ... .max, using: &rng))
            let d = c.hashed(block.encoded)
            seen.insert("\(d.high)/\(d.low)")
        }
        #expect(seen.count > 50, "names spread over the directories")
    }
}

@Suite struct StorePathsTests {
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-paths-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func directoriesAreCreatedOnce() throws {
        let base = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let paths = StorePaths(paths: [StorePath(path: base + "/p0"), StorePath(path: base + "/p1")], subdirCount: 4)
        #expect(try paths.createDirectories() == [0, 1])
        #expect(FileManager.default.fileExists(atPath: base + "/p1/data/03/03"))
        #expect(try paths.createDirectories() == [], "existing directories are kept")
        let space = try paths.space(0)
        #expect(space.totalMB > 0 && space.freeMB <= space.totalMB)
    }

    @Test func pathChoiceSkipsReadOnlyAndFullPaths() throws {
        var paths = StorePaths(paths: [StorePath(path: "/a"), StorePath(path: "/b", isReadOnly: true), StorePath(path: "/c")], subdirCount: 1)
        #expect(try paths.choose(requested: 2, hasSpace: { _ in true }) == 2)
        #expect(try paths.choose(requested: 1, hasSpace: { _ in true }) != 1, "a read-only path is never written")
        let rotating = (0..<4).compactMap { _ in try? paths.choose(requested: -1, hasSpace: { _ in true }) }
        #expect(!rotating.contains(1) && Set(rotating) == [0, 2])
        #expect(try paths.choose(requested: -1, hasSpace: { $0 == 2 }) == 2)
        #expect(throws: PlacementError.noSpace) { try paths.choose(requested: 0, hasSpace: { _ in false }) }
        #expect(throws: PlacementError.storePathOutOfRange(3, count: 3)) { try paths.choose(requested: 3, hasSpace: { _ in true }) }
        #expect(PlacementError.noSpace.status == .ENOSPC)
    }
}

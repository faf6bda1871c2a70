import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import NIOCore
import Testing
@testable import FDFSStorage

/// The FETCH_ONE_PATH_BINLOG export (cluster spec §7.6 prepare step 4): what a recovering
/// peer gets for one store path.
@Suite struct BinlogExportTests {
    static let group = try! GroupName("group1")

    /// A base path with a hand-written binlog and two store paths holding what `disk` says.
    struct Fixture {
        let base: String
        let paths: [StorePath]
        var syncDirectory: String { BinlogIndex.syncDirectory(basePath: base) }

        init(binlog: String, files: [String], links: [(link: String, target: String)]) throws {
            base = try temporaryDirectory()
            paths = [StorePath(path: base + "/store0"), StorePath(path: base + "/store1")]
            try StorePaths(paths: paths, subdirCount: 1).createDirectories()
            try FileManager.default.createDirectory(atPath: BinlogIndex.syncDirectory(basePath: base), withIntermediateDirectories: true)
            try binlog.write(toFile: BinlogIndex.binlogPath(syncDirectory: BinlogIndex.syncDirectory(basePath: base), index: 0), atomically: true, encoding: .utf8)
            for f in files { try Data("x".utf8).write(to: URL(fileURLWithPath: absolute(f))) }
            for l in links { try FileManager.default.createSymbolicLink(atPath: absolute(l.link), withDestinationPath: absolute(l.target)) }
        }

        /// `Mxx/00/00/name` -> `<store path xx>/data/00/00/name`.
        func absolute(_ logical: String) -> String {
            paths[Int(logical.dropFirst().prefix(2), radix: 16)!].dataPath + "/" + logical.dropFirst(4)
        }

        func export(_ index: Int) async throws -> (text: String, counts: BinlogExport.Counts) {
            try await BinlogExport(syncDirectory: syncDirectory, storePaths: paths, storePathIndex: index).text()
        }
    }

    static let binlog = """
        100 C M00/00/00/kept.txt
        101 C M00/00/00/deleted.txt
        102 D M00/00/00/deleted.txt
        103 c M00/00/00/again.txt
        104 d M00/00/00/again.txt
        105 c M00/00/00/again.txt
        106 C M00/00/00/appender.bin
        107 A M00/00/00/appender.bin 0 10
        108 R M00/00/00/renamed.bin M00/00/00/appender.bin
        109 L M00/00/00/link.txt M00/00/00/kept.txt
        110 C M01/00/00/other-path.txt
        111 C M00/00/00/kept.txt-m
        112 U M00/00/00/kept.txt-m
        113 C M00/00/00/never-on-disk.txt
        114 C M00/00/00/now-a-link.txt
        115 l M00/00/00/now-a-file.txt M00/00/00/kept.txt
        116 T M00/00/00/renamed.bin 10 5
        117 r M00/00/00/renamed-replica.bin M00/00/00/old-appender.bin

        """

    static func fixture() throws -> Fixture {
        try Fixture(binlog: binlog,
                    files: ["M00/00/00/kept.txt", "M00/00/00/again.txt", "M00/00/00/renamed.bin", "M01/00/00/other-path.txt",
                            "M00/00/00/kept.txt-m", "M00/00/00/now-a-file.txt", "M00/00/00/renamed-replica.bin"],
                    links: [("M00/00/00/link.txt", "M00/00/00/kept.txt"), ("M00/00/00/now-a-link.txt", "M01/00/00/other-path.txt")])
    }

    @Test func exportKeepsExistingCreatesRenamesAndLinksOfOneStorePath() async throws {
        let (text, counts) = try await Self.fixture().export(0)
        #expect(text == """
            100 C M00/00/00/kept.txt
            103 c M00/00/00/again.txt
            108 C M00/00/00/renamed.bin
            109 L M00/00/00/link.txt M00/00/00/kept.txt
            114 L M00/00/00/now-a-link.txt M01/00/00/other-path.txt
            115 c M00/00/00/now-a-file.txt
            117 c M00/00/00/renamed-replica.bin

            """)
        #expect(counts.recordsRead == 18)
        #expect(counts.linesExported == 7)
        #expect(counts.skippedDuplicates == 1, "again.txt: created, deleted, created again")
        #expect(counts.skippedMissing == 3, "deleted.txt, appender.bin (renamed), never-on-disk.txt")
        #expect(counts.skippedMetadata == 1)
        #expect(counts.textBytes == Int64(text.utf8.count))
    }

    @Test func exportOfTheOtherStorePathHasOnlyItsRecords() async throws {
        let (text, counts) = try await Self.fixture().export(1)
        #expect(text == "110 C M01/00/00/other-path.txt\n")
        #expect(counts.linesExported == 1)
    }

    @Test("the peers' recovery binlogs merge in timestamp order, every name once")
    func recoveryBinlogsMerge() throws {
        let dir = try temporaryDirectory()
        let a = "1000 C M00/00/00/a\n1002 C M00/00/00/b\n1005 C M00/00/00/c\n"
        let b = "1000 C M00/00/00/z\n1001 C M00/00/00/b\n1002 C M00/00/00/y\n1003 L M00/00/00/l M00/00/00/y\n"
        try a.write(toFile: dir + "/a", atomically: true, encoding: .utf8)
        try b.write(toFile: dir + "/b", atomically: true, encoding: .utf8)
        try "".write(toFile: dir + "/empty", atomically: true, encoding: .utf8)
        let counts = try RecoveryBinlogMerge.merge([dir + "/a", dir + "/b", dir + "/empty"], into: dir + "/out")
        #expect(counts == RecoveryBinlogMerge.Counts(records: 6, duplicates: 1))
        #expect(try String(contentsOfFile: dir + "/out", encoding: .utf8) == """
            1000 C M00/00/00/a
            1000 C M00/00/00/z
            1001 C M00/00/00/b
            1002 C M00/00/00/y
            1003 L M00/00/00/l M00/00/00/y
            1005 C M00/00/00/c

            """)
        try "1000 C M00/00/00/a\nnot a record\n".write(toFile: dir + "/bad", atomically: true, encoding: .utf8)
        #expect(throws: DiskRecoveryError.self) { try RecoveryBinlogMerge.merge([dir + "/a", dir + "/bad"], into: dir + "/out") }
    }

    @Test func emptyBinlogExportsNothing() async throws {
        let fixture = try Fixture(binlog: "", files: [], links: [])
        let (text, counts) = try await fixture.export(0)
        #expect(text.isEmpty && counts.recordsRead == 0 && counts.textBytes == 0)
    }

    /// Over the wire: header announcing 2^58 bytes, the text, the 8-byte count, then the close;
    /// another group or a store path that does not exist is EINVAL.
    @Test func fetchOnePathBinlogOverTheWire() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            var names: [String] = []
            for i in 0..<3 {
                let response = try await client.send(uploadPacket(Array("file \(i)".utf8)))
                names.append(try UploadResponse.decode(body: response.body, command: 11).remoteFilename)
            }
            _ = try await client.request(DeleteFileRequest(group: Self.group, filename: names[1]))
            await client.close()

            let fetch = try await storage.client()
            var body: [UInt8] = []
            let header = try await fetch.send(FetchOnePathBinlogRequest(group: Self.group, storePathIndex: 0).requestPacket()) { part in
                body += part.readableBytesView
            }
            await fetch.close()
            #expect(header.status == 0 && header.bodyLength == FetchOnePathBinlogResponse.unboundedLength)
            let response = try FetchOnePathBinlogResponse.decode(body: ByteBuffer(bytes: body), command: 26)
            let lines = String(decoding: response.binlogText, as: UTF8.self).split(separator: "\n")
            #expect(lines.map { $0.split(separator: " ")[1] } == ["C", "C"])
            #expect(lines.map { String($0.split(separator: " ")[2]) } == [names[0], names[2]])

            for request in [FetchOnePathBinlogRequest(group: try GroupName("group2"), storePathIndex: 0),
                            FetchOnePathBinlogRequest(group: Self.group, storePathIndex: 1)] {
                let refused = try await storage.client()
                let answer = try await refused.send(request.requestPacket())
                #expect(answer.header.status == FDFSStatus.EINVAL.rawValue)
                await refused.close()
            }
        }
    }
}

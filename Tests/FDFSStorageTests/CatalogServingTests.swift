import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import NIOCore
import Testing
@testable import FDFSStorage

/// The catalog and the binlog as the storage keeps them while it serves clients.
@Suite(.serialized) struct CatalogServingTests {
    static let group = try! GroupName("group1")

    func upload(_ client: FDFSClientConnection, _ content: [UInt8], ext: String = "txt", appender: Bool = false) async throws -> RemoteFilename {
        let response = try await client.send(uploadPacket(content, ext: ext, appender: appender))
        #expect(response.header.status == 0)
        return try RemoteFilename(parsing: try UploadResponse.decode(body: response.body, command: 11).remoteFilename)
    }

    func setMetadata(_ client: FDFSClientConnection, _ name: String, _ entries: [(String, String)], _ op: SetMetadataRequest.Operation) async throws {
        let wire = FDFSMetadata(entries.map { FDFSMetadata.Entry($0.0, $0.1) }).wireBytes
        _ = try await client.request(SetMetadataRequest(group: Self.group, filename: name, operation: op, metadata: wire))
    }

    func getMetadata(_ client: FDFSClientConnection, _ name: String) async throws -> [FDFSMetadata.Entry] {
        FDFSMetadata(wire: try await client.request(GetMetadataRequest(group: Self.group, filename: name)).bytes).entries
    }

    @Test func metadataOverwriteMergeAndErrors() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let name = try await upload(client, Array("picture".utf8), ext: "jpg")
            // No metadata yet: an empty body, not ENOENT.
            #expect(try await getMetadata(client, name.text).isEmpty)
            try await setMetadata(client, name.text, [("width", "1024"), ("height", "768"), ("author", "ann")], .overwrite)
            #expect(try await getMetadata(client, name.text) == [.init("author", "ann"), .init("height", "768"), .init("width", "1024")])
            try await setMetadata(client, name.text, [("width", "800"), ("camera", "x100")], .merge)
            #expect(try await getMetadata(client, name.text)
                == [.init("author", "ann"), .init("camera", "x100"), .init("height", "768"), .init("width", "800")])
            try await setMetadata(client, name.text, [], .merge)  // merge with nothing: unchanged
            #expect(try await getMetadata(client, name.text).count == 4)
            try await setMetadata(client, name.text, [("only", "this")], .overwrite)
            #expect(try await getMetadata(client, name.text) == [.init("only", "this")])
            try await setMetadata(client, name.text, [], .overwrite)  // overwrite with nothing: none left
            #expect(try await getMetadata(client, name.text).isEmpty)
            // A missing file: ENOENT for both, and nothing is recorded for it.
            let missing = "M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg"
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await setMetadata(client, missing, [("a", "b")], .merge) }
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await getMetadata(client, missing) }
            try await storage.store.catalog.flush()
            #expect(try storage.store.catalog.catalog.file(missing) == nil)
            // Metadata beyond the limit (256 KiB buffered body by default) closes the connection with EINVAL.
            let big = SetMetadataRequest(group: Self.group, filename: name.text, operation: .overwrite,
                                         metadata: FDFSMetadata([.init("k", String(repeating: "v", count: 200))]).wireBytes + Array(repeating: 0x41, count: 300_000))
            let refused = try await storage.client()
            #expect(try await refused.send(big.requestPacket()).header.status == FDFSStatus.EINVAL.rawValue)
            // The file and its (empty) metadata are untouched, and the server still serves.
            #expect(try await getMetadata(client, name.text).isEmpty)
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == Array("picture".utf8))
            // Deleting the file deletes its metadata.
            try await setMetadata(client, name.text, [("k", "v")], .overwrite)
            _ = try await client.request(DeleteFileRequest(group: Self.group, filename: name.text))
            try await storage.store.catalog.flush()
            #expect(try storage.store.catalog.catalog.snapshot().metadata.isEmpty)
            await client.close()
        }
    }

    /// Every kind of write, then: the live catalog equals one rebuilt from the files and the
    /// binlog; every write is in the binlog exactly once with its letter; listing the group
    /// returns every file once.
    @Test func rebuildEqualsLiveAndEveryWriteIsLoggedOnce() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            var expectedLog: [(Character, String)] = []
            var kept: [RemoteFilename] = []
            for i in 0..<20 {
                let name = try await upload(client, Array("file \(i)".utf8), ext: i % 2 == 0 ? "txt" : "")
                expectedLog.append(("C", name.text))
                kept.append(name)
            }
            // Deleted files leave the catalog.
            for name in kept.suffix(5) {
                _ = try await client.request(DeleteFileRequest(group: Self.group, filename: name.text))
                expectedLog.append(("D", name.text))
            }
            let deletedNames = kept.suffix(5).map(\.text)
            kept.removeLast(5)
            // Metadata on two files (U records).
            try await setMetadata(client, kept[0].text, [("a", "1"), ("b", "2")], .overwrite)
            expectedLog.append(("U", kept[0].text + "-m"))
            try await setMetadata(client, kept[1].text, [("c", "3")], .merge)
            expectedLog.append(("U", kept[1].text + "-m"))
            // An appender that grows, is modified and truncated; another regenerated to a normal file.
            let log = try await upload(client, Array("hello".utf8), ext: "log", appender: true)
            expectedLog.append(("C", log.text))
            var append = AppendFileRequest(filename: log.text, appendSize: 6).requestPacket()
            append.writeBytes(Array(" world".utf8))
            #expect(try await client.send(append).header.status == 0)
            expectedLog.append(("A", log.text))
            var modify = ModifyFileRequest(filename: log.text, offset: 0, modifySize: 1).requestPacket()
            modify.writeBytes(Array("H".utf8))
            #expect(try await client.send(modify).header.status == 0)
            expectedLog.append(("M", log.text))
            _ = try await client.request(TruncateFileRequest(filename: log.text, newSize: 8))
            expectedLog.append(("T", log.text))
            try await setMetadata(client, log.text, [("kind", "log")], .overwrite)
            expectedLog.append(("U", log.text + "-m"))
            let other = try await upload(client, Array("final content".utf8), ext: "bin", appender: true)
            expectedLog.append(("C", other.text))
            try await setMetadata(client, other.text, [("moves", "with the file")], .overwrite)
            expectedLog.append(("U", other.text + "-m"))
            let regenerated = try await client.request(RegenerateAppenderFilenameRequest(filename: other.text)).remoteFilename
            expectedLog.append(("R", regenerated))
            // A slave file of kept[2].
            var slave = UploadSlaveFileRequest(masterFilename: kept[2].text, fileSize: 5, prefix: "_s", fileExtension: "txt").requestPacket()
            slave.writeBytes(Array("thumb".utf8))
            let slaveName = try UploadResponse.decode(body: try await client.send(slave).body, command: 21).remoteFilename
            expectedLog.append(("C", slaveName))
            await client.close()

            // The binlog: each write once, in order, with its letter.
            let lines = try storage.binlog().split(separator: "\n").map { $0.split(separator: " ") }
            #expect(lines.map { "\($0[1]) \($0[2])" } == expectedLog.map { "\($0.0) \($0.1)" })

            // The live catalog.
            try await storage.store.catalog.flush()
            let live = try storage.store.catalog.catalog.snapshot()
            #expect(live.files.count == 18, "15 uploads kept, the appender, the regenerated file, the slave")
            let logRow = live.files.first { $0.fileID == log.text }
            #expect(logRow?.size == 8 && logRow?.kind == .appender && logRow?.crc32 == nil)
            let regeneratedRow = live.files.first { $0.fileID == regenerated }
            #expect(regeneratedRow?.kind == .normal && regeneratedRow?.crc32 == CRC32.checksum(Array("final content".utf8)))
            #expect(live.metadata[regenerated] == [.init("moves", "with the file")] && live.metadata[other.text] == nil)
            let slaveRow = live.files.first { $0.fileID == slaveName }
            #expect(slaveRow?.kind == .slave && slaveRow?.crc32 == CRC32.checksum(Array("thumb".utf8)) && slaveRow?.size == 5)
            #expect(live.files.allSatisfy { $0.isSource && $0.group == "group1" })

            // Listing the group returns every file on disk exactly once.
            var listed: [String] = []
            var last = ""
            while let page = Optional(try storage.store.catalog.catalog.files(group: "group1", after: last, limit: 4)), let end = page.last {
                listed += page.map(\.fileID)
                last = end.fileID
            }
            let onDisk = try storage.files().filter { !$0.hasPrefix(".") && !$0.contains("/.") }.map { "M00/" + $0 }.sorted()
            #expect(listed == onDisk && Set(listed).count == listed.count)

            // Rebuilt in place (as `fdfs-storaged --rebuild-catalog` does with the daemon
            // stopped) from the store path and the binlog: equal to the live one.
            try storage.store.catalog.catalog.close()
            let copy = StorageStore.catalogPath(basePath: storage.base)
            let paths = StorePaths(paths: [StorePath(path: storage.base + "/store0")], subdirCount: 2)
            let report = try CatalogRebuild.rebuild(catalogPath: copy, paths: paths, group: Self.group,
                                                    source: .ipv4(IPv4Address(127, 0, 0, 2)), basePath: storage.base)
            #expect(report.files == live.files.count && report.filesWithMetadata == 4 && report.oldCatalogReadable)
            let rebuilt = try FileCatalog(path: copy).snapshot()
            #expect(rebuilt == live)
            // A storage killed before its last catalog batches committed: the catalog misses a
            // new file's row and still has a deleted file's row. The catch-up at start reads the
            // binlog after the catalog's recorded position (none here: all of it) and sets both
            // from the disk, with a tombstone for every delete (the chaos campaign found
            // QUERY_FILE_INFO answering for deleted files after a kill).
            let stale = try FileCatalog(path: copy)
            let dropped = try #require(live.files.first { $0.fileID == kept[5].text })
            var ghost = dropped
            ghost.fileID = deletedNames[0]
            try stale.applyNow([.remove(fileID: dropped.fileID), .upsert(ghost)])
            #expect(try stale.binlogApplied() == nil)
            let caught = try CatalogCatchUp.run(catalog: stale, paths: paths, source: .ipv4(IPv4Address(127, 0, 0, 2)), group: Self.group,
                                                basePath: storage.base)
            #expect(caught.refreshed == 1 && caught.removed == 1 && caught.records == lines.count, "\(caught)")
            #expect(try stale.snapshot() == live)
            for name in deletedNames { #expect(try stale.tombstone(name) != nil) }
            #expect(try stale.tombstone(kept[5].text) == nil)
            // Caught up: the next start reads nothing more.
            #expect(try stale.binlogApplied() != nil)
            #expect(try CatalogCatchUp.run(catalog: stale, paths: paths, source: .ipv4(IPv4Address(127, 0, 0, 2)), group: Self.group,
                                           basePath: storage.base).records == 0)
            try stale.close()
            // Without an old catalog, everything but the metadata is rebuilt.
            let fresh = storage.base + "/data/fresh.sqlite"
            let freshReport = try CatalogRebuild.rebuild(catalogPath: fresh, paths: paths, group: Self.group,
                                                         source: .ipv4(IPv4Address(127, 0, 0, 2)), basePath: storage.base)
            #expect(!freshReport.oldCatalogReadable)
            #expect(try FileCatalog(path: fresh).snapshot() == CatalogSnapshot(files: live.files, metadata: [:]))
        }
    }
}

import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing
@testable import FDFSStorage

/// LIST_FILES (250) against a live storage, through `StorageClient`.
@Suite(.serialized) struct ListFilesServingTests {
    static let group = try! GroupName("group1")

    func client(_ storage: RunningStorage) async throws -> StorageClient {
        try await StorageClient.connect(host: "127.0.0.1", port: storage.port)
    }

    /// 24 normal uploads (one deleted again) and one appender (then grown); the catalog commits only
    /// after a long coalescing delay, so the listing right after the last write sees it only
    /// because the storage waits for pending catalog writes.
    @Test func listsEveryLiveFileOnceInPagesWithPrefixAndErrors() async throws {
        try await withStorage(catalogCoalesceDelay: .milliseconds(400)) { storage in
            let client = try await client(storage)
            let start = Int64(Date().timeIntervalSince1970)
            var expected: [String: (size: Int64, crc32: UInt32?, kind: FileKind)] = [:]
            var deleted: FileID? = nil
            for i in 0..<24 {
                let content = Array("file number \(i) ".utf8) + Array(repeating: UInt8(i), count: i * 37)
                let id = try await client.uploadFile(.bytes(content), fileExtension: i % 3 == 0 ? "" : "txt").fileID()
                if i == 11 {
                    deleted = id
                } else {
                    expected[id.remoteFilename.text] = (Int64(content.count), CRC32.checksum(content), .normal)
                }
            }
            let appender = try await client.uploadAppenderFile(.bytes(Array("log start".utf8)), fileExtension: "log").fileID()
            try await client.appendFile(appender, .bytes(Array(", more".utf8)))
            expected[appender.remoteFilename.text] = (15, nil, .appender)
            let gone = try #require(deleted)
            try await client.deleteFile(gone)
            #expect(expected.count == 24)

            // Pages of 7: 24 files are 7 + 7 + 7 + 3, each file exactly once, in name order.
            var pages: [[ListedFile]] = []
            try await client.listAllFiles(group: Self.group, pageSize: 7) { pages.append($0) }
            #expect(pages.map(\.count) == [7, 7, 7, 3])
            let listed = pages.flatMap { $0 }
            let names = listed.map(\.remoteFilename)
            #expect(names == expected.keys.sorted(), "every live file once, sorted")
            #expect(!names.contains(gone.remoteFilename.text), "the deleted file is not listed")
            let end = Int64(Date().timeIntervalSince1970)
            for file in listed {
                let want = try #require(expected[file.remoteFilename])
                #expect(file.size == want.size && file.crc32 == want.crc32 && file.kind == want.kind, "\(file.remoteFilename)")
                #expect(file.isSource && (start...end).contains(file.created), "\(file.remoteFilename)")
            }
            // What the catalog says, the disk agrees with.
            let onDisk = try storage.files().filter { !$0.contains("/.") && !$0.hasPrefix(".") }.map { "M00/" + $0 }.sorted()
            #expect(onDisk == names)

            // One page by hand, continuing after a name; with a page size that divides the count
            // the last, empty page ends the listing without reaching `body`.
            let second = try await client.listFiles(group: Self.group, after: names[6], limit: 7)
            #expect(second.map(\.remoteFilename) == Array(names[7..<14]))
            var pageSizes: [Int] = []
            try await client.listAllFiles(group: Self.group, pageSize: 12) { pageSizes.append($0.count) }
            #expect(pageSizes == [12, 12])

            // Prefix: one directory (the store rotates over M00/00/00, 00/01, 01/00, 01/01),
            // and a shorter prefix spanning two of them.
            let directories = Set(names.map { String($0.prefix(10)) })
            #expect(directories.count > 1)
            for prefix in directories.sorted() + ["M00/01", "M00/00/0", "M00/", "M01/", "M00/zz"] {
                var found: [String] = []
                try await client.listAllFiles(group: Self.group, prefix: prefix, pageSize: 7) { page in
                    #expect(page.allSatisfy { $0.remoteFilename.hasPrefix(prefix) })
                    found += page.map(\.remoteFilename)
                }
                #expect(found == names.filter { $0.hasPrefix(prefix) }, "prefix \(prefix)")
            }
            #expect(try await client.listFiles(group: Self.group, prefix: "M01/").isEmpty)

            // A file uploaded now is in the next listing (the storage flushes its catalog first).
            let late = try await client.uploadFile(.bytes([1, 2, 3]), fileExtension: "bin").fileID()
            let dir = String(late.remoteFilename.text.prefix(10))
            let page = try await client.listFiles(group: Self.group, prefix: dir)
            #expect(page.contains { $0.remoteFilename == late.remoteFilename.text && $0.size == 3 })
            await client.close()

            // Another group: EINVAL, and the storage closes the connection.
            let other = try await self.client(storage)
            await #expect(throws: FDFSClientError.status(.EINVAL)) {
                try await other.listFiles(group: try GroupName("group2"))
            }
            await #expect(throws: (any Error).self) { try await other.activeTest() }
            await other.close()
            // Limit 0 (sent raw; the client refuses it before sending): EINVAL.
            let raw = try await storage.client()
            await #expect(throws: FDFSClientError.status(.EINVAL)) {
                try await raw.request(ListFilesRequest(group: Self.group, limit: 0))
            }
            await raw.close()
            let raw2 = try await storage.client()
            await #expect(throws: FDFSClientError.status(.EINVAL)) {
                try await raw2.request(ListFilesRequest(group: Self.group, limit: 1001))
            }
            await raw2.close()
            let checked = try await self.client(storage)
            await #expect(throws: FDFSClientError.self) { try await checked.listFiles(group: Self.group, limit: 0) }
            await #expect(throws: FDFSClientError.self) { try await checked.listFiles(group: Self.group, prefix: "M00 ") }
            // Nothing was sent for those: the connection still serves.
            #expect(try await checked.listFiles(group: Self.group, limit: 1).count == 1)
            await checked.close()
        }
    }
}

import FDFSModel
import FDFSTesting
import Foundation
import Testing
@testable import FDFSStorageEngine

@Suite struct FileCatalogTests {
    static func entry(_ n: Int, group: String = "group1", kind: FileKind = .normal, size: Int64 = 10) -> CatalogEntry {
        CatalogEntry(fileID: String(format: "M00/00/%02X/file%05d.txt", n % 256, n), group: group, size: size,
                     crc32: kind == .appender ? nil : UInt32(n), created: 1_700_000_000 + Int64(n), isSource: n % 3 != 0, kind: kind)
    }

    func catalog() throws -> FileCatalog { try FileCatalog(path: try temporaryDirectory() + "/catalog.sqlite") }

    @Test func rowsRoundTripWithEveryColumn() throws {
        let c = try catalog()
        let a = Self.entry(1), b = Self.entry(2, kind: .appender), s = Self.entry(3, kind: .slave)
        try c.applyNow([.upsert(a), .upsert(b), .upsert(s)])
        #expect(try c.file(a.fileID) == a)
        #expect(try c.file(b.fileID) == b && b.crc32 == nil)
        #expect(try c.file(s.fileID) == s && s.isSource == false)
        #expect(try c.file("M00/00/00/missing") == nil)
        try c.applyNow([.resize(fileID: b.fileID, size: 99)])
        #expect(try c.file(b.fileID)?.size == 99)
        #expect(try c.count() == 3)
    }

    @Test func metadataOverwriteMergeRenameRemove() async throws {
        let c = try catalog()
        let a = Self.entry(7, kind: .appender)
        try c.applyNow([.upsert(a)])
        try c.applyNow([.setMetadata(file: a, items: [.init("width", "100"), .init("author", "x")], merge: false)])
        // Sorted by name, byte order.
        #expect(try await c.metadata(of: a.fileID) == [.init("author", "x"), .init("width", "100")])
        try c.applyNow([.setMetadata(file: a, items: [.init("width", "200"), .init("Height", "5")], merge: true)])
        #expect(try await c.metadata(of: a.fileID) == [.init("Height", "5"), .init("author", "x"), .init("width", "200")])
        try c.applyNow([.setMetadata(file: a, items: [.init("only", "1")], merge: false)])
        #expect(try await c.metadata(of: a.fileID) == [.init("only", "1")])
        // The appender gets its final name: the row and its metadata move.
        var renamed = Self.entry(8)
        renamed.fileID = "M00/00/08/renamed.txt"
        try c.applyNow([.rename(from: a.fileID, to: renamed)])
        #expect(try c.file(a.fileID) == nil && c.file(renamed.fileID) == renamed)
        #expect(try await c.metadata(of: a.fileID).isEmpty)
        #expect(try await c.metadata(of: renamed.fileID) == [.init("only", "1")])
        // Overwrite with nothing removes all metadata; removing the file removes the rest.
        try c.applyNow([.setMetadata(file: renamed, items: [], merge: false)])
        #expect(try await c.metadata(of: renamed.fileID).isEmpty)
        try c.applyNow([.setMetadata(file: renamed, items: [.init("k", "v")], merge: true), .remove(fileID: renamed.fileID)])
        #expect(try c.snapshot() == CatalogSnapshot(files: [], metadata: [:]))
    }

    @Test func metadataForAFileTheCatalogMissedRecordsTheFile() async throws {
        let c = try catalog()
        let a = Self.entry(9)
        try c.applyNow([.setMetadata(file: a, items: [.init("k", "v")], merge: true)])
        #expect(try c.file(a.fileID) == a)
        // A later upsert (say, the file's own batch arriving late) keeps the metadata.
        try c.applyNow([.upsert(a)])
        #expect(try await c.metadata(of: a.fileID) == [.init("k", "v")])
    }

    @Test func listingByGroupReturnsEveryFileOnceAcrossPages() throws {
        let c = try catalog()
        let mine = (0..<250).map { Self.entry($0) }
        let other = (250..<300).map { Self.entry($0, group: "group2") }
        try c.applyNow((mine + other).shuffled().map { .upsert($0) })
        for pageSize in [1, 7, 100, 1000] {
            var seen: [String] = []
            var last = ""
            while true {
                let page = try c.files(group: "group1", after: last, limit: pageSize)
                guard let end = page.last else { break }
                #expect(page.count <= pageSize)
                seen += page.map(\.fileID)
                last = end.fileID
            }
            #expect(seen == mine.map(\.fileID).sorted(), "page size \(pageSize)")
        }
        #expect(try c.files(group: "group2").count == 50)
        #expect(try c.files(group: "group3").isEmpty)
    }

    @Test func listingByPrefixSelectsExactlyTheNamesStartingWithIt() async throws {
        let c = try catalog()
        let mine = (0..<600).map { Self.entry($0) }  // directories M00/00/00 ... M00/00/FF
        let other = (0..<40).map { n in
            var e = Self.entry(n, group: "group2")
            e.fileID = "M00/00/01/other\(n).txt"
            return e
        }
        // Neighbours that share a prefix only as text, and ids that sort right around the bounds.
        let edges = ["M00/00/0", "M00/00/01", "M00/00/01~", "M00/00/02", "M00/00/00/", "M00/00/01/"].map { id in
            var e = Self.entry(0)
            e.fileID = id
            return e
        }
        try c.applyNow((mine + other + edges).shuffled().map { .upsert($0) })
        let all = (mine + edges).map(\.fileID)
        for prefix in ["", "M00", "M00/00/01", "M00/00/01/", "M00/00/01/file00001", "M00/00/01/file00001.txt", "M00/00/FF/", "M01", "Z", "M00/00/01~"] {
            let expected = all.filter { $0.hasPrefix(prefix) }.sorted()
            for pageSize in [1, 3, 1000] {
                var seen: [String] = []
                var last = ""
                while true {
                    let page = try c.files(group: "group1", prefix: prefix, after: last, limit: pageSize)
                    #expect(page.count <= pageSize)
                    seen += page.map(\.fileID)
                    guard page.count == pageSize, let end = page.last else { break }
                    last = end.fileID
                }
                #expect(seen == expected, "prefix '\(prefix)' page size \(pageSize)")
            }
        }
        #expect(try c.files(group: "group1", prefix: "M00/00/01/").count == 3 + 1)  // file00001, 257, 513 and the bare "M00/00/01/"
        // `after` before the prefix range starts at the range; after its end, nothing.
        #expect(try c.files(group: "group1", prefix: "M00/00/02/", after: "M00/00/01/zzz", limit: 1).map(\.fileID) == ["M00/00/02/file00002.txt"])
        #expect(try c.files(group: "group1", prefix: "M00/00/02/", after: "M00/00/03", limit: 10).isEmpty)
        // Another group's names under the same prefix are not listed, and it lists its own.
        #expect(try c.files(group: "group2", prefix: "M00/00/01/").count == 40)
        #expect(try c.files(group: "group2", prefix: "M00/00/02/").isEmpty)

        // Through the writer: changes queued and not yet committed are part of the page.
        let writer = CatalogWriter(catalog: c, coalesceDelay: .milliseconds(200))
        var fresh = Self.entry(5000)
        fresh.fileID = "M00/00/01/fresh.txt"
        await writer.enqueue(.upsert(fresh))
        await writer.enqueue(.remove(fileID: "M00/00/01/file00001.txt"))
        let page = try await writer.files(group: "group1", prefix: "M00/00/01/")
        #expect(page.map(\.fileID) == ["M00/00/01/", "M00/00/01/file00257.txt", "M00/00/01/file00513.txt", "M00/00/01/fresh.txt"])
        #expect(page.last == fresh)
    }

    @Test func writerBatchesAndFlushSeesEverything() async throws {
        let c = try catalog()
        let writer = CatalogWriter(catalog: c)
        let entries = (0..<3000).map { Self.entry($0) }
        for e in entries { await writer.enqueue(.upsert(e)) }
        try await writer.flush()
        #expect(try c.count() == 3000)
        let commits = await writer.commits
        // Changes queued while a transaction commits share the next one.
        #expect(commits >= 1 && commits < 3000)
        // commit() returns only when its change is in the database.
        try await writer.commit(.setMetadata(file: entries[5], items: [.init("a", "b")], merge: false))
        #expect(try await c.metadata(of: entries[5].fileID) == [.init("a", "b")])
        try await writer.flush()  // nothing pending: returns at once
    }

    @Test func writerReportsAFailedBatch() async throws {
        let dir = try temporaryDirectory()
        let c = try FileCatalog(path: dir + "/catalog.sqlite")
        try c.close()
        let failures = Counter()
        let writer = CatalogWriter(catalog: c) { _ in failures.increment() }
        await writer.enqueue(.upsert(Self.entry(1)))
        await #expect(throws: CatalogError.self) { try await writer.flush() }
        #expect(failures.value == 1)
    }
}

/// A thread-safe counter for callbacks.
final class Counter: @unchecked Sendable {
    private var count = 0
    private let lock = NSLock()
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import NIOCore
import Testing
@testable import FDFSStorage

/// The receiving side of replication against the real handler (cluster spec §6.5): replies,
/// replica binlog lines with the sender's timestamp, and the refusals.
@Suite struct SyncReceiverTests {
    static let group = try! GroupName("group1")
    static let ts: Int32 = 1_700_000_000

    /// A normal file name of a peer (source 127.0.0.9) for `content`.
    static func name(for content: [UInt8], ext: String = "bin") throws -> RemoteFilename {
        let block = FileNameBlock(source: .ipv4(IPv4Address(127, 0, 0, 9)), createTimestamp: ts,
                                  sizeField: .normal(size: Int64(content.count), random: 7), crc32: CRC32.checksum(content))
        return try RemoteFilename(storePathIndex: 0, subdirHigh: 0, subdirLow: 1, name: block.encoded + "123.\(ext)")
    }

    static func appenderName() throws -> RemoteFilename {
        let block = FileNameBlock(source: .ipv4(IPv4Address(127, 0, 0, 9)), createTimestamp: ts, sizeField: .appender(random: 3), crc32: 0)
        return try RemoteFilename(storePathIndex: 0, subdirHigh: 1, subdirLow: 0, name: block.encoded + "456.log")
    }

    static func send<R: FDFSStreamingRequest>(_ client: FDFSClientConnection, _ request: R, _ content: [UInt8]) async throws -> FDFSStatus {
        let head = request.requestPacket(allocator: client.channel.allocator)
        return FDFSStatus(try await client.send(head: head, content: SingleBuffer(buffer: ByteBuffer(bytes: content)), contentLength: request.contentLength).header.status)
    }

    static func call<R: FDFSRequest>(_ client: FDFSClientConnection, _ request: R) async throws -> FDFSStatus {
        FDFSStatus(try await client.send(request.requestPacket()).header.status)
    }

    static func records(_ storage: RunningStorage) throws -> [String] { try storage.binlog().split(separator: "\n").map(String.init) }

    @Test func wholeFilesAreCheckedPlacedAndRecordedAsReplicas() async throws {
        let stats = StorageStats()
        try await withStorage(stats: stats) { storage in
            let client = try await storage.client()
            #expect(try await Self.call(client, ReportServerIDRequest(storageID: try StorageID("100009"))) == .success)
            let content = Array("replicated bytes".utf8)
            let name = try Self.name(for: content)
            let create = SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: name.text, fileSize: Int64(content.count))
            #expect(try await Self.send(client, create, content) == .success)
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == content)
            let path = storage.base + "/store0/data/" + name.relativePath.dropFirst(4)
            let attributes = try FileManager.default.attributesOfItem(atPath: String(path))
            #expect((attributes[.modificationDate] as? Date).map { Int32($0.timeIntervalSince1970) } == Self.ts, "mtime is the source's time")
            // Sent again (a resend after a crash): EEXIST, and the record is there again.
            #expect(try await Self.send(client, create, content) == .EEXIST)
            // "Same file, no content" (header status 17).
            let noContent = SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: name.text, fileSize: Int64(content.count), hasContent: false)
            #expect(try await Self.send(client, noContent, []) == .EEXIST)
            #expect(try Self.records(storage) == Array(repeating: "\(Self.ts) c \(name.text)", count: 3))

            // Bytes that do not match the name's CRC32 are refused and not stored.
            let other = Array("other content ok".utf8)
            let otherName = try Self.name(for: other)
            var damaged = other
            damaged[3] ^= 0xFF
            let bad = SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: otherName.text, fileSize: Int64(damaged.count))
            #expect(try await Self.send(client, bad, damaged) == .EIO)
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.request(DownloadFileRequest(group: Self.group, filename: otherName.text)) }
            #expect(try storage.files().filter { $0.contains(".tmp") }.isEmpty, "no temporary file left behind")

            // Delete: 0 then ENOENT.
            #expect(try await Self.call(client, SyncDeleteFileRequest(timestamp: Self.ts + 1, group: Self.group, filename: name.text)) == .success)
            #expect(try await Self.call(client, SyncDeleteFileRequest(timestamp: Self.ts + 1, group: Self.group, filename: name.text)) == .ENOENT)
            #expect(try Self.records(storage).last == "\(Self.ts + 1) d \(name.text)")
            await client.close()

            // Sync-in bytes: every sync packet (header, body, content) in the total, the
            // answered-with-success ones (the first create, the first delete) in success.
            let createBytes = Int64(create.requestPacket().readableBytes + content.count)
            let noContentBytes = Int64(noContent.requestPacket().readableBytes)
            let badBytes = Int64(bad.requestPacket().readableBytes + damaged.count)
            let deleteBytes = Int64(SyncDeleteFileRequest(timestamp: Self.ts + 1, group: Self.group, filename: name.text).requestPacket().readableBytes)
            #expect(stats.counters.totalSyncInBytes == 2 * createBytes + noContentBytes + badBytes + 2 * deleteBytes)
            #expect(stats.counters.successSyncInBytes == createBytes + deleteBytes)
            // Opened: the first create's copy, the damaged copy, the download.
            #expect((stats.counters.totalFileOpenCount, stats.counters.successFileOpenCount) == (3, 3))
        }
    }

    /// A delete that arrives before the create it undoes (from another member, while the
    /// file's source lagged), or a create sent again after the delete (at-least-once delivery),
    /// must not bring the file back: the delete leaves a tombstone. The chaos campaign found
    /// deleted files back on two members of three.
    @Test func aDeletedFileIsNotCreatedAgainByALateCreate() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            #expect(try await Self.call(client, ReportServerIDRequest(storageID: try StorageID("100009"))) == .success)
            let content = Array("deleted before it arrived".utf8)
            let name = try Self.name(for: content)
            // The delete first: nothing to delete (ENOENT, as before), but recorded.
            #expect(try await Self.call(client, SyncDeleteFileRequest(timestamp: Self.ts + 5, group: Self.group, filename: name.text)) == .ENOENT)
            let create = SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: name.text, fileSize: Int64(content.count))
            #expect(try await Self.send(client, create, content) == .EEXIST, "the sender takes EEXIST as done")
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)) }
            // After a committed tombstone too (not only one still queued).
            try await storage.store.catalog.flush()
            #expect(try await Self.send(client, create, content) == .EEXIST)
            #expect(!FileManager.default.fileExists(atPath: storage.base + "/store0/data/" + name.relativePath.dropFirst(4)))
            // A file deleted after it arrived, then sent again: stays deleted.
            let other = Array("created, deleted, resent".utf8)
            let otherName = try Self.name(for: other)
            let otherCreate = SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: otherName.text, fileSize: Int64(other.count))
            #expect(try await Self.send(client, otherCreate, other) == .success)
            #expect(try await Self.call(client, SyncDeleteFileRequest(timestamp: Self.ts + 1, group: Self.group, filename: otherName.text)) == .success)
            #expect(try await Self.send(client, otherCreate, other) == .EEXIST)
            // A version written after the delete (a name used again, as a slave file's can be) is stored.
            let again = SyncCreateFileRequest(timestamp: Self.ts + 9, group: Self.group, filename: name.text, fileSize: Int64(content.count))
            #expect(try await Self.send(client, again, content) == .success)
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == content)
            #expect(try Self.records(storage) == ["\(Self.ts + 5) d \(name.text)", "\(Self.ts) c \(otherName.text)",
                                                  "\(Self.ts + 1) d \(otherName.text)", "\(Self.ts + 9) c \(name.text)"])
            await client.close()
        }
    }

    /// A delete that arrives while the create of the same name is still streaming in: the
    /// create had found no tombstone when its header came, so it checks again once its file is
    /// in place, and the file does not stay (the 30-minute chaos campaign found one of 510,738
    /// deletes undone this way).
    @Test func aDeleteThatArrivesWhileTheCreateStreamsInWins() async throws {
        let stats = StorageStats()
        try await withStorage(stats: stats) { storage in
            // Larger than what is held whole and written at once (`immediateContentBytes`): streamed.
            let content = (0..<(256 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            let name = try Self.name(for: content)
            let create = SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: name.text, fileSize: Int64(content.count))
            let held = try BlockingClient(port: storage.port, noDelay: true)
            defer { held.close() }
            try held.send(Array(buffer: create.requestPacket()) + content[..<1000])
            // The create's header is taken: its temporary file is open.
            #expect(try await eventually { stats.counters.totalFileOpenCount == 1 ? true : nil } == true)
            let client = try await storage.client()
            #expect(try await Self.call(client, SyncDeleteFileRequest(timestamp: Self.ts + 1, group: Self.group, filename: name.text)) == .ENOENT,
                    "nothing to unlink yet; the tombstone is recorded")
            let rest = Array(content[1000...])
            let reply = try await onOwnThread { try held.send(rest); return try held.receive(10) }
            #expect(FDFSStatus(reply[9]) == .EEXIST, "the sender takes EEXIST as done")
            #expect(try storage.files().isEmpty, "neither the file nor its temporary copy stays")
            await client.close()
        }
    }

    @Test func wrongGroupAndPathTricksAreEINVAL() async throws {
        try await withStorage { storage in
            let content = Array("x".utf8)
            let name = try Self.name(for: content)
            var client = try await storage.client()
            let wrong = SyncCreateFileRequest(timestamp: Self.ts, group: try GroupName("group2"), filename: name.text, fileSize: 1)
            #expect(try await Self.send(client, wrong, content) == .EINVAL)
            await client.close()
            client = try await storage.client()
            #expect(try await Self.call(client, SyncDeleteFileRequest(timestamp: Self.ts, group: Self.group, filename: "M00/00/../../../etc/passwd")) == .EINVAL)
            await client.close()
            #expect(try storage.binlog().isEmpty)
        }
    }

    @Test func appendModifyTruncateFollowTheReplyRules() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let name = try Self.appenderName()
            let data = [UInt8](repeating: 7, count: 100)
            // Missing file: the data is read and dropped, ENOENT (the sender then sends it whole).
            #expect(try await Self.send(client, SyncAppendFileRequest(timestamp: Self.ts, group: Self.group, filename: name.text, offset: 0, length: 100), data) == .ENOENT)
            let create = SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: name.text, fileSize: 100)
            #expect(try await Self.send(client, create, data) == .success)
            // Size == offset: appended.
            let more = [UInt8](repeating: 8, count: 50)
            let append = SyncAppendFileRequest(timestamp: Self.ts + 1, group: Self.group, filename: name.text, offset: 100, length: 50)
            #expect(try await Self.send(client, append, more) == .success)
            // The same append again: the bytes are there, EEXIST.
            #expect(try await Self.send(client, append, more) == .EEXIST)
            // A gap: ENOENT.
            #expect(try await Self.send(client, SyncAppendFileRequest(timestamp: Self.ts + 2, group: Self.group, filename: name.text, offset: 400, length: 50), more) == .ENOENT)
            // Modify inside the file.
            let patch = [UInt8](repeating: 9, count: 10)
            #expect(try await Self.send(client, SyncModifyFileRequest(timestamp: Self.ts + 3, group: Self.group, filename: name.text, offset: 5, length: 10), patch) == .success)
            // Truncate from a size the file does not have: skipped with EEXIST; from its size: done.
            #expect(try await Self.call(client, SyncTruncateFileRequest(timestamp: Self.ts + 4, group: Self.group, filename: name.text, oldSize: 999, newSize: 0)) == .EEXIST)
            #expect(try await Self.call(client, SyncTruncateFileRequest(timestamp: Self.ts + 4, group: Self.group, filename: name.text, oldSize: 150, newSize: 20)) == .success)
            var want = data + more
            want.replaceSubrange(5..<15, with: patch)
            want = Array(want[0..<20])
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == want)
            #expect(try Self.records(storage) == [
                "\(Self.ts) c \(name.text)", "\(Self.ts + 1) a \(name.text) 100 50", "\(Self.ts + 3) m \(name.text) 5 10",
                "\(Self.ts + 4) t \(name.text) 150 20",
            ])
            await client.close()
        }
    }

    @Test func metadataArrivesAsTheContentOfAMetadataFile() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let content = Array("with metadata".utf8)
            let name = try Self.name(for: content)
            #expect(try await Self.send(client, SyncCreateFileRequest(timestamp: Self.ts, group: Self.group, filename: name.text, fileSize: Int64(content.count)), content) == .success)
            let wire = FDFSMetadata([.init("a", "1"), .init("b", "2")]).wireBytes
            let update = SyncUpdateFileRequest(timestamp: Self.ts + 1, group: Self.group, filename: name.text + "-m", fileSize: Int64(wire.count))
            #expect(try await Self.send(client, update, wire) == .success)
            let got = try await StorageClient(connection: client).getMetadata(FileID(group: Self.group, remoteFilename: name))
            #expect(got == FDFSMetadata([.init("a", "1"), .init("b", "2")]))
            #expect(try await Self.call(client, SyncDeleteFileRequest(timestamp: Self.ts + 2, group: Self.group, filename: name.text + "-m")) == .success)
            #expect(try await StorageClient(connection: client).getMetadata(FileID(group: Self.group, remoteFilename: name)) == FDFSMetadata())
            #expect(try Self.records(storage).suffix(2) == ["\(Self.ts + 1) u \(name.text)-m", "\(Self.ts + 2) d \(name.text)-m"])
            await client.close()
        }
    }
}

/// The sender's pure rules: which records go (§6.2), the sync window, a C mark inside a line,
/// and the lag count.
@Suite struct PeerSyncRuleTests {
    static func record(_ op: BinlogOperation, ts: Int64 = 100) throws -> BinlogRecord {
        let extra: BinlogRecord.Extra = switch op.kind {
        case .append, .modify: .range(offsetBytes: 0, lengthBytes: 1)
        case .truncate: .sizes(oldSizeBytes: 1, newSizeBytes: 0)
        case .link: .linkTarget("M00/00/00/target")
        case .rename: .renamedFrom("M00/00/00/old")
        default: .none
        }
        return try BinlogRecord(timestampSeconds: ts, operation: op, filename: "M00/00/00/file", extra: extra)
    }

    @Test func sourceRecordsAlwaysGoReplicasOnlyDuringTheOldDataPass() throws {
        let plain = SyncMark()
        let source = SyncMark(needSyncOld: true, untilTimestamp: 100)
        var done = source
        done.syncOldDone = true
        for op in BinlogOperation.allCases {
            let r = try Self.record(op)
            if op.isSource {
                #expect(PeerSync.shouldPush(r, plain) && PeerSync.shouldPush(r, source) && PeerSync.shouldPush(r, done), "\(op)")
            } else {
                let forwarded = [BinlogOperation.Kind.create, .delete, .update, .link, .rename].contains(op.kind)
                #expect(PeerSync.shouldPush(r, source) == forwarded, "\(op)")
                #expect(!PeerSync.shouldPush(r, plain) && !PeerSync.shouldPush(r, done), "\(op)")
                #expect(!PeerSync.shouldPush(try Self.record(op, ts: 101), source), "\(op) after until")
            }
        }
    }

    @Test("after a failed session the next starts after 100 ms, doubling up to retry_delay; a restarted peer is reached at once")
    func retryBackoff() {
        let limit = Duration.seconds(5)
        let delays = (0..<10).map { PeerSync.retryDelay(afterFailures: $0, limit: limit) }
        #expect(delays.prefix(6) == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .milliseconds(3200)])
        #expect(delays.dropFirst(6).allSatisfy { $0 == limit })
        #expect(PeerSync.retryDelay(afterFailures: 1_000, limit: limit) == limit, "no overflow after many failures")
        #expect(PeerSync.statusPoll <= .milliseconds(200))
    }

    @Test func syncWindowMayWrapPastMidnight() {
        var s = SyncSettings(basePath: "/x", ownPort: 1, useStorageID: false)
        #expect(s.inSyncWindow(secondsSinceMidnight: 0))
        s.syncWindow = (2 * 3600, 6 * 3600)
        #expect(s.inSyncWindow(secondsSinceMidnight: 3 * 3600) && !s.inSyncWindow(secondsSinceMidnight: 7 * 3600))
        s.syncWindow = (22 * 3600, 6 * 3600)
        #expect(s.inSyncWindow(secondsSinceMidnight: 23 * 3600) && s.inSyncWindow(secondsSinceMidnight: 3600))
        #expect(!s.inSyncWindow(secondsSinceMidnight: 12 * 3600))
    }

    @Test func markInsideALineResumesAtTheNextLineAndLagCountsLines() throws {
        let dir = try temporaryDirectory()
        let lines = "1 C M00/00/00/a\n2 C M00/00/00/bb\n3 D M00/00/00/a\n"
        try lines.write(toFile: BinlogIndex.binlogPath(syncDirectory: dir, index: 0), atomically: true, encoding: .utf8)
        let second = Int64("1 C M00/00/00/a\n".utf8.count)
        #expect(PeerSync.lineStart(syncDirectory: dir, index: 0, offset: 0) == 0)
        #expect(PeerSync.lineStart(syncDirectory: dir, index: 0, offset: second) == second, "a line start stays")
        #expect(PeerSync.lineStart(syncDirectory: dir, index: 0, offset: 5) == second, "inside the first line: the second")
        var meter = LagMeter(position: BinlogPosition(fileIndex: 0, offsetBytes: second))
        meter.extend(syncDirectory: dir, end: BinlogPosition(fileIndex: 0, offsetBytes: Int64(lines.utf8.count)))
        #expect(meter.pendingRecords == 2)
        meter.consumed(to: BinlogPosition(fileIndex: 0, offsetBytes: second + 18))
        #expect(meter.pendingRecords == 1)
    }
}

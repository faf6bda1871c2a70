import FDFSClient
import FDFSFileSystem
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// `size` bytes of content in chunks of `chunkSize`, each chunk a new buffer made as it is
/// consumed (the whole content is never in memory). The bytes repeat a seeded pseudo-random
/// block of 65,537 bytes (a prime, so no two chunk boundaries see the same bytes), which makes
/// producing fast. `delay` slows the producer down between chunks.
struct GeneratedContent: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    static let period = 65_537
    let size: Int64
    let pattern: [UInt8]
    let chunkSize: Int
    let delay: Duration?

    init(size: Int64, seed: UInt64, chunkSize: Int = 256 * 1024, delay: Duration? = nil) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        self.size = size
        self.pattern = (0..<Self.period).map { _ in UInt8.random(in: 0 ... .max, using: &rng) }
        self.chunkSize = chunkSize
        self.delay = delay
    }

    func makeAsyncIterator() -> Iterator { Iterator(content: self) }

    struct Iterator: AsyncIteratorProtocol {
        let content: GeneratedContent
        var produced: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard produced < content.size else { return nil }
            if let delay = content.delay { try await Task.sleep(for: delay) }
            let n = Int(Swift.min(Int64(content.chunkSize), content.size - produced))
            var buffer = ByteBufferAllocator().buffer(capacity: n)
            var position = Int(produced % Int64(GeneratedContent.period))
            while buffer.readableBytes < n {
                let k = Swift.min(n - buffer.readableBytes, GeneratedContent.period - position)
                _ = content.pattern.withUnsafeBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[position..<position + k])) }
                position = (position + k) % GeneratedContent.period
            }
            produced += Int64(n)
            return buffer
        }
    }

    /// The CRC32 of the whole content, computed chunk by chunk.
    func crc32() async throws -> UInt32 {
        var crc = CRC32()
        for try await chunk in self { chunk.withUnsafeReadableBytes { crc.update($0) } }
        return crc.value
    }

    func bytes() async throws -> [UInt8] {
        var all: [UInt8] = []
        for try await chunk in self { all += chunk.readableBytesView }
        return all
    }
}

/// Content that calls `probe` before handing on each chunk of `base`.
struct ProbedContent<Base: AsyncSequence>: AsyncSequence where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let probe: () async throws -> Void

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), probe: probe) }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let probe: () async throws -> Void
        mutating func next() async throws -> ByteBuffer? {
            try await probe()
            return try await base.next()
        }
    }
}

/// Counts the bytes a channel reads from its socket (first in the pipeline).
final class SocketReadCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let total = NIOLockedValueBox<Int64>(0)
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let n = unwrapInboundIn(data).readableBytes
        total.withLockedValue { $0 += Int64(n) }
        context.fireChannelRead(data)
    }
}

/// Answers the first request with a header announcing `announced` bytes, `sent` of them, then closes.
final class Cutter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let announced: Int64
    let sent: Int
    var answered = false
    init(announced: Int64, sent: Int) {
        self.announced = announced
        self.sent = sent
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        var packet = context.channel.allocator.buffer(capacity: FDFSHeader.size + sent)
        FDFSHeader.response(bodyLength: announced).encode(into: &packet)
        packet.writeRepeatingByte(0x5A, count: sent)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(packet)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// A server that answers every request with a header announcing `announced` body bytes,
/// sends `sent` of them and closes: a connection cut in the middle of a response.
func withCuttingServer<T: Sendable>(announced: Int64, sent: Int, _ body: @Sendable (Int) async throws -> T) async throws -> T {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Cutter(announced: announced, sent: sent)) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    do {
        let result = try await body(server.localAddress!.port!)
        try await server.close()
        return result
    } catch {
        try? await server.close()
        throw error
    }
}

@Suite(.serialized) struct StorageClientTests {
    static let group = try! GroupName("group1")

    func client(_ storage: RunningStorage) async throws -> StorageClient {
        try await StorageClient.connect(host: "127.0.0.1", port: storage.port)
    }

    func localFiles(_ directory: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    @Test func uploadFromBytesBufferFileAndStream() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let hello = Array("hello world".utf8)
            let fromBytes = try await client.uploadFile(.bytes(hello), fileExtension: "txt")
            let id = try fromBytes.fileID()
            #expect(fromBytes.group == Self.group && id.remoteFilename.fileExtension == "txt")
            #expect(id.remoteFilename.sizeFromName == 11 && id.remoteFilename.block.crc32 == CRC32.checksum(hello))
            // Whole, from an offset, offset + length, a length past the end (clipped).
            #expect(try await client.downloadFile(id) == hello)
            #expect(try await client.downloadFile(id, offset: 6) == Array("world".utf8))
            #expect(try await client.downloadFile(id, offset: 2, length: 3) == Array("llo".utf8))
            #expect(try await client.downloadFile(id, offset: 9, length: 100) == Array("ld".utf8))

            let fromBuffer = try await client.uploadFile(.buffer(ByteBuffer(bytes: [9, 8, 7])), fileExtension: "bin")
            #expect(try await client.downloadFile(try fromBuffer.fileID()) == [9, 8, 7])

            // From a local file larger than one chunk (3 chunks and a bit).
            let directory = try temporaryDirectory()
            let content = GeneratedContent(size: 3 * 256 * 1024 + 1234, seed: 7)
            let bytes = try await content.bytes()
            _ = FileManager.default.createFile(atPath: directory + "/local.dat", contents: Data(bytes))
            let fromFile = try await client.uploadFile(.file(directory + "/local.dat"), fileExtension: "dat")
            let fileID = try fromFile.fileID()
            #expect(fileID.remoteFilename.sizeFromName == Int64(bytes.count) && fileID.remoteFilename.block.crc32 == CRC32.checksum(bytes))
            #expect(try await client.downloadFile(fileID) == bytes)

            // From an async sequence with small, odd-sized chunks.
            let stream = GeneratedContent(size: 100_001, seed: 8, chunkSize: 4093)
            let fromStream = try await client.uploadFile(.stream(stream, size: 100_001))
            #expect(try await client.downloadFile(try fromStream.fileID()) == (try await stream.bytes()))
            #expect(try fromStream.fileID().remoteFilename.fileExtension == "")
            await client.close()
        }
    }

    @Test func uploadErrors() async throws {
        try await withStorage { storage in
            let directory = try temporaryDirectory()
            // Client-side checks: nothing is sent, the connection stays usable.
            let client = try await client(storage)
            await #expect(throws: FileIDError.invalidExtension("toolong")) { try await client.uploadFile(.bytes([1]), fileExtension: "toolong") }
            #expect(await #expect(throws: FileSystemError.self) { try await client.uploadFile(.file(directory + "/missing")) }?.errno == ENOENT)
            #expect(await #expect(throws: FileSystemError.self) { try await client.uploadFile(.file(directory)) }?.errno == EISDIR)
            try await client.activeTest()
            // A stream shorter or longer than announced: the request is cut, the connection closed.
            await #expect(throws: FDFSClientError.contentLengthMismatch(expected: 10_000, actual: 5_000)) {
                try await client.uploadFile(.stream(GeneratedContent(size: 5_000, seed: 1), size: 10_000))
            }
            await #expect(throws: FDFSClientError.connectionClosed) { try await client.activeTest() }
            let other = try await self.client(storage)
            await #expect(throws: FDFSClientError.contentLengthMismatch(expected: 1_000, actual: 4_000)) {
                try await other.uploadFile(.stream(GeneratedContent(size: 8_000, seed: 1, chunkSize: 4_000), size: 1_000))
            }
            // Nothing of either reached the store.
            for _ in 0..<20 {
                if try storage.files().isEmpty { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try storage.files().isEmpty && storage.binlog().isEmpty)
        }
    }

    @Test func anEarlyErrorStopsALargeUpload() async throws {
        try await withStorage(hasSpace: { _ in false }) { storage in
            let client = try await client(storage)
            // 32 MiB announced; the storage answers ENOSPC on the first buffer-full and the
            // client stops sending instead of pushing the rest.
            let started = ContinuousClock.now
            await #expect(throws: FDFSClientError.status(.ENOSPC)) {
                try await client.uploadFile(.stream(GeneratedContent(size: 32 << 20, seed: 2), size: 32 << 20))
            }
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(try storage.files().isEmpty)
        }
    }

    @Test func requestsIssuedDuringAStreamedUploadWaitForIt() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let content = GeneratedContent(size: 2 << 20, seed: 3, chunkSize: 64 * 1024, delay: .milliseconds(5))
            let id = try await withThrowingTaskGroup(of: FileID?.self) { tasks in
                tasks.addTask { try await client.uploadFile(.stream(content, size: 2 << 20), fileExtension: "bin").fileID() }
                tasks.addTask {
                    try await Task.sleep(for: .milliseconds(40))
                    try await client.activeTest()
                    return nil
                }
                var id: FileID? = nil
                for try await result in tasks { if let result { id = result } }
                return id!
            }
            #expect(id.remoteFilename.block.crc32 == (try await content.crc32()))
            #expect(try await client.downloadFile(id) == (try await content.bytes()))
            await client.close()
        }
    }

    @Test func downloadToFileAndToChunks() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let content = GeneratedContent(size: 1_500_000, seed: 4)
            let bytes = try await content.bytes()
            let id = try await client.uploadFile(.bytes(bytes), fileExtension: "dat").fileID()
            let directory = try temporaryDirectory()
            // To a new file, then over an existing one, whole and partial.
            #expect(try await client.downloadFile(id, toPath: directory + "/out.dat") == 1_500_000)
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: directory + "/out.dat"))) == bytes)
            #expect(try await client.downloadFile(id, offset: 1000, length: 70_000, toPath: directory + "/out.dat") == 70_000)
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: directory + "/out.dat"))) == Array(bytes[1000..<71_000]))
            // To a chunk consumer: parts in order, never more than one socket read each.
            var parts = 0
            var received: [UInt8] = []
            let n = try await client.downloadFile(id, offset: 10) { part in
                parts += 1
                received += part.readableBytesView
            }
            #expect(n == 1_499_990 && received == Array(bytes[10...]) && parts > 1)
            // A failed download to a file leaves the existing file as it was and no temporary file.
            let missing = FileID(group: Self.group, remoteFilename: try RemoteFilename(parsing: String(id.remoteFilename.text.dropLast(3)) + "xyz"))
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.downloadFile(missing, toPath: directory + "/out.dat") }
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: directory + "/out.dat"))) == Array(bytes[1000..<71_000]))
            #expect(try localFiles(directory) == ["out.dat"])
            #expect(await #expect(throws: FileSystemError.self) { try await client.downloadFile(id, toPath: directory + "/no/such/dir") }?.errno == ENOENT)
            // A consumer that throws: its error, the connection is closed, the server unharmed.
            struct Stop: Error, Equatable {}
            await #expect(throws: Stop()) { try await client.downloadFile(id) { _ in throw Stop() } }
            await #expect(throws: FDFSClientError.connectionClosed) { try await client.activeTest() }
            let again = try await self.client(storage)
            #expect(try await again.downloadFile(id, offset: 1_499_000) == Array(bytes[1_499_000...]))
            await again.close()
        }
    }

    @Test func aConnectionCutMidBodyIsConnectionClosed() async throws {
        try await withCuttingServer(announced: 100_000, sent: 3_000) { port in
            let id = try FileID(parsing: "group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg")
            let client = try await StorageClient.connect(host: "127.0.0.1", port: port)
            var received = 0
            await #expect(throws: FDFSClientError.connectionClosed) { try await client.downloadFile(id) { received += $0.readableBytes } }
            #expect(received == 3_000)
            let directory = try temporaryDirectory()
            _ = FileManager.default.createFile(atPath: directory + "/keep", contents: Data([1, 2, 3]))
            let second = try await StorageClient.connect(host: "127.0.0.1", port: port)
            await #expect(throws: FDFSClientError.connectionClosed) { try await second.downloadFile(id, toPath: directory + "/keep") }
            #expect(try localFiles(directory) == ["keep"] && FileManager.default.contents(atPath: directory + "/keep") == Data([1, 2, 3]))
            // The buffered path too.
            let third = try await StorageClient.connect(host: "127.0.0.1", port: port)
            await #expect(throws: FDFSClientError.connectionClosed) { try await third.queryFileInfo(id) }
        }
    }

    @Test func emptyFiles() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let normal = try await client.uploadFile(.bytes([]), fileExtension: "txt").fileID()
            #expect(normal.remoteFilename.sizeFromName == 0)
            #expect(try await client.downloadFile(normal) == [])
            let directory = try temporaryDirectory()
            #expect(try await client.downloadFile(normal, toPath: directory + "/empty") == 0)
            #expect(FileManager.default.contents(atPath: directory + "/empty") == Data())
            let appender = try await client.uploadAppenderFile(.file(directory + "/empty")).fileID()
            #expect(try await client.queryFileInfo(appender).fileSize == 0)
            #expect(try await client.downloadFile(appender) == [])
            // An empty file that was deleted is ENOENT, not empty.
            try await client.deleteFile(normal)
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.downloadFile(normal) }
            try await client.activeTest()
            await client.close()
        }
    }

    @Test func slaveFiles() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let master = try await client.uploadFile(.bytes(Array("master".utf8)), fileExtension: "jpg").fileID()
            let slave = try await client.uploadSlaveFile(.bytes(Array("thumb".utf8)), master: master, prefix: "_150x150", fileExtension: "jpg")
            #expect(slave.group == Self.group)
            #expect(slave.remoteFilename == (try master.remoteFilename.slaveName(prefix: "_150x150", extension: "jpg").text))
            let slaveID = try slave.fileID()
            #expect(slaveID.remoteFilename.kind == .slave)
            #expect(try await client.downloadFile(slaveID) == Array("thumb".utf8))
            let info = try await client.queryFileInfo(slaveID)
            #expect(info.fileSize == 5 && info.crc32 == CRC32.checksum(Array("thumb".utf8)))
            // From a stream, no extension.
            let bare = try await client.uploadSlaveFile(.stream(GeneratedContent(size: 300_000, seed: 5), size: 300_000), master: master, prefix: "_big")
            #expect(bare.remoteFilename == (try master.remoteFilename.slaveName(prefix: "_big", extension: "").text))
            #expect(try await client.downloadFile(try bare.fileID()) == (try await GeneratedContent(size: 300_000, seed: 5).bytes()))
            // The same slave again: EEXIST, the connection stays usable; a bad prefix is refused locally.
            await #expect(throws: FDFSClientError.status(.EEXIST)) {
                try await client.uploadSlaveFile(.bytes([1]), master: master, prefix: "_150x150", fileExtension: "jpg")
            }
            await #expect(throws: FileIDError.invalidSlavePrefix("a/b")) { try await client.uploadSlaveFile(.bytes([1]), master: master, prefix: "a/b") }
            try await client.activeTest()
            await client.close()
        }
    }

    @Test func appenderFiles() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let appender = try await client.uploadAppenderFile(.bytes(Array("hello".utf8)), fileExtension: "log").fileID()
            #expect(appender.remoteFilename.kind == .appender)
            try await client.appendFile(appender, .bytes(Array(" world".utf8)))
            let directory = try temporaryDirectory()
            _ = FileManager.default.createFile(atPath: directory + "/tail", contents: Data("!!".utf8))
            try await client.appendFile(appender, .file(directory + "/tail"))
            try await client.appendFile(appender, .stream(GeneratedContent(size: 0, seed: 0), size: 0))
            #expect(try await client.downloadFile(appender) == Array("hello world!!".utf8))
            try await client.modifyFile(appender, at: 0, .bytes(Array("H".utf8)))
            try await client.modifyFile(appender, at: 11, .stream(GeneratedContent(size: 3, seed: 6), size: 3))
            let generated = try await GeneratedContent(size: 3, seed: 6).bytes()
            #expect(try await client.downloadFile(appender) == Array("Hello world".utf8) + generated)
            try await client.truncateFile(appender, to: 5)
            #expect(try await client.downloadFile(appender) == Array("Hello".utf8))
            try await client.truncateFile(appender, to: 8)
            #expect(try await client.downloadFile(appender) == Array("Hello".utf8) + [0, 0, 0])
            let info = try await client.queryFileInfo(appender)
            #expect(info.fileSize == 8 && info.crc32 == CRC32.checksum(Array("Hello".utf8) + [0, 0, 0]))
            #expect(try await client.queryFileInfo(appender, computeCRC32: false).crc32 == 0)

            let regenerated = try await client.regenerateAppenderFilename(appender)
            let newID = try regenerated.fileID()
            #expect(regenerated.group == Self.group && newID.remoteFilename.kind == .normal)
            #expect(newID.remoteFilename.sizeFromName == 8 && newID.remoteFilename.block.crc32 == CRC32.checksum(Array("Hello".utf8) + [0, 0, 0]))
            #expect(newID.remoteFilename.name.suffix(7) == appender.remoteFilename.name.suffix(7))
            #expect(try await client.downloadFile(newID) == Array("Hello".utf8) + [0, 0, 0])
            #expect(try await client.fileExists(appender) == false)
            await client.close()
            // A normal file is not an appender: EINVAL, after which the storage closes.
            let other = try await self.client(storage)
            await #expect(throws: FDFSClientError.status(.EINVAL)) { try await other.appendFile(newID, .bytes([1])) }
            await #expect(throws: FDFSClientError.connectionClosed) { try await other.activeTest() }
        }
    }

    @Test func deleteInfoExistsActiveTestAndQuit() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let bytes = Array("some content".utf8)
            let id = try await client.uploadFile(.bytes(bytes), fileExtension: "txt").fileID()
            let before = Int64(Date().timeIntervalSince1970)
            let info = try await client.queryFileInfo(id)
            #expect(info.fileSize == 12 && info.crc32 == CRC32.checksum(bytes) && info.sourceIPAddress == "127.0.0.2")
            #expect(abs(info.modificationTime - before) <= 5)
            #expect(try await client.fileExists(id))
            try await client.activeTest()
            try await client.deleteFile(id)
            #expect(try await client.fileExists(id) == false)
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.downloadFile(id) }
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.queryFileInfo(id) }
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.deleteFile(id) }
            try await client.activeTest()
            try await client.quit()
            await #expect(throws: FDFSClientError.connectionClosed) { try await client.activeTest() }
            #expect(try storage.binlog().split(separator: "\n").map { $0.split(separator: " ").dropFirst().joined(separator: " ") }
                    == ["C \(id.remoteFilename.text)", "D \(id.remoteFilename.text)"])
        }
    }

    @Test
    func metadataRoundTrips() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let id = try await client.uploadFile(.bytes([1, 2, 3]), fileExtension: "jpg").fileID()
            // No metadata yet: an empty set (the C storage answers ENOENT, compatibility 31).
            #expect(try await client.getMetadata(id) == FDFSMetadata())
            try await client.setMetadata(id, FDFSMetadata([.init("width", "100"), .init("author", "me")]))
            #expect(try await client.getMetadata(id) == FDFSMetadata([.init("author", "me"), .init("width", "100")]))
            // Merge keeps the other names and overwrites the same names.
            try await client.setMetadata(id, FDFSMetadata([.init("width", "200"), .init("height", "50")]), operation: .merge)
            #expect(try await client.getMetadata(id) == FDFSMetadata([.init("author", "me"), .init("height", "50"), .init("width", "200")]))
            // Overwrite replaces everything.
            try await client.setMetadata(id, FDFSMetadata([.init("color", "red")]), operation: .overwrite)
            #expect(try await client.getMetadata(id) == FDFSMetadata([.init("color", "red")]))
            // Overwrite with nothing deletes it.
            try await client.setMetadata(id, FDFSMetadata(), operation: .overwrite)
            #expect(try await client.getMetadata(id) == FDFSMetadata())
            // A deleted file: ENOENT.
            try await client.deleteFile(id)
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.getMetadata(id) }
            await client.close()
        }
    }

    @Test func metadataArgumentsAreCheckedLocally() async throws {
        try await withStorage { storage in
            let client = try await client(storage)
            let id = try FileID(parsing: "group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg")
            await #expect(throws: FDFSClientError.self) { try await client.setMetadata(id, FDFSMetadata([.init("a\u{01}b", "1")])) }
            await #expect(throws: FDFSClientError.self) { try await client.setMetadata(id, FDFSMetadata([.init("", "1")])) }
            await #expect(throws: FDFSClientError.self) { try await client.downloadFile(id, offset: -1) }
            try await client.activeTest()
            await client.close()
        }
    }

    /// 64 MiB up and down through streams, CRC32 compared on both ends, with the memory the
    /// client holds measured where it would pile up: bytes written but not yet taken by the
    /// socket (upload), bytes read from the socket but not yet consumed (download, with a
    /// consumer slower than loopback).
    @Test func sixtyFourMebibytesStreamedBothWays() async throws {
        // A server timeout of 2 s closed this connection once while the full suite loaded
        // both cores (the client pauses reading on purpose); 64 MiB is not a timeout test.
        try await withStorage(networkTimeout: .seconds(20)) { storage in
            let size: Int64 = 64 << 20
            let content = GeneratedContent(size: size, seed: 64)
            let expected = try await content.crc32()
            let client = try await client(storage)
            let channel = client.connection.channel
            var maxUnwritten = 0
            let probed = ProbedContent(base: content) {
                maxUnwritten = max(maxUnwritten, try await channel.getOption(ChannelOptions.bufferedWritableBytes).get())
            }
            let id = try await client.uploadFile(.stream(probed, size: size), fileExtension: "bin").fileID()
            #expect(id.remoteFilename.sizeFromName == size && id.remoteFilename.block.crc32 == expected)
            #expect(maxUnwritten < 2 << 20, "\(maxUnwritten) bytes waited in the channel")

            let counter = SocketReadCounter()
            try await channel.pipeline.addHandler(counter, position: .first).get()
            var crc = CRC32()
            var received: Int64 = 0
            var maxAhead: Int64 = 0
            let n = try await client.downloadFile(id) { part in
                received += Int64(part.readableBytes)
                part.withUnsafeReadableBytes { crc.update($0) }
                maxAhead = max(maxAhead, counter.total.withLockedValue { $0 } - Int64(FDFSHeader.size) - received)
                if received % (1 << 20) < Int64(part.readableBytes) { try await Task.sleep(for: .milliseconds(3)) }
            }
            #expect(n == size && received == size && crc.value == expected)
            #expect(maxAhead < 4 << 20, "the client read \(maxAhead) bytes ahead of its consumer")
            await client.close()
        }
    }
}

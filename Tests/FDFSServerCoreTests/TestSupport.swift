import FDFSProtocol
import FDFSServerCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing

/// EINVAL, the status the C servers answer malformed requests with.
let einval: UInt8 = 22

/// Test command codes, unknown to the tracker's table, so the decoder frames them as plain
/// buffered packets and the test handler gives them a meaning.
enum TestCommand {
    /// Echo the body back after `slowEchoDelay` (a request "in flight" for the shutdown tests).
    static let slowEcho: UInt8 = 200
    static let slowEchoDelay = Duration.milliseconds(600)
    /// Echo the body back at once.
    static let echo: UInt8 = 201
    /// Answer with 64 MiB, to stall a client that does not read.
    static let flood: UInt8 = 202
    static let floodBytes = 64 << 20
    /// Answer, then close the connection with `FDFSConnection.close()`.
    static let closeAfterReply: UInt8 = 203
}

/// Answers ACTIVE_TEST with an empty success, the test commands as documented on
/// `TestCommand`, UPLOAD_FILE (storage role) by echoing the whole body, other commands with
/// EINVAL (keeping the connection, as the tracker does), and protocol errors with
/// `reply(error:)` before closing.
struct TestHandler: FDFSConnectionHandler {
    /// Told the command of every request head as it arrives, so that a test knows the server
    /// is inside a request (no sleeping and hoping).
    var heads: AsyncStream<UInt8>.Continuation?

    init(heads: AsyncStream<UInt8>.Continuation? = nil) {
        self.heads = heads
    }

    func handle(_ connection: FDFSConnection) async throws {
        var header: FDFSHeader?
        var body = connection.allocator.buffer(capacity: 0)
        do {
            for try await frame in connection.inbound {
                switch frame {
                case .head(let h, let fields):
                    header = h
                    body = fields
                    heads?.yield(h.command)
                case .bodyPart(var part):
                    body.writeBuffer(&part)
                case .end:
                    guard let request = header else { continue }
                    try await respond(to: request, body: body, on: connection)
                }
            }
        } catch let error as FDFSProtocolError {
            try await connection.reply(error: error)
        }
    }

    func respond(to header: FDFSHeader, body: ByteBuffer, on connection: FDFSConnection) async throws {
        switch header.command {
        case ActiveTestRequest.command:
            try await connection.reply(status: 0)
        case TestCommand.slowEcho:
            try await Task.sleep(for: TestCommand.slowEchoDelay)
            try await connection.reply(RawBody(Array(body.readableBytesView)))
        case TestCommand.echo, UploadFileRequest.command:
            try await connection.reply(RawBody(Array(body.readableBytesView)))
        case TestCommand.flood:
            var head = connection.allocator.buffer(capacity: FDFSHeader.size)
            FDFSHeader.response(bodyLength: Int64(TestCommand.floodBytes)).encode(into: &head)
            try await connection.write(head)
            let chunk = connection.allocator.buffer(repeating: 0x5A, count: 64 << 10)
            for _ in 0..<(TestCommand.floodBytes / chunk.readableBytes) { try await connection.write(chunk) }
        case TestCommand.closeAfterReply:
            try await connection.reply(status: 0)
            // The inbound sequence ends after this, so the loop in handle(_:) returns.
            connection.close()
        default:
            try await connection.reply(status: einval)
        }
    }
}

let testLogger: Logger = {
    if ProcessInfo.processInfo.environment["FDFS_TEST_LOG"] != nil {
        var logger = Logger(label: "fdfs.server-core.test")
        logger.logLevel = .debug
        return logger
    }
    return Logger(label: "fdfs.server-core.test", factory: { _ in SwiftLogNoOpLogHandler() })
}()

func testSettings(networkTimeout: Duration = .seconds(10), maxConnections: Int = 64,
                  allowedHosts: AllowedHosts = .everyone, role: FDFSServerRole = .tracker) -> ServerSettings {
    ServerSettings(host: "127.0.0.1", port: 0, maxConnections: maxConnections, networkTimeout: networkTimeout,
                   allowedHosts: allowedHosts, framingPolicy: .server(role))
}

struct TestTimeout: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "test did not finish within \(limit)" }
}

/// Runs `body`, failing with `TestTimeout` if it takes longer than `limit`, so that a bug
/// shows as a failure rather than a hung test run.
func withTimeout<R: Sendable>(_ limit: Duration = .seconds(10), _ body: @escaping @Sendable () async throws -> R) async throws -> R {
    try await withThrowingTaskGroup(of: R.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TestTimeout(limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Starts a server on 127.0.0.1 port 0, runs `body` with its port, then cancels the server
/// and waits for `run()` to return.
func withServer<R: Sendable>(_ settings: ServerSettings, handler: some FDFSConnectionHandler = TestHandler(),
                             _ body: @Sendable (Int) async throws -> R) async throws -> R {
    let server = FDFSServer(settings: settings, handler: handler, logger: testLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        do {
            let port = try #require(try await server.waitUntilListening().port)
            let result = try await body(port)
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// A raw TCP client: sends bytes, reads bytes, notices the server closing.
struct RawConnection {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var received = ByteBuffer()

    func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    func send(_ packet: ByteBuffer) async throws {
        try await outbound.write(packet)
    }

    /// Exactly `count` bytes, or nil when the server closed first.
    mutating func read(count: Int) async throws -> ByteBuffer? {
        while received.readableBytes < count {
            guard let next = try await nextOrClosed() else { return nil }
            received.writeImmutableBuffer(next)
        }
        return received.readSlice(length: count)
    }

    /// The next response: header and body; nil when the server closed first.
    mutating func readResponse() async throws -> (header: FDFSHeader, body: [UInt8])? {
        guard var head = try await read(count: FDFSHeader.size), let header = FDFSHeader.decode(from: &head) else { return nil }
        guard header.status == 0, header.bodyLength > 0 else { return (header, []) }
        guard let body = try await read(count: Int(header.bodyLength)) else { return nil }
        return (header, Array(body.readableBytesView))
    }

    /// Waits for the server to close; returns how many bytes arrived before.
    mutating func readUntilClosed() async throws -> Int {
        var count = received.readableBytes
        received.clear()
        while let next = try await nextOrClosed() { count += next.readableBytes }
        return count
    }

    /// A reset counts as closed: what matters to these tests is that the server hung up.
    private mutating func nextOrClosed() async throws -> ByteBuffer? {
        do {
            return try await iterator.next()
        } catch let error as IOError where error.errnoCode == ECONNRESET {
            return nil
        } catch is ChannelError {
            return nil
        }
    }
}

func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
}

/// Connects to 127.0.0.1:`port` and runs `body` with the connection, closing it afterwards.
func withRawClient<R: Sendable>(port: Int, _ body: (inout RawConnection) async throws -> R) async throws -> R {
    let channel = try await connect(port: port)
    return try await channel.executeThenClose { inbound, outbound in
        var connection = RawConnection(iterator: inbound.makeAsyncIterator(), outbound: outbound)
        return try await body(&connection)
    }
}

func activeTestPacket() -> ByteBuffer { ActiveTestRequest().requestPacket() }

func requestPacket(command: UInt8, body: [UInt8]) -> ByteBuffer {
    var packet = ByteBuffer()
    FDFSHeader(bodyLength: Int64(body.count), command: command).encode(into: &packet)
    packet.writeBytes(body)
    return packet
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}

import FDFSProtocol
import FDFSServerCore
import NIOCore
import ServiceLifecycle
import Testing

@Suite("FDFSServer: graceful shutdown")
struct GracefulShutdownTests {
    /// Runs a storage-role server in a ServiceGroup; `body` gets the port, the group (to
    /// trigger the shutdown) and the stream of request heads the handler saw. Checks that the
    /// group, hence `run()`, returns by itself once `body` is done.
    func withServiceGroup(_ body: @Sendable (Int, ServiceGroup, AsyncStream<UInt8>) async throws -> Void) async throws {
        let (heads, headsContinuation) = AsyncStream.makeStream(of: UInt8.self)
        let server = FDFSServer(settings: testSettings(role: .storage), handler: TestHandler(heads: headsContinuation),
                                logger: testLogger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: testLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try #require(try await server.waitUntilListening().port)
            try await body(port, group, heads)
            // run() must return by itself: the shutdown was triggered in body.
            try await tasks.next()
        }
    }

    @Test("an upload half received at shutdown is completed and answered, idle connections close, run() returns")
    func partialRequestInFlight() async throws {
        try await withTimeout {
            try await withServiceGroup { port, group, heads in
                var seen = heads.makeAsyncIterator()
                try await withRawClient(port: port) { idle in
                    try await idle.send(activeTestPacket())
                    #expect(try await idle.readResponse()?.header.status == 0)
                    #expect(await seen.next() == ActiveTestRequest.command)

                    try await withRawClient(port: port) { busy in
                        let content = Array("half of it now, the rest after the shutdown began".utf8)
                        let upload = UploadFileRequest(storePathIndex: 0, fileSize: Int64(content.count), fileExtension: "txt")
                        try await busy.send(upload.requestPacket())
                        try await busy.send(Array(content[..<10]))
                        // The server has decoded the fixed fields: it is inside the packet.
                        #expect(await seen.next() == UploadFileRequest.command)
                        await group.triggerGracefulShutdown()

                        // The idle connection is closed.
                        let idleBytes = try await idle.readUntilClosed()
                        #expect(idleBytes == 0, "the server sent bytes before closing")

                        // The request in flight completes and is answered, then the server closes.
                        try await busy.send(Array(content[10...]))
                        let response = try #require(try await busy.readResponse())
                        #expect(response.header.status == 0)
                        #expect(response.body.suffix(content.count) == content[...])
                        let unexpectedBytes = try await busy.readUntilClosed()
                        #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                    }
                }
                // No new connections (the listener closed when the shutdown began).
                do {
                    let late = try await connect(port: port)
                    try await late.executeThenClose { _, _ in }
                    Issue.record("a connection was accepted after the shutdown")
                } catch {}
            }
        }
    }

    @Test("a request being processed at shutdown gets its response")
    func requestBeingProcessed() async throws {
        try await withTimeout {
            try await withServiceGroup { port, group, heads in
                var seen = heads.makeAsyncIterator()
                try await withRawClient(port: port) { client in
                    // The handler takes 600 ms over this one.
                    try await client.send(requestPacket(command: TestCommand.slowEcho, body: [4, 5, 6]))
                    #expect(await seen.next() == TestCommand.slowEcho)
                    await group.triggerGracefulShutdown()
                    #expect(try await client.readResponse()?.body == [4, 5, 6])
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("a fresh connection that sent nothing is closed by the shutdown")
    func freshConnection() async throws {
        try await withTimeout {
            try await withServiceGroup { port, group, _ in
                try await withRawClient(port: port) { client in
                    await group.triggerGracefulShutdown()
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("shutdown with no connections returns at once")
    func noConnections() async throws {
        try await withTimeout(.seconds(5)) {
            try await withServiceGroup { _, group, _ in
                await group.triggerGracefulShutdown()
            }
        }
    }

    @Test("cancelling run() closes connections that are mid-request, and run() returns")
    func cancellation() async throws {
        try await withTimeout {
            let server = FDFSServer(settings: testSettings(), handler: TestHandler(), logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await server.run() }
                let port = try #require(try await server.waitUntilListening().port)
                try await withRawClient(port: port) { client in
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                    try await client.send([0, 0, 0])
                    tasks.cancelAll()
                    _ = try? await tasks.next()
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("cancelling run() right after a burst of connections neither traps nor hangs")
    func cancellationDuringAccepts() async throws {
        try await withTimeout {
            let server = FDFSServer(settings: testSettings(), handler: TestHandler(), logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await server.run() }
                let port = try #require(try await server.waitUntilListening().port)
                // Every client channel must reach executeThenClose, or NIO traps in the test.
                var clients: [NIOAsyncChannel<ByteBuffer, ByteBuffer>] = []
                var connectError: (any Error)?
                for _ in 0..<32 {
                    do { clients.append(try await connect(port: port)) } catch { connectError = error; break }
                }
                // Accepted connections may still sit in NIO's accept buffer when the server is
                // cancelled (swift-nio#2813); they must be closed, not trap.
                tasks.cancelAll()
                _ = try? await tasks.next()
                for client in clients {
                    // Ends at the server's close (a reset is fine too: the server is gone).
                    try? await client.executeThenClose { inbound, _ in
                        for try await _ in inbound {}
                    }
                }
                if let connectError { throw connectError }
            }
        }
    }
}

import FDFSProtocol
import FDFSServerCore
import NIOCore
import Testing

@Suite("FDFSServer: requests over real sockets")
struct FDFSServerTests {
    @Test("ACTIVE_TEST round trip with FDFSHeader encoding")
    func activeTestRoundTrip() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                try await withRawClient(port: port) { client in
                    try await client.send(activeTestPacket())
                    let head = try #require(try await client.read(count: FDFSHeader.size))
                    #expect(Array(head.readableBytesView) == [0, 0, 0, 0, 0, 0, 0, 0, 100, 0])
                }
            }
        }
    }

    @Test("several requests on one connection, answered in order")
    func severalRequests() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                try await withRawClient(port: port) { client in
                    for round in 0..<5 {
                        try await client.send(activeTestPacket())
                        let active = try #require(try await client.readResponse())
                        #expect(active.header == .response(bodyLength: 0))

                        let payload = Array("request \(round)".utf8)
                        try await client.send(requestPacket(command: TestCommand.echo, body: payload))
                        let echo = try #require(try await client.readResponse())
                        #expect(echo.header == .response(bodyLength: Int64(payload.count)))
                        #expect(echo.body == payload)
                    }
                    // An unknown command is answered with EINVAL and the connection stays usable.
                    try await client.send(requestPacket(command: 250, body: []))
                    #expect(try await client.readResponse()?.header.status == einval)
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                }
            }
        }
    }

    @Test("a packet split into single bytes is reassembled")
    func byteByByte() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                try await withRawClient(port: port) { client in
                    let payload = Array("slow".utf8)
                    for byte in requestPacket(command: TestCommand.echo, body: payload).readableBytesView {
                        try await client.send([byte])
                    }
                    #expect(try await client.readResponse()?.body == payload)
                }
            }
        }
    }

    @Test("concurrent connections are served independently")
    func concurrentConnections() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<8 {
                        group.addTask {
                            try await withRawClient(port: port) { client in
                                let payload = Array("client \(index)".utf8)
                                try await client.send(requestPacket(command: TestCommand.echo, body: payload))
                                #expect(try await client.readResponse()?.body == payload)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test("a handler may close the connection after its reply")
    func handlerCloses() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                try await withRawClient(port: port) { client in
                    try await client.send(requestPacket(command: TestCommand.closeAfterReply, body: []))
                    #expect(try await client.readResponse()?.header == .response(bodyLength: 0))
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("a negative pkg_len closes the connection without a reply")
    func negativeLength() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                try await withRawClient(port: port) { client in
                    try await client.send(requestPacket(command: ActiveTestRequest.command, body: []).withBodyLength(-1))
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("a body over the limit is answered with EINVAL, then the connection closes")
    func bodyTooLarge() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                try await withRawClient(port: port) { client in
                    var header = ByteBuffer()
                    FDFSHeader(bodyLength: 1 << 30, command: TestCommand.echo).encode(into: &header)
                    try await client.send(header)
                    let response = try #require(try await client.readResponse())
                    #expect(response.header == .response(bodyLength: 0, status: FDFSProtocolError(.bodyTooLarge, "").status))
                    #expect(response.header.status == einval)
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("a server reports a bind failure through run() and waitUntilListening()")
    func bindFailure() async throws {
        try await withTimeout {
            try await withServer(testSettings()) { port in
                var settings = testSettings()
                settings.port = port
                let second = FDFSServer(settings: settings, handler: TestHandler(), logger: testLogger)
                await #expect(throws: (any Error).self) { try await second.run() }
                await #expect(throws: (any Error).self) { try await second.waitUntilListening() }
                await #expect(throws: FDFSServerError.self) { try await second.run() }
            }
        }
    }
}

extension ByteBuffer {
    /// The same packet with its `pkg_len` replaced.
    func withBodyLength(_ length: Int64) -> ByteBuffer {
        var copy = self
        copy.setInteger(length, at: copy.readerIndex, endianness: .big)
        return copy
    }
}

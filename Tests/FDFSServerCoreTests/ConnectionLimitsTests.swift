import FDFSProtocol
import FDFSServerCore
import NIOCore
import Testing

/// Protocol spec §9.3 (timeouts) and §1.1 (allow_hosts), plus max_connections.
@Suite("FDFSServer: timeouts and admission")
struct ConnectionLimitsTests {
    static let networkTimeout = Duration.milliseconds(300)

    @Test("a fresh connection that sends nothing is closed after the network timeout")
    func silentFreshConnection() async throws {
        try await withTimeout {
            try await withServer(testSettings(networkTimeout: Self.networkTimeout)) { port in
                try await withRawClient(port: port) { client in
                    try await expectClosedByTimeout(&client)
                }
            }
        }
    }

    @Test("a connection that stalls after 3 header bytes is closed")
    func stalledHeader() async throws {
        try await withTimeout {
            try await withServer(testSettings(networkTimeout: Self.networkTimeout)) { port in
                try await withRawClient(port: port) { client in
                    try await client.send([0, 0, 0])
                    try await expectClosedByTimeout(&client)
                }
            }
        }
    }

    @Test("a connection that stalls inside a body after completed requests is closed")
    func stalledBodyAfterRequests() async throws {
        try await withTimeout {
            try await withServer(testSettings(networkTimeout: Self.networkTimeout)) { port in
                try await withRawClient(port: port) { client in
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                    var partial = requestPacket(command: TestCommand.echo, body: Array(repeating: 7, count: 100))
                    partial.moveWriterIndex(to: partial.readerIndex + FDFSHeader.size + 40)
                    try await client.send(partial)
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("after a completed request a connection may idle beyond the timeout and stay usable")
    func idleAfterRequest() async throws {
        try await withTimeout {
            try await withServer(testSettings(networkTimeout: Self.networkTimeout)) { port in
                try await withRawClient(port: port) { client in
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                    try await Task.sleep(for: Self.networkTimeout * 3)
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                }
            }
        }
    }

    @Test("a slow streamed upload keeps its connection as long as its content keeps coming")
    func slowButMovingContent() async throws {
        try await withTimeout {
            // A longer timeout than the others: each gap must stay well below it even on a
            // loaded machine, while the whole content takes far longer.
            try await withServer(testSettings(networkTimeout: .milliseconds(600), role: .storage)) { port in
                try await withRawClient(port: port) { client in
                    let content = Array(repeating: UInt8(9), count: 16)
                    try await client.send(UploadFileRequest(storePathIndex: 0, fileSize: Int64(content.count), fileExtension: "txt").requestPacket())
                    // 16 bytes, one every 100 ms: 1.6 s in all, nearly three times the timeout.
                    for byte in content {
                        try await client.send([byte])
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(try await client.readResponse()?.body.suffix(content.count) == content[...])
                }
            }
        }
    }

    @Test("a header or buffered body that trickles in (slowloris) is closed after the network timeout")
    func slowHeaderIsCut() async throws {
        try await withTimeout {
            try await withServer(testSettings(networkTimeout: .milliseconds(600))) { port in
                try await withRawClient(port: port) { client in
                    // A first request, so the fresh-connection timeout is out of the picture.
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                    let packet = Array(requestPacket(command: TestCommand.echo, body: Array(repeating: 9, count: 6)).readableBytesView)
                    let started = ContinuousClock.now
                    var sent = 0
                    // One byte every 100 ms: never idle for the timeout, but the packet would
                    // take 1.6 s.
                    while sent < packet.count - 1 {
                        do { try await client.send([packet[sent]]) } catch { break }
                        sent += 1
                        try await Task.sleep(for: .milliseconds(100))
                        if ContinuousClock.now - started > .seconds(1) { break }
                    }
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server answered a packet it never received whole")
                    #expect(ContinuousClock.now - started < .seconds(5))
                }
            }
        }
    }

    @Test("a time-consuming request is not charged to the peer")
    func slowHandler() async throws {
        try await withTimeout {
            try await withServer(testSettings(networkTimeout: Self.networkTimeout)) { port in
                try await withRawClient(port: port) { client in
                    // A first request, so the fresh-connection timeout is out of the picture.
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                    // The handler takes 600 ms, twice the timeout, before answering.
                    try await client.send(requestPacket(command: TestCommand.slowEcho, body: [1, 2, 3]))
                    #expect(try await client.readResponse()?.body == [1, 2, 3])
                }
            }
        }
    }

    @Test("a peer that does not read its response is cut after the network timeout")
    func unreadResponse() async throws {
        try await withTimeout {
            try await withServer(testSettings(networkTimeout: Self.networkTimeout)) { port in
                try await withRawClient(port: port) { client in
                    try await client.send(requestPacket(command: TestCommand.flood, body: []))
                    try await Task.sleep(for: .seconds(1))
                    let received = try await client.readUntilClosed()
                    #expect(received > 0)
                    #expect(received < FDFSHeader.size + TestCommand.floodBytes)
                }
            }
        }
    }

    @Test("connections beyond max_connections are closed right after accept")
    func maxConnections() async throws {
        try await withTimeout {
            try await withServer(testSettings(maxConnections: 2)) { port in
                try await withRawClient(port: port) { first in
                    try await first.send(activeTestPacket())
                    #expect(try await first.readResponse()?.header.status == 0)
                    try await withRawClient(port: port) { second in
                        try await second.send(activeTestPacket())
                        #expect(try await second.readResponse()?.header.status == 0)
                        try await withRawClient(port: port) { third in
                            let unexpectedBytes = try await third.readUntilClosed()
                            #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                        }
                        // The first two are unaffected.
                        try await second.send(activeTestPacket())
                        #expect(try await second.readResponse()?.header.status == 0)
                    }
                    // Once one closes, a new connection is admitted (the count drops when the
                    // server has seen the close, so allow it a moment).
                    var admitted = false
                    for _ in 0..<40 where !admitted {
                        // A refused attempt may also fail on its write: the server hung up.
                        admitted = (try? await withRawClient(port: port) { client in
                            try await client.send(activeTestPacket())
                            return try await client.readResponse()?.header.status == 0
                        }) ?? false
                        if !admitted { try await Task.sleep(for: .milliseconds(50)) }
                    }
                    #expect(admitted)
                }
            }
        }
    }

    @Test("a host outside allow_hosts is closed right after accept, with no bytes")
    func refusedHost() async throws {
        try await withTimeout {
            let allowed = try AllowedHosts(["10.0.0.0/8"])
            try await withServer(testSettings(allowedHosts: allowed)) { port in
                try await withRawClient(port: port) { client in
                    let unexpectedBytes = try await client.readUntilClosed()
                    #expect(unexpectedBytes == 0, "the server sent bytes before closing")
                }
            }
        }
    }

    @Test("a host inside allow_hosts is served")
    func admittedHost() async throws {
        try await withTimeout {
            let allowed = try AllowedHosts(["10.0.0.0/8", "127.0.0.[1-3]"])
            try await withServer(testSettings(allowedHosts: allowed)) { port in
                try await withRawClient(port: port) { client in
                    try await client.send(activeTestPacket())
                    #expect(try await client.readResponse()?.header.status == 0)
                }
            }
        }
    }
}

/// Expects the server to close `client` after about one network timeout (150 ms...2 s from
/// now), without sending anything first.
func expectClosedByTimeout(_ client: inout RawConnection, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let clock = ContinuousClock()
    let start = clock.now
    let unexpectedBytes = try await client.readUntilClosed()
    #expect(unexpectedBytes == 0, "the server sent bytes before closing", sourceLocation: sourceLocation)
    let elapsed = clock.now - start
    #expect(elapsed >= .milliseconds(150), "closed after \(elapsed.milliseconds) ms", sourceLocation: sourceLocation)
    #expect(elapsed < .seconds(2), "closed after \(elapsed.milliseconds) ms", sourceLocation: sourceLocation)
}


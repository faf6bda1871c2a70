import FDFSProtocol
import FDFSServerCore
import NIOCore
import Testing

/// Holds UPLOAD_FILE requests with up to `limit` content bytes and answers those whose
/// content starts with "I" at once ("imm" + fixed part + content); everything else goes to
/// `TestHandler`, which echoes the whole body.
struct HoldingHandler: FDFSConnectionHandler {
    static let limit: Int64 = 64
    let inner = TestHandler()

    func handle(_ connection: FDFSConnection) async throws { try await inner.handle(connection) }

    var answersImmediately: Bool { true }

    func immediateContentLimit(for header: FDFSHeader) -> Int64 {
        header.command == UploadFileRequest.command ? Self.limit : 0
    }

    func respondImmediately(to header: FDFSHeader, body: ByteBuffer, content: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse? {
        guard content.readableBytesView.first == UInt8(ascii: "I") else { return nil }
        let answer = Array("imm".utf8) + Array(body.readableBytesView) + Array(content.readableBytesView)
        return ImmediateResponse(RawBody(answer).responsePacket(allocator: context.allocator))
    }
}

/// An UPLOAD_FILE packet (storage role): store path 0, the size, extension "txt", content.
func uploadPacket(_ content: String) -> (packet: [UInt8], body: [UInt8]) {
    let bytes = Array(content.utf8)
    var fixed: [UInt8] = [0]
    withUnsafeBytes(of: Int64(bytes.count).bigEndian) { fixed += $0 }
    fixed += Array("txt".utf8) + [0, 0, 0]
    let body = fixed + bytes
    return (Array(requestPacket(command: UploadFileRequest.command, body: body).readableBytesView), body)
}

/// A storage-role server with `HoldingHandler` and one raw client connection to it.
func withHoldingServer(_ body: @escaping @Sendable (inout RawConnection) async throws -> Void) async throws {
    try await withTimeout {
        try await withServer(testSettings(role: .storage), handler: HoldingHandler()) { port in
            try await withRawClient(port: port) { client in try await body(&client) }
        }
    }
}

@Suite("ImmediateResponseHandler: small streamed requests answered on the event loop")
struct ImmediateResponseTests {
    @Test("a small upload is offered whole, even when it arrives one byte at a time")
    func heldWhole() async throws {
        try await withHoldingServer { client in
            let (packet, body) = uploadPacket("I am small")
            for byte in packet { try await client.send([byte]) }
            #expect(try await client.readResponse()?.body == Array("imm".utf8) + body)
        }
    }

    @Test("a held request the handler declines reaches handle with every byte")
    func declinedGoesOn() async throws {
        try await withHoldingServer { client in
            let (packet, body) = uploadPacket("A request for the async side")
            try await client.send(Array(packet[..<30]))
            try await client.send(Array(packet[30...]))
            #expect(try await client.readResponse()?.body == body)
        }
    }

    @Test("content over the limit streams to handle")
    func overTheLimit() async throws {
        try await withHoldingServer { client in
            let (packet, body) = uploadPacket("I" + String(repeating: "x", count: Int(HoldingHandler.limit)))
            try await client.send(packet)
            #expect(try await client.readResponse()?.body == body)
        }
    }

    @Test("pipelined requests, answered here and by handle, get their responses in request order")
    func pipelinedInOrder() async throws {
        try await withHoldingServer { client in
            let requests = (0..<30).map { i in uploadPacket(i % 3 == 1 ? "A\(i)" : "I\(i)") }
            try await client.send(requests.flatMap(\.packet))
            for (i, request) in requests.enumerated() {
                let response = try #require(try await client.readResponse())
                if i == 0 {
                    // Nothing is pending before the first: it is answered here.
                    #expect(response.body == Array("imm".utf8) + request.body)
                } else if i % 3 == 1 {
                    #expect(response.body == request.body, "request \(i)")
                } else {
                    // Answered here, or by handle when a request before it was still pending.
                    #expect(response.body == Array("imm".utf8) + request.body || response.body == request.body, "request \(i)")
                }
            }
        }
    }
}

import NIOCore
import Testing
import FDFSModel
@testable import FDFSProtocol

/// LIST_FILES (250), our extension: golden bytes, round trips through the server framing, and
/// every malformed length and field.
@Suite struct ListFilesCodecTests {
    static let g = try! GroupName("group1")
    static let name = "M00/00/3A/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg"

    static func request(_ bytes: [UInt8]) throws(FDFSProtocolError) -> ListFilesRequest {
        try ListFilesRequest.decode(body: ByteBuffer(bytes: bytes), command: ListFilesRequest.command)
    }

    static func response(_ bytes: [UInt8]) throws(FDFSProtocolError) -> ListFilesResponse {
        try ListFilesResponse.decode(body: ByteBuffer(bytes: bytes), command: ListFilesRequest.command)
    }

    static func be64(_ v: Int64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> UInt64(56 - 8 * $0)) } }

    static func requestBytes(group: String = "group1", limit: Int64 = 7, prefixLength: Int64? = nil, prefix: String = "M00/3A",
                             after: String = "") -> [UInt8] {
        var b = Array(group.utf8) + [UInt8](repeating: 0, count: 16 - group.utf8.count)
        b += be64(limit) + be64(prefixLength ?? Int64(prefix.utf8.count)) + Array(prefix.utf8) + Array(after.utf8)
        return b
    }

    /// One response entry as the layout table writes it.
    static func entryBytes(size: Int64 = 5, created: Int64 = 1_700_000_000, crc: UInt32 = 0xDEAD_BEEF, flags: UInt8 = 3, kind: UInt8 = 0,
                           nameLength: Int? = nil, name: String = name) -> [UInt8] {
        let n = nameLength ?? name.utf8.count
        return be64(size) + be64(created) + [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
            + [flags, kind, UInt8(n >> 8), UInt8(n & 0xFF)] + Array(name.utf8)
    }

    @Test func commandCodeIsFreeAndRegistered() throws {
        #expect(StorageCommand.listFiles.rawValue == 250)
        let d = try #require(CommandRegistry.descriptor(for: 250, role: .storage))
        #expect(d.name == "LIST_FILES" && d.streaming == nil && d.requestType == ListFilesRequest.self)
        #expect(CommandRegistry.descriptor(for: 250, role: .tracker) == nil)
    }

    @Test func requestGoldenBytes() throws {
        let r = ListFilesRequest(group: Self.g, limit: 7, prefix: "M00/3A", after: Self.name)
        let expected = Self.requestBytes(prefix: "M00/3A", after: Self.name)
        #expect(Array(r.encodedBody().readableBytesView) == expected)
        #expect(expected.count == 16 + 8 + 8 + 6 + Self.name.utf8.count)
        #expect(try Self.request(expected) == r)
        // Header: command 250, status 0, length of the body.
        let packet = Array(r.requestPacket().readableBytesView)
        #expect(packet[0..<8] == ArraySlice(Self.be64(Int64(expected.count))) && packet[8] == 250 && packet[9] == 0)
    }

    @Test func responseGoldenBytes() throws {
        let files = [
            ListedFile(remoteFilename: Self.name, size: 5, created: 1_700_000_000, crc32: 0xDEAD_BEEF, isSource: true, kind: .normal),
            ListedFile(remoteFilename: "M00/00/3A/app.log", size: 0, created: 1, crc32: nil, isSource: false, kind: .appender),
        ]
        let bytes = Array(ListFilesResponse(files: files).encodedBody().readableBytesView)
        let expected = Self.entryBytes()
            + Self.entryBytes(size: 0, created: 1, crc: 0, flags: 0, kind: 1, name: "M00/00/3A/app.log")
        #expect(bytes == expected)
        #expect(try Self.response(expected) == ListFilesResponse(files: files))
        #expect(try Self.response([]) == ListFilesResponse(files: []))
    }

    static let roundTrips: [(ListFilesRequest, ListFilesResponse)] = [
        (ListFilesRequest(group: g), ListFilesResponse()),
        (ListFilesRequest(group: g, limit: 1, prefix: "", after: name), ListFilesResponse(files: [
            ListedFile(remoteFilename: name, size: Int64.max, created: -1, crc32: 0, isSource: false, kind: .slave),
        ])),
        (ListFilesRequest(group: try! GroupName("g2"), limit: 1000, prefix: String(repeating: "A", count: 128), after: String(repeating: "z", count: 128)),
         ListFilesResponse(files: [FileKind.normal, .appender, .slave, .trunk].enumerated().map { i, kind in
             ListedFile(remoteFilename: String(repeating: "x", count: 128 - i), size: Int64(i), created: Int64(i) * 1000,
                        crc32: kind == .appender ? nil : UInt32.max - UInt32(i), isSource: i % 2 == 0, kind: kind)
         })),
    ]

    @Test(arguments: 0..<roundTrips.count)
    func roundTrip(_ index: Int) throws {
        let (request, response) = Self.roundTrips[index]
        try CodecRoundTripTests.roundTrip(request, response)
    }

    @Test func fullPageRoundTripsAndOneMoreIsRefused() throws {
        let one = ListedFile(remoteFilename: Self.name, size: 1, created: 2, crc32: 3, isSource: true, kind: .normal)
        let page = ListFilesResponse(files: Array(repeating: one, count: ListFilesRequest.maxLimit))
        #expect(try ListFilesResponse.decode(body: page.encodedBody(), command: 250) == page)
        let over = ListFilesResponse(files: page.files + [one])
        let error = #expect(throws: FDFSProtocolError.self) { try ListFilesResponse.decode(body: over.encodedBody(), command: 250) }
        #expect(error?.kind == .invalidField && error?.status == .EINVAL)
    }

    static let badRequests: [(String, [UInt8], FDFSProtocolError.Kind)] = [
        ("empty body", [], .wrongBodyLength),
        ("group only", Array(requestBytes().prefix(16)), .wrongBodyLength),
        ("no prefix length", Array(requestBytes().prefix(24)), .wrongBodyLength),
        ("prefix cut short", Array(requestBytes().dropLast(1)), .wrongBodyLength),
        ("limit 0", requestBytes(limit: 0), .invalidField),
        ("limit -1", requestBytes(limit: -1), .invalidField),
        ("limit 1001", requestBytes(limit: 1001), .invalidField),
        ("prefix length 129", requestBytes(prefixLength: 129, prefix: String(repeating: "a", count: 129)), .invalidField),
        ("negative prefix length", requestBytes(prefixLength: -1), .invalidField),
        ("prefix longer than the body", requestBytes(prefixLength: 100), .wrongBodyLength),
        ("after of 129 bytes", requestBytes(after: String(repeating: "a", count: 129)), .invalidField),
        ("NUL in after", requestBytes(after: "M00\u{0}"), .invalidField),
        ("space in prefix", requestBytes(prefix: "M00 3A"), .invalidField),
        ("DEL in prefix (the range bound)", requestBytes(prefix: "M00\u{7F}"), .invalidField),
        ("empty group", requestBytes(group: ""), .invalidName),
        ("bad group", requestBytes(group: "gr/p"), .invalidName),
    ]

    @Test(arguments: 0..<badRequests.count)
    func malformedRequestIsRefused(_ index: Int) {
        let (what, bytes, kind) = Self.badRequests[index]
        let error = #expect(throws: FDFSProtocolError.self, "\(what)") { try Self.request(bytes) }
        #expect(error?.kind == kind, "\(what)")
        #expect(error?.status == .EINVAL && error?.command == 250, "\(what)")
    }

    static let badResponses: [(String, [UInt8], FDFSProtocolError.Kind)] = [
        ("entry cut in the fixed part", Array(entryBytes().prefix(23)), .wrongBodyLength),
        ("entry cut in the name", Array(entryBytes().dropLast(1)), .wrongBodyLength),
        ("good entry then garbage", entryBytes() + [1, 2, 3], .wrongBodyLength),
        ("negative size", entryBytes(size: -1), .invalidField),
        ("unknown flag", entryBytes(flags: 0x04), .invalidField),
        ("crc32 without its flag", entryBytes(crc: 7, flags: 1), .invalidField),
        ("unknown kind", entryBytes(kind: 4), .invalidField),
        ("name length 0", entryBytes(nameLength: 0, name: ""), .invalidField),
        ("name length 129", entryBytes(nameLength: 129, name: String(repeating: "a", count: 129)), .invalidField),
        ("name length 65535", entryBytes(nameLength: 65535), .invalidField),
        ("NUL in name", entryBytes(name: "M00/00/\u{0}a"), .invalidField),
    ]

    @Test(arguments: 0..<badResponses.count)
    func malformedResponseIsRefused(_ index: Int) {
        let (what, bytes, kind) = Self.badResponses[index]
        let error = #expect(throws: FDFSProtocolError.self, "\(what)") { try Self.response(bytes) }
        #expect(error?.kind == kind, "\(what)")
        #expect(error?.status == .EINVAL, "\(what)")
    }

    @Test func kindBytesAreNormalAppenderSlaveTrunk() throws {
        for (byte, kind) in [(UInt8(0), FileKind.normal), (1, .appender), (2, .slave), (3, .trunk)] {
            let file = ListedFile(remoteFilename: Self.name, size: 1, created: 2, crc32: nil, isSource: false, kind: kind)
            let bytes = Array(ListFilesResponse(files: [file]).encodedBody().readableBytesView)
            #expect(bytes[21] == byte, "\(kind)")
            #expect(try Self.response(Self.entryBytes(crc: 0, flags: 0, kind: byte)).files.first?.kind == kind)
        }
    }
}

/// HTTP_ENDPOINT (251): port, then the domain name; what a decoder refuses; the base URL.
@Suite struct HTTPEndpointCodecTests {
    static func response(_ bytes: [UInt8]) throws(FDFSProtocolError) -> HTTPEndpointResponse {
        try HTTPEndpointResponse.decode(body: ByteBuffer(bytes: bytes), command: HTTPEndpointRequest.command)
    }

    @Test func layoutAndLimits() throws {
        #expect(StorageCommand.httpEndpoint.rawValue == 251)
        let d = try #require(CommandRegistry.descriptor(for: 251, role: .storage))
        #expect(d.name == "HTTP_ENDPOINT" && d.requestType == HTTPEndpointRequest.self)
        #expect(CommandRegistry.descriptor(for: 251, role: .tracker) == nil)
        #expect(try Self.response(ListFilesCodecTests.be64(8888) + Array("img.example.com".utf8)) == HTTPEndpointResponse(port: 8888, domainName: "img.example.com"))
        #expect(try Self.response(ListFilesCodecTests.be64(0)) == HTTPEndpointResponse(port: 0))
        #expect(throws: FDFSProtocolError.self) { try Self.response(ListFilesCodecTests.be64(65536)) }
        #expect(throws: FDFSProtocolError.self) { try Self.response(ListFilesCodecTests.be64(-1)) }
        #expect(throws: FDFSProtocolError.self) { try Self.response([0, 0, 0]) }
        #expect(throws: FDFSProtocolError.self) { try Self.response(ListFilesCodecTests.be64(80) + Array("a/b".utf8)) }
        #expect(throws: FDFSProtocolError.self) { try Self.response(ListFilesCodecTests.be64(80) + Array("a b".utf8)) }
        #expect(throws: FDFSProtocolError.self) { try Self.response(ListFilesCodecTests.be64(80) + [UInt8](repeating: 0x61, count: 129)) }
        #expect(throws: FDFSProtocolError.self) {
            try HTTPEndpointRequest.decode(body: ByteBuffer(bytes: [1]), command: HTTPEndpointRequest.command)
        }
    }

    @Test func baseURL() {
        #expect(HTTPEndpointResponse(port: 0).baseURL(storageIP: "10.0.0.1") == nil)
        #expect(HTTPEndpointResponse(port: 8888).baseURL(storageIP: "10.0.0.1") == "http://10.0.0.1:8888")
        #expect(HTTPEndpointResponse(port: 8888, domainName: "img.example.com").baseURL(storageIP: "10.0.0.1") == "http://img.example.com:8888")
        #expect(HTTPEndpointResponse(port: 8888, domainName: "img.example.com:80").baseURL(storageIP: "10.0.0.1") == "http://img.example.com:80")
        #expect(HTTPEndpointResponse(port: 80, domainName: "img.example.com").baseURL(storageIP: "10.0.0.1") == "http://img.example.com")
    }
}

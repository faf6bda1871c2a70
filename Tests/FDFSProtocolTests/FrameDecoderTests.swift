import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
import FDFSModel
import FDFSTesting
@testable import FDFSProtocol

/// Frames as a consumer sees them, with streamed parts joined (their split depends on how the
/// bytes arrived; their content must not).
struct NormalizedFrames: Equatable {
    var heads: [(FDFSHeader, [UInt8])] = []
    var contents: [[UInt8]] = []
    var ends = 0

    static func == (a: NormalizedFrames, b: NormalizedFrames) -> Bool {
        a.heads.map(\.0) == b.heads.map(\.0) && a.heads.map(\.1) == b.heads.map(\.1) && a.contents == b.contents && a.ends == b.ends
    }

    mutating func add(_ frame: FDFSFrame) {
        switch frame {
        case .head(let h, let b):
            heads.append((h, Array(b.readableBytesView)))
            contents.append([])
        case .bodyPart(let p): contents[contents.count - 1] += p.readableBytesView
        case .end: ends += 1
        }
    }

    /// Feeds `bytes` cut at `cuts` into a fresh decoder.
    static func decode(_ bytes: [UInt8], cuts: [Int], policy: FDFSFramingPolicy) throws(FDFSProtocolError) -> NormalizedFrames {
        var decoder = FDFSFrameDecoder(policy: policy)
        var out = NormalizedFrames()
        var buffer = ByteBuffer()
        var start = 0
        for cut in cuts + [bytes.count] {
            buffer.writeBytes(bytes[start..<cut])
            start = cut
            while let frame = try decoder.next(&buffer) { out.add(frame) }
        }
        return out
    }
}

@Suite struct FrameDecoderSplitTests {
    static func vectorPackets() throws -> [(bytes: [UInt8], policy: FDFSFramingPolicy, name: String)] {
        var out: [([UInt8], FDFSFramingPolicy, String)] = []
        for v in try WireVector.loadAll() {
            out.append((v.requestBytes, .server(v.role), v.name + " (request)"))
            if let r = v.responseBytes { out.append((r, .response(streamBody: v.cmd == 14), v.name + " (response)")) }
        }
        return out
    }

    /// Every accepted vector packet, cut at every position (two pieces) and fed byte by byte,
    /// gives the same frames as the whole packet at once.
    @Test func everySplitOfEveryVectorPacket() throws {
        var packets = 0, splits = 0
        for (bytes, policy, name) in try Self.vectorPackets() {
            guard let whole = try? NormalizedFrames.decode(bytes, cuts: [], policy: policy) else { continue }
            #expect(whole.ends == 1, "\(name)")
            packets += 1
            for cut in 0...bytes.count {
                #expect(try NormalizedFrames.decode(bytes, cuts: [cut], policy: policy) == whole, "\(name) cut at \(cut)")
                splits += 1
            }
            #expect(try NormalizedFrames.decode(bytes, cuts: Array(0..<bytes.count), policy: policy) == whole, "\(name) byte by byte")
        }
        #expect(packets > 600)
        print("frame decoder: \(packets) vector packets, \(splits) two-piece splits and \(packets) byte-by-byte feeds agree")
    }

    /// The same with NIO's ByteToMessageDecoderVerifier (whole, drip-fed and many at once)
    /// for every vector packet whose frames do not depend on the split (no streamed content).
    @Test(arguments: [FDFSServerRole.tracker, .storage])
    func verifierAcceptsTheDecoder(role: FDFSServerRole) throws {
        var pairs: [(ByteBuffer, [FDFSFrame])] = []
        for v in try WireVector.loadAll() where v.role == role {
            var decoder = FDFSFrameDecoder(policy: .server(role))
            var buffer = ByteBuffer(bytes: v.requestBytes)
            var frames: [FDFSFrame] = []
            while let f = try? decoder.next(&buffer) { frames.append(f) }
            guard frames.count == 2, buffer.readableBytes == 0 else { continue }
            pairs.append((ByteBuffer(bytes: v.requestBytes), frames))
        }
        #expect(pairs.count > 80)
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { FDFSFrameDecoder(policy: .server(role)) }
    }
}

@Suite struct FrameDecoderLimitTests {
    static func header(_ length: Int64, _ command: UInt8, status: UInt8 = 0) -> [UInt8] {
        var b = ByteBuffer()
        FDFSHeader(bodyLength: length, command: command, status: status).encode(into: &b)
        return Array(b.readableBytesView)
    }

    static func firstError(_ bytes: [UInt8], _ policy: FDFSFramingPolicy) -> FDFSProtocolError? {
        do {
            _ = try NormalizedFrames.decode(bytes, cuts: [], policy: policy)
            return nil
        } catch {
            return error
        }
    }

    @Test func negativeLengthClosesSilently() {
        let e = Self.firstError(Self.header(-1, 111), .server(.tracker))
        #expect(e?.kind == .negativeLength)
        #expect(e?.closesSilently == true)
        #expect(e?.status == .EINVAL)
    }

    @Test func unknownCommandIsFramedThenRefusedByTheRegistry() throws {
        for (code, role) in [(UInt8(250), FDFSServerRole.tracker), (101, .storage), (11, .tracker)] {
            let frames = try NormalizedFrames.decode(Self.header(3, code) + [1, 2, 3], cuts: [], policy: .server(role))
            let (header, body) = try #require(frames.heads.first)
            #expect(frames.ends == 1 && body == [1, 2, 3])
            let error = #expect(throws: FDFSProtocolError.self) {
                try CommandRegistry.decodeRequest(header: header, body: ByteBuffer(bytes: body), role: role)
            }
            #expect(error?.kind == .unknownCommand && error?.status == .EINVAL)
        }
        // Its body is still bounded by the limit.
        #expect(Self.firstError(Self.header(1 << 20, 250), .server(.tracker))?.kind == .bodyTooLarge)
    }

    @Test func bufferedBodyOverTheLimitIsRefusedBeforeItArrives() {
        let policy = FDFSFramingPolicy.server(.tracker, limits: FDFSLimits(maxBufferedBodyBytes: 1000))
        #expect(Self.firstError(Self.header(1001, 92), policy)?.kind == .bodyTooLarge)
        #expect(Self.firstError(Self.header(1000, 92), policy) == nil)  // waits for the body
    }

    @Test func metadataOverItsLimitIsRefusedBeforeItArrives() {
        var body = ByteBuffer()
        body.writeInt64(44)
        body.writeInt64(5000)
        let policy = FDFSFramingPolicy.server(.storage, limits: FDFSLimits(maxBufferedBodyBytes: 64 * 1024, maxMetadataBytes: 4096))
        let e = Self.firstError(Self.header(33 + 44 + 5000, 13) + Array(body.readableBytesView), policy)
        #expect(e?.kind == .metadataTooLarge)
    }

    @Test func fixedPartAndLengthChecksOfStreamingCommands() {
        // Slave upload with a 200-byte master name: more than a name may have.
        var b = ByteBuffer()
        b.writeInt64(200)
        b.writeInt64(10)
        #expect(Self.firstError(Self.header(38 + 200 + 10, 21) + Array(b.readableBytesView), .server(.storage))?.kind == .invalidField)
        // Upload whose pkg_len is not 15 + file size.
        var u = ByteBuffer()
        u.writeInteger(UInt8(0))
        u.writeInt64(100)
        u.writeFixedText("txt", width: 6)
        #expect(Self.firstError(Self.header(15 + 99, 11) + Array(u.readableBytesView), .server(.storage))?.kind == .wrongBodyLength)
        // Content larger than the configured file size limit.
        let small = FDFSFramingPolicy.server(.storage, limits: FDFSLimits(maxStreamContentBytes: 1 << 20))
        var big = ByteBuffer()
        big.writeInteger(UInt8(0))
        big.writeInt64(2 << 20)
        big.writeFixedText("", width: 6)
        #expect(Self.firstError(Self.header(15 + (2 << 20), 11) + Array(big.readableBytesView), small)?.kind == .bodyTooLarge)
    }

    /// A 4 GiB upload streams through without the decoder ever holding more than what arrived.
    @Test func hugeUploadStreamsInBoundedMemory() throws {
        let size: Int64 = 4 << 30
        var decoder = FDFSFrameDecoder(policy: .server(.storage))
        var buffer = ByteBuffer(bytes: Self.header(15 + size, 11))
        let request = UploadFileRequest(storePathIndex: -1, fileSize: size, fileExtension: "bin")
        request.encode(into: &buffer)
        guard case .head(let h, let fixed)? = try decoder.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(h.bodyLength == 15 + size)
        #expect(try UploadFileRequest.decode(body: fixed, command: 11) == request)
        let chunk = [UInt8](repeating: 0xAB, count: 64 * 1024)
        var received: Int64 = 0
        for _ in 0..<256 {  // 16 MiB of the 4 GiB
            buffer.writeBytes(chunk)
            while let frame = try decoder.next(&buffer) {
                guard case .bodyPart(let p) = frame else {
                    Issue.record("unexpected \(frame)")
                    return
                }
                received += Int64(p.readableBytes)
            }
            #expect(buffer.readableBytes == 0, "content is handed on as it arrives")
        }
        #expect(received == 16 << 20)
        #expect(!decoder.isAtPacketBoundary)
    }

    @Test func errorResponsesIgnoreTheirLength() throws {
        // Download read error: the C storage may leave the file length in pkg_len (spec §1.2).
        let bytes = Self.header(1234, 100, status: 5) + Self.header(0, 100)
        let frames = try NormalizedFrames.decode(bytes, cuts: [], policy: .response(streamBody: true))
        #expect(frames.heads.count == 2 && frames.ends == 2)
        #expect(frames.heads[0].0.status == 5 && frames.heads[0].1.isEmpty)
    }

    @Test func binlogExportStreamsUntilClose() throws {
        var decoder = FDFSFrameDecoder(policy: .response(streamBody: true))
        var buffer = ByteBuffer(bytes: Self.header(FetchOnePathBinlogResponse.unboundedLength, 100) + Array("1 C M00/00/00/x\n".utf8))
        var frames: [FDFSFrame] = []
        while let f = try decoder.next(&buffer) { frames.append(f) }
        #expect(try decoder.finish(&buffer) == [.end])
        #expect(frames.count == 2)
    }

    @Test func closeInTheMiddleOfAPacketIsAnError() throws {
        var decoder = FDFSFrameDecoder(policy: .server(.tracker))
        var buffer = ByteBuffer(bytes: Self.header(16, 104) + Array("group".utf8))
        #expect(try decoder.next(&buffer) == nil)
        #expect(throws: FDFSProtocolError.self) { try decoder.finish(&buffer) }
    }

    @Test func afterAnErrorTheDecoderStaysFailed() {
        var decoder = FDFSFrameDecoder(policy: .server(.tracker))
        var buffer = ByteBuffer(bytes: Self.header(-5, 111) + Self.header(0, 111))
        #expect(throws: FDFSProtocolError.self) { try decoder.next(&buffer) }
        #expect(throws: FDFSProtocolError.self) { try decoder.next(&buffer) }
    }
}

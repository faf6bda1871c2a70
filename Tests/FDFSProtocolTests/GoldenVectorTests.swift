import Foundation
import NIOCore
import Testing
import FDFSModel
import FDFSTesting
@testable import FDFSProtocol

/// Every record of ../shared/vectors/fastdfs-vectors.json, captured from a real FastDFS 6.16.1
/// cluster, goes through our frame decoder and codecs and is re-encoded byte for byte (masking
/// only the ranges the record lists as run-dependent); the facts its note states must be
/// found in what we decoded.
@Suite struct GoldenVectorTests {
    @Test func vectorFileIsPresentAndComplete() throws {
        let vectors = try WireVector.loadAll()
        #expect(vectors.count == 342)
    }

    /// Runs a packet through a frame decoder and collects (header, head body, content).
    static func frame(_ bytes: [UInt8], policy: FDFSFramingPolicy) throws(FDFSProtocolError) -> (FDFSHeader, ByteBuffer, [UInt8]) {
        var decoder = FDFSFrameDecoder(policy: policy)
        var buffer = ByteBuffer(bytes: bytes)
        var head: (FDFSHeader, ByteBuffer)? = nil
        var content: [UInt8] = []
        while let frame = try decoder.next(&buffer) {
            switch frame {
            case .head(let h, let b): head = (h, b)
            case .bodyPart(let p): content += p.readableBytesView
            case .end:
                guard let head else { throw FDFSProtocolError(.truncated, "end without head") }
                #expect(buffer.readableBytes == 0, "bytes left after the packet")
                return (head.0, head.1, content)
            }
        }
        throw FDFSProtocolError(.truncated, "packet incomplete")
    }

    static func masked(_ bytes: [UInt8], _ v: WireVector, part: String) -> [UInt8] {
        var out = bytes
        for r in v.variable where r.part == part {
            for i in r.offset..<min(r.offset + r.length, out.count) { out[i] = 0 }
        }
        // Protocol spec §4.16 / §11.3: the C tracker does not clear the padding after the NUL of
        // text fields in SERVER_STORAGE_CLUSTER_STAT (97) replies. The vectors list the host
        // field as variable but not the id field in front of it, which shows the same stale
        // bytes; we write zeros there (docs/compatibility.md).
        if part == "response" && v.cmd == 97 {
            var record = FDFSHeader.size + 6
            while record + StorageClusterStatRecord.size <= out.count {
                if let nul = out[record..<(record + 16)].firstIndex(of: 0) {
                    for i in nul..<(record + 16) { out[i] = 0 }
                }
                record += StorageClusterStatRecord.size
            }
        }
        return out
    }

    static func expectSameBytes(_ actual: [UInt8], _ expected: [UInt8], _ v: WireVector, part: String) {
        let a = masked(actual, v, part: part), e = masked(expected, v, part: part)
        #expect(a == e, "\(part) of \(v.name) re-encodes differently:\n ours \(Hex.encode(a))\n C    \(Hex.encode(e))")
    }

    struct Outcome {
        var requestDecoded = false
        var responseDecoded = false
        var factsChecked = 0
    }

    @Test(arguments: WireVector.all)
    func vectorRoundTrips(_ v: WireVector) throws {
        _ = try Self.check(v)
    }

    /// Totals for the record (printed, and the closing note quotes them).
    @Test func summary() throws {
        var outcomes: [Outcome] = []
        for v in try WireVector.loadAll() { outcomes.append(try Self.check(v)) }
        let decoded = outcomes.filter(\.requestDecoded).count
        let responses = outcomes.filter(\.responseDecoded).count
        let facts = outcomes.map(\.factsChecked).reduce(0, +)
        print("golden vectors: \(outcomes.count) records, \(decoded) requests decoded and re-encoded, \(outcomes.count - decoded) refused as malformed (EINVAL in the capture), \(responses) success responses decoded and re-encoded, \(facts) note facts checked")
        #expect(outcomes.count == 342)
        #expect(decoded > 300)
    }

    static func check(_ v: WireVector) throws -> Outcome {
        var outcome = Outcome()
        var requestDump = ValueDump()
        var responseDump = ValueDump()
        var descriptor: CommandDescriptor? = nil
        var requestDecoded = false

        // Request: framed as the server would frame it, decoded, re-encoded.
        do {
            let (header, fixed, content) = try Self.frame(v.requestBytes, policy: .server(v.role))
            requestDump.add(header)
            let request = try CommandRegistry.decodeRequest(header: header, body: fixed, role: v.role)
            let d = try #require(CommandRegistry.descriptor(for: header.command, role: v.role))
            descriptor = d
            #expect(d.name == v.cmd_name)
            requestDump.add(request)
            requestDump.add(content)
            var packet = request.requestPacket()
            packet.writeBytes(content)
            Self.expectSameBytes(Array(packet.readableBytesView), v.requestBytes, v, part: "request")
            requestDecoded = true
            outcome.requestDecoded = true
        } catch let error as FDFSProtocolError {
            // We refuse a packet only where the C server answered EINVAL (22).
            #expect(v.status == 22, "\(v.name): our decoder refused the request (\(error)) but the C server answered \(String(describing: v.status))")
            descriptor = CommandRegistry.descriptor(for: UInt8(v.cmd), role: v.role)
        }

        // Response: framed as a client would frame it, decoded, re-encoded.
        if let responseBytes = v.responseBytes {
            let (header, body, _) = try Self.frame(responseBytes, policy: .response(limits: FDFSLimits(maxBufferedBodyBytes: 1 << 20)))
            responseDump.add(header)
            #expect(header.command == FDFSHeader.responseCommand)
            #expect(Int(header.status) == v.status)
            if header.status == 0, let d = descriptor {
                let response = try d.decodeResponse(body: body)
                responseDump.add(response)
                outcome.responseDecoded = true
                Self.expectSameBytes(Array(response.responsePacket().readableBytesView), responseBytes, v, part: "response")
            } else {
                #expect(body.readableBytes == 0, "error replies carry no body")
                var packet = ByteBuffer()
                FDFSHeader.response(bodyLength: 0, status: FDFSStatus(header.status)).encode(into: &packet)
                Self.expectSameBytes(Array(packet.readableBytesView), responseBytes, v, part: "response")
            }
        } else {
            #expect(v.cmd == 82, "only QUIT has no reply")
        }
        _ = requestDecoded

        // The facts the note states must be in what we decoded.
        let (requestText, responseText) = NoteFacts.segments(v.note)
        if requestDecoded {
            let r = NoteFacts.missing(in: requestText, dump: requestDump)
            #expect(r.missing.isEmpty, "\(v.name): request facts not decoded: \(r.missing)")
            outcome.factsChecked += r.checked
        }
        let r = NoteFacts.missing(in: responseText, dump: responseDump)
        #expect(r.missing.isEmpty, "\(v.name): response facts not decoded: \(r.missing)")
        outcome.factsChecked += r.checked
        return outcome
    }
}

import NIOCore
import Testing
import FDFSModel
import FDFSTesting
@testable import FDFSProtocol

/// Seeded random and mutated inputs for every decoder: no crash, no hang, only
/// `FDFSProtocolError` for bad input, and no buffer beyond the configured limits. A failure
/// names the decoder, seed and iteration so it can be replayed.
enum Fuzz {
    static let iterations = 100_000
    static let interestingBytes: [UInt8] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF, 0x2E, 0x2F, 0x0A]
    static let interestingInt64: [Int64] = [0, 1, -1, 15, 16, 44, 127, 128, 255, 256, 4096, Int64(Int32.max), Int64(Int32.min), .max, .min, 1 << 58]

    /// Request and response bodies of the golden vectors, by role and command.
    static let corpus: [FDFSServerRole: [UInt8: (requests: [[UInt8]], responses: [[UInt8]])]] = {
        var out: [FDFSServerRole: [UInt8: (requests: [[UInt8]], responses: [[UInt8]])]] = [.tracker: [:], .storage: [:]]
        for v in WireVector.all {
            let cmd = UInt8(v.cmd)
            var entry = out[v.role]![cmd] ?? ([], [])
            entry.requests.append(Array(v.requestBytes.dropFirst(FDFSHeader.size)))
            if let r = v.responseBytes, r.count > FDFSHeader.size { entry.responses.append(Array(r.dropFirst(FDFSHeader.size))) }
            out[v.role]![cmd] = entry
        }
        return out
    }()

    static func randomBytes(_ n: Int, _ rng: inout SeededRandomNumberGenerator) -> [UInt8] {
        (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func mutate(_ seed: [UInt8], _ rng: inout SeededRandomNumberGenerator) -> [UInt8] {
        var b = seed
        switch Int.random(in: 0..<8, using: &rng) {
        case 0:
            return randomBytes(Int.random(in: 0..<300, using: &rng), &rng)
        case 1:
            for _ in 0..<Int.random(in: 1...8, using: &rng) where !b.isEmpty {
                b[Int.random(in: 0..<b.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
        case 2:
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !b.isEmpty {
                b[Int.random(in: 0..<b.count, using: &rng)] = interestingBytes.randomElement(using: &rng)!
            }
        case 3:
            b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
        case 4:
            b += randomBytes(Int.random(in: 1...64, using: &rng), &rng)
        case 5:
            // Overwrite an 8-byte slot (length fields are i64 at 8-byte offsets) with an edge value.
            if b.count >= 8 {
                let at = Int.random(in: 0...((b.count - 8) / 8), using: &rng) * 8
                let v = UInt64(bitPattern: interestingInt64.randomElement(using: &rng)!)
                for i in 0..<8 { b[at + i] = UInt8((v >> UInt64(56 - 8 * i)) & 0xFF) }
            }
        case 6:
            if !b.isEmpty {
                let from = Int.random(in: 0..<b.count, using: &rng)
                let to = Int.random(in: from...b.count, using: &rng)
                b.insert(contentsOf: b[from..<to], at: Int.random(in: 0...b.count, using: &rng))
            }
        default:
            break
        }
        return b
    }

    static func seed(_ name: String) -> UInt64 {
        name.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}

@Suite struct FuzzTests {
    struct BodyDecoder: CustomTestStringConvertible, Sendable {
        let role: FDFSServerRole
        let code: UInt8
        let response: Bool
        var testDescription: String { "\(role.rawValue) \(code) \(response ? "response" : "request")" }
    }

    static let bodyDecoders: [BodyDecoder] = FDFSServerRole.allCases.flatMap { role in
        CommandRegistry.commands(for: role).flatMap { d in [false, true].map { BodyDecoder(role: role, code: d.code, response: $0) } }
    }

    @Test(arguments: bodyDecoders)
    func bodyDecoderSurvivesRandomAndMutatedInput(_ target: BodyDecoder) throws {
        let d = try #require(CommandRegistry.descriptor(for: target.code, role: target.role))
        var rng = SeededRandomNumberGenerator(seed: Fuzz.seed(target.testDescription))
        let own = Fuzz.corpus[target.role]?[target.code]
        let ownSeeds = (target.response ? own?.responses : own?.requests) ?? []
        let anySeeds = Fuzz.corpus[target.role]!.values.flatMap { target.response ? $0.responses : $0.requests }
        var accepted = 0
        for i in 0..<Fuzz.iterations {
            let pool = !ownSeeds.isEmpty && Bool.random(using: &rng) ? ownSeeds : anySeeds
            let input = Fuzz.mutate(pool.randomElement(using: &rng) ?? [], &rng)
            let body = ByteBuffer(bytes: input)
            do {
                let value: any FDFSBody
                if target.response {
                    value = try d.decodeResponse(body: body)
                } else {
                    let status: UInt8 = Int.random(in: 0..<8, using: &rng) == 0 ? .random(in: 0...255, using: &rng) : 0
                    value = try d.decodeRequest(body: body, headerStatus: status)
                }
                accepted += 1
                // What was accepted can be written again, in bounded space.
                let again = value.encodedBody()
                #expect(again.readableBytes <= 4 * input.count + 64, "\(target.testDescription) iteration \(i): re-encoding grew")
            } catch {
                #expect(error.status == .EINVAL || (error.kind == .nameTooLong && target.code == 109), "\(target.testDescription) iteration \(i)")
            }
        }
        #expect(accepted <= Fuzz.iterations)
    }

    @Test(arguments: [FDFSFramingPolicy.server(.tracker, limits: FDFSLimits(maxBufferedBodyBytes: 4096, maxStreamContentBytes: 1 << 20, maxMetadataBytes: 512)),
                      .server(.storage, limits: FDFSLimits(maxBufferedBodyBytes: 4096, maxStreamContentBytes: 1 << 20, maxMetadataBytes: 512)),
                      .response(streamBody: false, limits: FDFSLimits(maxBufferedBodyBytes: 4096)),
                      .response(streamBody: true, limits: FDFSLimits(maxBufferedBodyBytes: 4096))].enumerated().map { $0 })
    func frameDecoderSurvivesRandomStreams(_ indexed: (offset: Int, element: FDFSFramingPolicy)) throws {
        let policy = indexed.element
        let limit = policy.limits.maxBufferedBodyBytes
        var rng = SeededRandomNumberGenerator(seed: Fuzz.seed("frame \(indexed.offset)"))
        let packets = WireVector.all.flatMap { [$0.requestBytes] + ($0.responseBytes.map { [$0] } ?? []) }
        var errors = 0, frames = 0
        for i in 0..<Fuzz.iterations {
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                var p = Fuzz.mutate(packets.randomElement(using: &rng)!, &rng)
                if p.count >= 10, Int.random(in: 0..<4, using: &rng) == 0 {
                    // A header whose length disagrees with what follows.
                    let v = UInt64(bitPattern: Fuzz.interestingInt64.randomElement(using: &rng)!)
                    for k in 0..<8 { p[k] = UInt8((v >> UInt64(56 - 8 * k)) & 0xFF) }
                }
                stream += p
            }
            var decoder = FDFSFrameDecoder(policy: policy)
            var buffer = ByteBuffer()
            var offset = 0
            do {
                while offset < stream.count {
                    let n = min(stream.count - offset, Int.random(in: 1...600, using: &rng))
                    buffer.writeBytes(stream[offset..<(offset + n)])
                    offset += n
                    while let _ = try decoder.next(&buffer) { frames += 1 }
                    // Waiting for more input never means holding more than the limit.
                    #expect(buffer.readableBytes <= limit, "policy \(indexed.offset) iteration \(i): \(buffer.readableBytes) bytes held")
                }
                _ = try? decoder.finish(&buffer)
            } catch {
                errors += 1
                #expect(error.status == .EINVAL)
            }
        }
        #expect(frames > 0 && errors > 0)
    }
}

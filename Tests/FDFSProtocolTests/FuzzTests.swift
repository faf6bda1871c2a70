import NIOCore
import Testing
import FDFSModel
import FDFSTesting
@testable import FDFSProtocol

/// Seeded random and mutated inputs for every decoder: no crash, no hang, only
/// `FDFSProtocolError` for bad input, and no buffer beyond the configured limits. A failure
/// names the decoder, seed and iteration so it can be replayed.
enum Fuzz {
    /// Per decoder target (about 85 of them) and per framing policy: 10,000 in CI, about 50 s
    /// of CPU in all; `FDFS_PROPERTY_SCALE` runs more.
    static let iterations = PropertyBudget.iterations(10_000)
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
    /// `role code` of the commands the capture sent as unknown ones (code 250, which is now our
    /// LIST_FILES extension): their only seed is an empty body that both C servers refused,
    /// and so do we.
    static let probedAsUnknown: Set<String> = Set(WireVector.all.filter { $0.cmd_name.hasPrefix("UNKNOWN") }.map { "\($0.role.rawValue) \($0.cmd)" })
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
        var rng = SeededRandomNumberGenerator(seed: Mutator.seed(target.testDescription))
        let own = Fuzz.corpus[target.role]?[target.code]
        let ownSeeds = (target.response ? own?.responses : own?.requests) ?? []
        let anySeeds = Fuzz.corpus[target.role]!.values.flatMap { target.response ? $0.responses : $0.requests }
        var accepted = 0
        for i in 0..<Fuzz.iterations {
            let pool = !ownSeeds.isEmpty && Bool.random(using: &rng) ? ownSeeds : anySeeds
            let input = Mutator.mutate(pool.randomElement(using: &rng) ?? [], &rng)
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
        // Unchanged seeds from the capture are among the inputs, so some must be accepted.
        if !ownSeeds.isEmpty && !Fuzz.probedAsUnknown.contains("\(target.role.rawValue) \(target.code)") { #expect(accepted > 0, "\(target.testDescription) accepted nothing") }
    }

    @Test(arguments: [FDFSFramingPolicy.server(.tracker, limits: FDFSLimits(maxBufferedBodyBytes: 4096, maxStreamContentBytes: 1 << 20, maxMetadataBytes: 512)),
                      .server(.storage, limits: FDFSLimits(maxBufferedBodyBytes: 4096, maxStreamContentBytes: 1 << 20, maxMetadataBytes: 512)),
                      .response(streamBody: false, limits: FDFSLimits(maxBufferedBodyBytes: 4096)),
                      .response(streamBody: true, limits: FDFSLimits(maxBufferedBodyBytes: 4096))].enumerated().map { $0 })
    func frameDecoderSurvivesRandomStreams(_ indexed: (offset: Int, element: FDFSFramingPolicy)) throws {
        let policy = indexed.element
        let limit = policy.limits.maxBufferedBodyBytes
        var rng = SeededRandomNumberGenerator(seed: Mutator.seed("frame \(indexed.offset)"))
        let packets = WireVector.all.flatMap { [$0.requestBytes] + ($0.responseBytes.map { [$0] } ?? []) }
        var errors = 0, frames = 0
        for i in 0..<Fuzz.iterations {
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                var p = Mutator.mutate(packets.randomElement(using: &rng)!, &rng)
                if p.count >= 10, Int.random(in: 0..<4, using: &rng) == 0 {
                    // A header whose length disagrees with what follows.
                    let v = UInt64(bitPattern: Mutator.interestingInt64.randomElement(using: &rng)!)
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

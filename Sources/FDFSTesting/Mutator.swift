/// Seeded mutations for fuzz tests: random inputs, bit flips, edge-value bytes and i64
/// fields, truncation, extension and splicing. With an `alphabet`, inserted and random bytes
/// come from it (text formats); otherwise from all 256 values.
public enum Mutator {
    public static let interestingBytes: [UInt8] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF, 0x2E, 0x2F, 0x0A]
    public static let interestingInt64: [Int64] = [0, 1, -1, 15, 16, 44, 127, 128, 255, 256, 4096, Int64(Int32.max), Int64(Int32.min), .max, .min, 1 << 58]

    public static func randomBytes(_ n: Int, alphabet: [UInt8]? = nil, _ rng: inout SeededRandomNumberGenerator) -> [UInt8] {
        (0..<n).map { _ in alphabet?.randomElement(using: &rng) ?? UInt8.random(in: 0...255, using: &rng) }
    }

    public static func mutate(_ seed: [UInt8], alphabet: [UInt8]? = nil, _ rng: inout SeededRandomNumberGenerator) -> [UInt8] {
        var b = seed
        switch Int.random(in: 0..<8, using: &rng) {
        case 0:
            return randomBytes(Int.random(in: 0..<300, using: &rng), alphabet: alphabet, &rng)
        case 1:
            for _ in 0..<Int.random(in: 1...8, using: &rng) where !b.isEmpty {
                b[Int.random(in: 0..<b.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
        case 2:
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !b.isEmpty {
                b[Int.random(in: 0..<b.count, using: &rng)] = (alphabet ?? interestingBytes).randomElement(using: &rng)!
            }
        case 3:
            b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
        case 4:
            b.insert(contentsOf: randomBytes(Int.random(in: 1...64, using: &rng), alphabet: alphabet, &rng), at: Int.random(in: 0...b.count, using: &rng))
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

    /// A stable seed from a test's name (FNV-1a), so each decoder gets its own stream.
    public static func seed(_ name: String) -> UInt64 {
        name.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}

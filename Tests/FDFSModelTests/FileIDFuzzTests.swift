import Testing
import FDFSModel
import FDFSTesting

/// 100,000 seeded random and mutated file ids: the parser never crashes, and whatever it
/// accepts formats back to the same text and names a path inside its store path.
@Suite struct FileIDFuzzTests {
    static let seeds = [
        "group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg",
        "group1/M00/00/00/fwAAH2sBe-yIMoveAAAAGLjNE2IAAAAAQAAAAAAAAEA013.txt",
        "group1/M00/00/00/oYYBAGsBgtCAMkmeAAAAGsY9pEY897_big.jpg",
        "group1/M00/00/00/fwAAH2sBediESj9IAAAAADUkQcI8190047",
        "g/MFF/FF/FF/wKgBCmVT8QCEEjRWAAAAAA1KEYU.tar.gz",
    ]
    static let alphabet = Array("Mgroup1/.._-0123456789ABCDEFabcdefwKgB%\u{0}\\ ".utf8)

    @Test func parserSurvivesRandomAndMutatedIDs() {
        var rng = SeededRandomNumberGenerator(seed: 0xF11E_1D)
        var accepted = 0
        for i in 0..<100_000 {
            var b = Array(Self.seeds.randomElement(using: &rng)!.utf8)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: b = (0..<Int.random(in: 0..<160, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1:
                for _ in 0..<Int.random(in: 1...4, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = Self.alphabet.randomElement(using: &rng)! }
            case 2: b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
            case 3: b.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in Self.alphabet.randomElement(using: &rng)! },
                             at: Int.random(in: 0...b.count, using: &rng))
            default: b[Int.random(in: 0..<b.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
            let text = String(decoding: b, as: UTF8.self)
            guard let id = try? FileID(parsing: text) else { continue }
            accepted += 1
            #expect(id.description == text, "iteration \(i)")
            let path = id.remoteFilename.relativePath
            #expect(path.hasPrefix("data/") && !path.contains("..") && path.split(separator: "/").count == 4, "iteration \(i): \(path)")
        }
        #expect(accepted > 1000)
    }
}

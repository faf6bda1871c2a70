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
            let b = Mutator.mutate(Array(Self.seeds.randomElement(using: &rng)!.utf8), alphabet: Int.random(in: 0..<4, using: &rng) == 0 ? nil : Self.alphabet, &rng)
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

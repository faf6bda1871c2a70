public import Foundation

/// The shared test data captured from a real FastDFS 6.16.1 cluster, read at run time from
/// `../shared/vectors/` next to the repository. A missing file is an error (tests fail, they
/// do not skip).
public enum SharedVectors {
    /// The repository root (this file is `Sources/FDFSTesting/SharedVectors.swift`).
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let directory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors")

    public struct MissingFile: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "test data \(path) is missing: the tests need ../shared/vectors next to the repository" }
    }

    public static func url(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw MissingFile(path: url.path) }
        return url
    }

    public static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }

    public static func text(_ name: String) throws -> String { String(decoding: try data(name), as: UTF8.self) }
}

public enum Hex {
    /// Decodes hex digits, ignoring anything else (spaces, separators).
    public static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8? = nil
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: continue
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out += [digits[Int(b >> 4)], digits[Int(b & 0xF)]] }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A seeded generator (SplitMix64) so that random and fuzz tests are reproducible: a failure
/// prints its seed and iteration, and the same run can be repeated.
public struct SeededRandomNumberGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import CFDFSSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kernel randomness (getrandom) read 4 KiB at a time. `SystemRandomNumberGenerator` makes
/// one getrandom call per 8 bytes, and a new file name takes 8 random numbers: eight system
/// calls per upload. This one makes one per 512 numbers, with the same source.
///
/// Not Sendable: one owner (the storage's store actor) draws from it.
public struct KernelRandom: RandomNumberGenerator {
    private var buffer = [UInt64](repeating: 0, count: 512)
    private var position = 512

    public init() {}

    public mutating func next() -> UInt64 {
        if position == buffer.count { refill() }
        defer { position += 1 }
        return buffer[position]
    }

    private mutating func refill() {
        let filled = buffer.withUnsafeMutableBytes { bytes -> Bool in
            var done = 0
            while done < bytes.count {
                let n = cfdfs_getrandom(bytes.baseAddress! + done, bytes.count - done)
                if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return false }
            }
            return true
        }
        if !filled {
            // No getrandom (not Linux, or a kernel without it): the standard library's source.
            var system = SystemRandomNumberGenerator()
            for i in buffer.indices { buffer[i] = system.next() }
        }
        position = 0
    }
}

import CFDFSSystem
public import FDFSFileSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib's `crc32`), computed
/// incrementally over the slices of an upload as they arrive (protocol spec §6.6). Runs of 64
/// bytes and more go to the carry-less multiplication version in C (`cfdfs_crc32_fold`, x86-64
/// with PCLMULQDQ); the rest, and every byte elsewhere, to slicing by 8 tables.
public struct CRC32: Sendable, Hashable {
    /// The running register (before the final inversion).
    var register: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The CRC of everything fed so far.
    public var value: UInt32 { ~register }

    static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    /// Whether this CPU runs `cfdfs_crc32_fold`.
    static let foldAvailable = cfdfs_crc32_fold_available() != 0

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        if Self.foldAvailable && bytes.count >= 64 {
            let folded = bytes.count & ~15
            register = cfdfs_crc32_fold(register, bytes.baseAddress!, folded)
            rest = UnsafeRawBufferPointer(rebasing: bytes[folded...])
        }
        updateBySlicing(rest)
    }

    /// The table version, eight bytes per step.
    mutating func updateBySlicing(_ bytes: UnsafeRawBufferPointer) {
        let t = Self.tables
        var c = register
        var i = 0
        let n = bytes.count
        t[0].withUnsafeBufferPointer { t0 in
        t[1].withUnsafeBufferPointer { t1 in
        t[2].withUnsafeBufferPointer { t2 in
        t[3].withUnsafeBufferPointer { t3 in
        t[4].withUnsafeBufferPointer { t4 in
        t[5].withUnsafeBufferPointer { t5 in
        t[6].withUnsafeBufferPointer { t6 in
        t[7].withUnsafeBufferPointer { t7 in
            while n - i >= 8 {
                let lo = c ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
                let hi = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 24
                c = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)] ^ t4[Int(lo >> 24)]
                    ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)] ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t0[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }}}}}}}}
        register = c
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// The CRC of `bytes` in one call.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c = CRC32()
        c.update(bytes)
        return c.value
    }
}

extension CRC32 {
    /// The CRC32 of a whole file, read in 1 MiB pieces (memory stays bounded for any size).
    public static func checksum(ofFileAt path: String) throws(FileSystemError) -> UInt32 {
        let fd = try FileSystemCalls.open(path, O_RDONLY)
        defer { try? FileSystemCalls.close(fd, path: path) }
        var crc = CRC32()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunk)
            if n > 0 {
                crc.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            } else if n == 0 {
                return crc.value
            } else if errno != EINTR {
                throw FileSystemCalls.error("read", path)
            }
        }
    }
}

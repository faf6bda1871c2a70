import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Clients that leave Nagle's algorithm on and write a request in two parts (the C client
/// library, Java clients): the content waits for the ACK of the header, so a server that
/// delays its ACKs (Linux does, by about 40 ms) stalls every small upload.
@Suite struct NagleClientTests {
    /// 50 uploads of 4 KiB on one connection, each written as header + fixed part, then the
    /// content, with Nagle on. A stalled server needs about 50 x 44 ms = 2.2 s more than the
    /// same uploads from a client with Nagle off; a server that acknowledges at once needs
    /// about the same time for both. (Compared with the Nagle-off run rather than with a
    /// fixed time, so a loaded CI machine slows both alike.)
    @Test func smallUploadsInTwoWritesDoNotWaitForDelayedAcks() async throws {
        try await withStorage { storage in
            let port = storage.port
            // A stall costs every attempt its 2.2 s; a load spike on a busy CI machine hits one
            // attempt, not three.
            var attempts: [(withNagle: Duration, withoutNagle: Duration)] = []
            for _ in 0..<3 {
                let withoutNagle = try await onOwnThread { try Self.uploads(port: port, noDelay: true) }
                let withNagle = try await onOwnThread { try Self.uploads(port: port, noDelay: false) }
                attempts.append((withNagle, withoutNagle))
                if withNagle < withoutNagle + .milliseconds(1000) { break }
            }
            #expect(attempts.contains { $0.withNagle < $0.withoutNagle + .milliseconds(1000) },
                    "50 small uploads with Nagle on / off took \(attempts)")
        }
    }

    static func uploads(port: Int, noDelay: Bool) throws -> Duration {
        let client = try BlockingClient(port: port, noDelay: noDelay)
        defer { client.close() }
        let content = [UInt8](repeating: 0x61, count: 4096)
        let start = ContinuousClock.now
        for _ in 0..<50 {
            var fixed = UploadFileRequest(storePathIndex: -1, fileSize: Int64(content.count), fileExtension: "bin").requestPacket()
            try client.send(fixed.readBytes(length: fixed.readableBytes)!)
            try client.send(content)
            let status = try client.readResponseStatus()
            guard status == 0 else { throw BlockingClient.Failure("upload answered status \(status)") }
        }
        return ContinuousClock.now - start
    }
}


/// A plain blocking TCP client: one `send` per call, Nagle's algorithm as chosen.
final class BlockingClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    let fd: CInt

    init(port: Int, noDelay: Bool) throws {
        fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: errno \(errno)") }
        var one: CInt = noDelay ? 1 : 0
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw Failure("connect: errno \(errno)")
        }
    }

    func close() { Glibc.close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, 0) }
            guard n > 0 else { throw Failure("send: errno \(errno)") }
            sent += n
        }
    }

    func receive(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, count - received, 0) }
            guard n > 0 else { throw Failure(n == 0 ? "connection closed" : "recv: errno \(errno)") }
            received += n
        }
        return bytes
    }

    /// Reads one response and returns its status byte.
    func readResponseStatus() throws -> UInt8 {
        let header = try receive(FDFSHeader.size)
        let length = header[0..<8].reduce(0) { $0 << 8 | Int($1) }
        guard (0...1 << 20).contains(length) else { throw Failure("response length \(length)") }
        _ = try receive(length)
        return header[9]
    }
}

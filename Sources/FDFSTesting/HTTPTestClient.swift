import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking work (synchronous sockets, child processes, sleeps) on a thread of its own.
/// A test must never block one of the few threads of Swift's cooperative pool: every other
/// test's tasks in the process wait for them (on 2 cores there are 2), and unrelated tests
/// then miss their timeouts.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// One HTTP/1.1 response as a test reads it off the wire.
public struct HTTPTestResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first header of that name (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

public struct HTTPTestError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// A blocking HTTP/1.1 client over one TCP connection to 127.0.0.1, for tests: it writes
/// requests exactly as given and reads responses by their Content-Length, so keep-alive,
/// pipelining and malformed requests can all be tried. Every read times out after 10 s.
/// From async code use the `async` forms (`fetch`, `sendAsync`, ...), which block a thread of
/// their own (`onOwnThread`); one connection is used by one caller at a time.
public final class HTTPTestConnection: @unchecked Sendable {
    let fd: Int32
    var buffer: [UInt8] = []

    public init(port: Int, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPTestError("socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else {
            let e = errno
            Glibc.close(fd)
            throw HTTPTestError("connect to \(host):\(port): errno \(e)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Writes bytes as they are.
    public func send(_ text: String) throws { try send(bytes: Array(text.utf8)) }

    /// Writes bytes as they are.
    public func send(bytes: [UInt8]) throws {
        var bytes = bytes
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            guard n > 0 else { throw HTTPTestError("write: errno \(errno)") }
            done += n
        }
    }

    /// One request (HTTP/1.1, `Host` added), then its response.
    public func request(_ method: String = "GET", _ target: String, headers: [(String, String)] = []) throws -> HTTPTestResponse {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (n, v) in headers { text += "\(n): \(v)\r\n" }
        do {
            try send(text + "\r\n")
            return try readResponse(toHead: method == "HEAD")
        } catch {
            throw HTTPTestError("\(method) \(target): \(error)")
        }
    }

    /// The next response; a response to HEAD, a 304 and a 1xx carry no body whatever their
    /// Content-Length says. `discardBody` counts the body without keeping it.
    public func readResponse(toHead: Bool = false, discardBody: Bool = false) throws -> HTTPTestResponse {
        var end: Int?
        while end == nil {
            if let i = findHeadEnd() { end = i } else { try fill() }
        }
        let headText = String(decoding: buffer[..<end!], as: UTF8.self)
        buffer.removeFirst(end! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw HTTPTestError("bad status line in \(headText)") }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: " "))
        }
        var response = HTTPTestResponse(status: status, headers: headers, body: [])
        guard !toHead, status != 304, status >= 200 else { return response }
        var remaining = Int(response.header("Content-Length") ?? "0") ?? 0
        while remaining > 0 {
            if buffer.isEmpty { try fill() }
            let take = min(remaining, buffer.count)
            if !discardBody { response.body += buffer[..<take] }
            buffer.removeFirst(take)
            remaining -= take
        }
        return response
    }

    /// Reads up to `count` bytes (at least one), whatever they are.
    public func readSome(_ count: Int) throws -> [UInt8] {
        if buffer.isEmpty {
            var chunk = [UInt8](repeating: 0, count: count)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            guard n > 0 else { throw HTTPTestError(n == 0 ? "connection closed by the server" : "read: errno \(errno)") }
            return Array(chunk[..<n])
        }
        let take = min(count, buffer.count)
        defer { buffer.removeFirst(take) }
        return Array(buffer[..<take])
    }

    /// Whether the server closed the connection (reads end) within 10 s.
    public func closedByServer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { throw HTTPTestError(n == 0 ? "connection closed by the server" : "read: errno \(errno)") }
        buffer += chunk[..<n]
    }
}

extension HTTPTestConnection {
    /// `request` on a thread of its own.
    public func fetch(_ method: String = "GET", _ target: String, headers: [(String, String)] = []) async throws -> HTTPTestResponse {
        try await onOwnThread { try self.request(method, target, headers: headers) }
    }

    public func sendAsync(_ text: String) async throws { try await onOwnThread { try self.send(text) } }

    public func readResponseAsync(toHead: Bool = false, discardBody: Bool = false) async throws -> HTTPTestResponse {
        try await onOwnThread { try self.readResponse(toHead: toHead, discardBody: discardBody) }
    }

    public func readSomeAsync(_ count: Int) async throws -> [UInt8] { try await onOwnThread { try self.readSome(count) } }

    public func closedByServerAsync() async throws -> Bool { try await onOwnThread { self.closedByServer() } }

    /// A connection, made on a thread of its own.
    public static func open(port: Int) async throws -> HTTPTestConnection {
        try await onOwnThread { try HTTPTestConnection(port: port) }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }

    fileprivate func components(separatedBy separator: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: separator) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}

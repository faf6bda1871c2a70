import FDFSMetrics
import FDFSModel
import FDFSServerCore
import FDFSTesting
import Foundation
import Logging
import NIOPosix
import Synchronization
import Testing
@testable import FDFSHTTP

/// Files of group1 in a temporary store path; a file that is not there is "held by
/// 127.0.0.9:8080" when its name says so, else by nobody.
struct DirectorySource: HTTPFileSource {
    let group = try! GroupName("group1")
    let root: String
    /// When set, lookups of names ending in `held.txt` wait until it is opened.
    var hold: LookupHold? = nil
    var storePathCount: Int { 1 }
    func localPath(for url: HTTPFileURL) -> String? {
        if let g = url.group, g != group { return nil }
        return root + "/" + url.remoteFilename.relativePath
    }
    func redirectTarget(for url: HTTPFileURL) async -> String? {
        if let hold, url.remoteFilename.name.hasSuffix("held.txt") { await hold.wait() }
        return url.remoteFilename.name.hasSuffix("elsewhere.txt") ? "127.0.0.9:8080" : nil
    }
    func healthProblem() async -> String? { nil }
    let metrics = DaemonMetrics(role: .storage)
    /// The gateway's counters, and the files in the store path read at scrape time.
    func metricsExposition() async -> [UInt8] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: root + "/data/00/00").count) ?? -1
        return metrics.exposition { $0.set("test_files", help: "Files in the test's store path", Int64(files)) }
    }
}

/// A gateway on an ephemeral port serving `DirectorySource`, for the body of a test.
func withGateway<T>(token: AntiStealToken? = nil, failFile: String? = nil, networkTimeout: Duration = .seconds(30),
                    lookups: ConcurrencyLimit = ConcurrencyLimit(16), hold: LookupHold? = nil,
                    _ body: (_ port: Int, _ root: String) async throws -> T) async throws -> T {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-http-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root + "/data/00/00", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let source = DirectorySource(root: root, hold: hold)
    var settings = HTTPGatewaySettings(host: "127.0.0.1", port: 0, networkTimeout: networkTimeout,
                                       mimeTypes: MIMETypes(text: "text/plain txt\nimage/png png\n"), token: token, tokenCheckFailPath: failFile,
                                       responseMetrics: source.metrics.http)
    settings.redirectLookups = lookups
    // A loop of its own: the 10,000-request test must not queue work on the shared loops
    // that other suites' in-process servers time themselves on.
    let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    // The gateway is gone before its loop shuts down (its deinit touches a promise of the loop).
    let result = await served(HTTPGateway(settings: settings, source: source, eventLoopGroup: loops, logger: Logger(label: "test")),
                              root: root, body)
    try await loops.shutdownGracefully()
    return try result.get()
}

private func served<T>(_ gateway: HTTPGateway, root: String, _ body: (_ port: Int, _ root: String) async throws -> T) async -> Result<T, any Error> {
    let task = Task { try await gateway.run() }
    let result: Result<T, any Error>
    do {
        let port = try await gateway.waitUntilListening().port!
        result = .success(try await body(port, root))
    } catch {
        result = .failure(error)
    }
    task.cancel()
    _ = await task.result
    return result
}

let content: [UInt8] = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }

func put(_ root: String, _ name: String = sampleName, _ bytes: [UInt8] = content) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: root + "/data/00/00/" + String(name.split(separator: "/").last!)))
}

/// Holds lookups until `open()`.
final class LookupHold: Sendable {
    private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { c in
            let resume = state.withLock { s in
                if s.open { return true }
                s.waiting.append(c)
                return false
            }
            if resume { c.resume() }
        }
    }
    func open() {
        for c in state.withLock({ s in s.open = true; defer { s.waiting = [] }; return s.waiting }) { c.resume() }
    }
}

@Suite struct GatewayServingTests {
    @Test("lookups of missing files are bounded: beyond the limit, 503 at once; the held one ends in 404")
    func missingFileLookupsAreBounded() async throws {
        let hold = LookupHold()
        let limit = ConcurrencyLimit(2)
        try await withGateway(lookups: limit, hold: hold) { port, _ in
            let held = try await [HTTPTestConnection.open(port: port), HTTPTestConnection.open(port: port)]
            for (i, c) in held.enumerated() {
                try await c.sendAsync("GET /group1/M00/00/00/fwAAH2sBediAVdnlAAAADwL5vO4\(i)held.txt HTTP/1.1\r\nHost: s\r\n\r\n")
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while limit.inUse < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(limit.inUse == 2)
            let third = try await HTTPTestConnection.open(port: port)
            let busy = try await third.fetch("GET", "/group1/M00/00/00/fwAAH2sBediAVdnlAAAADwL5vO4981.txt")
            #expect(busy.status == 503 && busy.header("Retry-After") == "1")
            hold.open()
            for c in held { #expect(try await c.readResponseAsync().status == 404) }
            #expect(limit.inUse == 0)
            #expect(try await third.fetch("GET", "/group1/M00/00/00/fwAAH2sBediAVdnlAAAADwL5vO4981.txt").status == 404)
        }
    }

    @Test func getHeadAndValidators() async throws {
        try await withGateway { port, root in
            try put(root)
            let c = try await HTTPTestConnection.open(port: port)
            let r = try await c.fetch("GET", "/group1/" + sampleName)
            #expect(r.status == 200 && r.body == content)
            #expect(r.header("Content-Type") == "text/plain")
            #expect(r.header("Content-Length") == "100000")
            #expect(r.header("Accept-Ranges") == "bytes")
            // The name's CRC32 (02f9bcee) and the size.
            #expect(r.header("ETag") == "\"2f9bcee-186a0\"")
            let created = try RemoteFilename(parsing: sampleName).block.createTimestamp
            #expect(r.header("Last-Modified") == HTTPDate.format(Int64(created)))
            let h = try await c.fetch("HEAD", "/" + sampleName)
            #expect(h.status == 200 && h.body.isEmpty && h.header("Content-Length") == "100000")
            #expect(try await c.fetch("GET", "/" + sampleName, headers: [("If-None-Match", r.header("ETag")!)]).status == 304)
            #expect(try await c.fetch("GET", "/" + sampleName, headers: [("If-None-Match", "\"other\", W/" + r.header("ETag")!)]).status == 304)
            #expect(try await c.fetch("GET", "/" + sampleName, headers: [("If-None-Match", "\"other\"")]).status == 200)
            #expect(try await c.fetch("GET", "/" + sampleName, headers: [("If-Modified-Since", r.header("Last-Modified")!)]).status == 304)
            #expect(try await c.fetch("GET", "/" + sampleName, headers: [("If-Modified-Since", HTTPDate.format(Int64(created) - 1))]).status == 200)
            let d = try await c.fetch("GET", "/" + sampleName + "?filename=report%20%C3%A9t%C3%A9.txt")
            #expect(d.header("Content-Disposition") == "attachment; filename=\"report _t_.txt\"; filename*=UTF-8''report%20%C3%A9t%C3%A9.txt")
        }
    }

    @Test func ranges() async throws {
        try await withGateway { port, root in
            try put(root)
            let c = try await HTTPTestConnection.open(port: port)
            func check(_ range: String, _ lower: Int, _ upper: Int) async throws {
                let r = try await c.fetch("GET", "/group1/" + sampleName, headers: [("Range", range)])
                #expect(r.status == 206, "\(range)")
                #expect(r.header("Content-Range") == "bytes \(lower)-\(upper)/100000", "\(range)")
                #expect(r.body == Array(content[lower...upper]), "\(range)")
            }
            try await check("bytes=0-9", 0, 9)
            try await check("bytes=50000-50099", 50000, 50099)
            try await check("bytes=-100", 99900, 99999)
            try await check("bytes=99000-", 99000, 99999)
            try await check("bytes=99990-200000", 99990, 99999)
            let past = try await c.fetch("GET", "/group1/" + sampleName, headers: [("Range", "bytes=100000-")])
            #expect(past.status == 416 && past.header("Content-Range") == "bytes */100000" && past.body.isEmpty)
            let many = try await c.fetch("GET", "/group1/" + sampleName, headers: [("Range", "bytes=0-1,5-6")])
            #expect(many.status == 200 && many.body == content)
            let stale = try await c.fetch("GET", "/group1/" + sampleName, headers: [("Range", "bytes=0-9"), ("If-Range", "\"old\"")])
            #expect(stale.status == 200 && stale.body.count == 100_000)
        }
    }

    @Test func badRequestsGetCleanErrorsAndTheConnectionLives() async throws {
        try await withGateway { port, root in
            try put(root)
            let c = try await HTTPTestConnection.open(port: port)
            #expect(try await c.fetch("GET", "/group1/M00/00/00/..%2F..%2Fetc%2Fpasswd").status == 400)
            #expect(try await c.fetch("GET", "/group1/M00/../../../../etc/passwd").status == 400)
            #expect(try await c.fetch("GET", "/group1/M00/00/00/abc.txt").status == 400)
            #expect(try await c.fetch("GET", "/nothing-here").status == 404)
            let post = try await c.fetch("POST", "/group1/" + sampleName, headers: [("Content-Length", "0")])
            #expect(post.status == 405 && post.header("Allow") == "GET, HEAD")
            #expect(try await c.fetch("DELETE", "/group1/" + sampleName).status == 405)
            #expect(try await c.fetch("GET", "/group1/" + sampleName).body == content)  // still served on the same connection
            // A file nobody has: 404; one another member has: 302 there, once.
            #expect(try await c.fetch("GET", "/group1/M00/00/00/fwAAH2sBediAVdnlAAAADwL5vO4982.txt").status == 404)
            let elsewhere = "/group1/M00/00/00/fwAAH2sBediAVdnlAAAADwL5vOelsewhere.txt"
            let moved = try await c.fetch("GET", elsewhere + "?filename=x.txt")
            #expect(moved.status == 302 && moved.header("Location") == "http://127.0.0.9:8080" + elsewhere + "?filename=x.txt&redirect=1")
            #expect(try await c.fetch("GET", elsewhere + "?redirect=1").status == 404)
            #expect(try await c.fetch("GET", "/healthz").body == Array("ok\n".utf8))
            // A header over NIO's limit (80 KiB): 400 and the connection closed. The close can
            // reset the connection before the 400 is read (the server leaves the rest unread).
            let huge = try await HTTPTestConnection.open(port: port)
            try? await huge.sendAsync("GET /" + sampleName + " HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n")
            let refused = try? await huge.readResponseAsync()
            #expect(refused == nil || refused?.status == 400)
            #expect(try await huge.closedByServerAsync())
            // Garbage instead of HTTP.
            let junk = try await HTTPTestConnection.open(port: port)
            try await junk.sendAsync("\u{01}\u{02}\u{03} nonsense\r\n\r\n")
            #expect(try await junk.readResponseAsync().status == 400)
            #expect(try await HTTPTestConnection.open(port: port).fetch("GET", "/" + sampleName).body == content)
        }
    }

    /// `/metrics`: the gateway's responses by code, and what the source reads at scrape time,
    /// as the Prometheus Python client parses them.
    @Test func responsesAreCountedByCode() async throws {
        try await withGateway { port, root in
            try put(root)
            let c = try await HTTPTestConnection.open(port: port)
            for _ in 0..<2 { #expect(try await c.fetch("GET", "/group1/" + sampleName).status == 200) }
            #expect(try await c.fetch("HEAD", "/group1/" + sampleName).status == 200)
            #expect(try await c.fetch("GET", "/group1/M00/00/00/fwAAH2sBediAVdnlAAAADwL5vO4982.txt").status == 404)
            #expect(try await c.fetch("DELETE", "/group1/" + sampleName).status == 405)
            #expect(try await c.fetch("GET", "/group1/M00/00/00/abc.txt").status == 400)
            #expect(try await c.fetch("GET", "/group1/" + sampleName, headers: [("Range", "bytes=10-19")]).status == 206)
            let scraped = try await c.fetch("GET", "/metrics")
            #expect(scraped.status == 200 && scraped.header("Content-Type") == DaemonMetrics.contentType)
            let page = try await PrometheusText.parse(scraped.body)
            #expect(page.families["fdfs_http_responses"]?.type == "counter")
            #expect(page.value("fdfs_http_responses_total", ["code": "200"]) == 3)
            #expect(page.value("fdfs_http_responses_total", ["code": "206"]) == 1)
            #expect(page.value("fdfs_http_responses_total", ["code": "404"]) == 1)
            #expect(page.value("fdfs_http_responses_total", ["code": "405"]) == 1)
            #expect(page.value("fdfs_http_responses_total", ["code": "400"]) == 1)
            #expect(page.value("fdfs_http_responses_total", ["code": "304"]) == 0)
            // Two whole files and ten bytes; HEAD sends no body; the error messages are short.
            let body = page.value("fdfs_http_sent_body_bytes_total") ?? 0
            #expect(body >= 200_010 && body < 201_000)
            #expect(page.value("test_files") == 1)
            // The FastDFS port's families are there before any request, at zero.
            #expect(page.value("fdfs_requests_total", ["command": "UPLOAD_FILE", "status": "0"]) == 0)
            #expect(page.families["fdfs_request_duration_seconds"]?.type == "histogram")
            // The scrape's own response is counted after its page was made.
            let again = try await PrometheusText.parse(try await c.fetch("GET", "/metrics").body)
            #expect(again.value("fdfs_http_responses_total", ["code": "200"]) == 4)
            #expect(try await c.fetch("HEAD", "/metrics").body.isEmpty)
        }
    }

    @Test func tokensAreChecked() async throws {
        let token = AntiStealToken(secretKey: "s3cret", ttlSeconds: 600)
        try await withGateway(token: token) { port, root in
            try put(root)
            let c = try await HTTPTestConnection.open(port: port)
            let now = Int64(Date().timeIntervalSince1970)
            let withGroup = AntiStealToken.make(fileID: "group1/" + sampleName, secretKey: "s3cret", timestamp: now)
            let withoutGroup = AntiStealToken.make(fileID: sampleName, secretKey: "s3cret", timestamp: now)
            #expect(try await c.fetch("GET", "/group1/" + sampleName + "?token=\(withGroup)&ts=\(now)").status == 200)
            #expect(try await c.fetch("GET", "/" + sampleName + "?token=\(withoutGroup)&ts=\(now)").status == 200)
            let old = now - 601
            let expired = AntiStealToken.make(fileID: sampleName, secretKey: "s3cret", timestamp: old)
            #expect(try await c.fetch("GET", "/" + sampleName + "?token=\(expired)&ts=\(old)").status == 403)
            #expect(try await c.fetch("GET", "/" + sampleName + "?token=\(withoutGroup)&ts=\(now + 1)").status == 403)
            #expect(try await c.fetch("GET", "/" + sampleName).status == 403)
        }
        let fail = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-denied-\(UUID().uuidString).png").path
        try Data("denied".utf8).write(to: URL(fileURLWithPath: fail))
        defer { try? FileManager.default.removeItem(atPath: fail) }
        try await withGateway(token: token, failFile: fail) { port, root in
            try put(root)
            let r = try await HTTPTestConnection.open(port: port).fetch("GET", "/" + sampleName + "?token=00000000000000000000000000000000&ts=0")
            #expect(r.status == 200 && r.body == Array("denied".utf8) && r.header("Content-Type") == "image/png")
        }
    }

    @Test func tenThousandRequestsOnOneKeepAliveConnectionPipelined() async throws {
        try await withGateway { port, root in
            try put(root, sampleName, Array(content[..<4096]))
            let c = try await HTTPTestConnection.open(port: port)
            let request = "GET /group1/\(sampleName) HTTP/1.1\r\nHost: x\r\n\r\n"
            let ok = try await onOwnThread {
                var ok = 0
                for _ in 0..<100 {
                    try c.send(String(repeating: request, count: 100))  // 100 pipelined requests at a time
                    for _ in 0..<100 where try c.readResponse(discardBody: true).status == 200 { ok += 1 }
                }
                return ok
            }
            #expect(ok == 10_000)
            // HTTP/1.0 without keep-alive: answered, then closed.
            try await c.sendAsync("GET /group1/\(sampleName) HTTP/1.0\r\n\r\n")
            let last = try await c.readResponseAsync()
            #expect(last.status == 200 && last.body.count == 4096 && last.header("Connection") == "close")
            #expect(try await c.closedByServerAsync())
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        try await withGateway(networkTimeout: .seconds(1)) { port, _ in
            let c = try await HTTPTestConnection.open(port: port)
            try await c.sendAsync("GET /healthz HTTP/1.1\r\n")  // half a request, then nothing
            #expect(try await c.closedByServerAsync())  // the network timeout (1 s here)
        }
    }
}

import FDFSHTTP
import FDFSModel
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The HTTP port's request handling: raw bytes through NIO's HTTP/1 request decoder (llhttp)
/// as the gateway wires it, then, for every request head, what our handler parses from it:
/// the request target (`HTTPFileURL`), `Range`, `If-Modified-Since` and the anti-steal token.
/// The whole input is also tried as each of those alone, so inputs llhttp refuses still reach
/// our parsers. Invariants: a parsed target names a path inside its store path; a range lies
/// within the file; a parsed date prints back to the same instant.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    checkTarget(text)
    checkRange(text)
    checkDate(text)

    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    do {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    } catch {
        return 0  // llhttp refused the bytes: what it decoded before is still read below
    }
    while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
        guard case .head(let head) = part else { continue }
        if let url = checkTarget(head.uri) {
            _ = AntiStealToken(secretKey: "FastDFS1234567890", ttlSeconds: 600).refusal(
                token: url.parameters["token"], timestamp: url.parameters["ts"],
                fileIDWithGroup: url.fileID(defaultGroup: try! GroupName("group1")),
                fileIDWithoutGroup: url.remoteFilename.text, now: 1_800_000_000)
        }
        for value in head.headers["Range"] { checkRange(value) }
        for value in head.headers["If-Modified-Since"] { checkDate(value) }
    }
    return 0
}

@discardableResult
func checkTarget(_ target: String) -> HTTPFileURL? {
    guard let url = try? HTTPFileURL(target: target) else { return nil }
    let path = url.remoteFilename.relativePath
    precondition(!path.split(separator: "/").contains(".."), "path escapes its store path: \(path) from \(target)")
    precondition(!path.hasPrefix("/"), "absolute path \(path) from \(target)")
    precondition(!url.path.contains("%"), "an escape reached the path: \(url.path)")
    return url
}

func checkRange(_ header: String) {
    for size: Int64 in [0, 1, 4096, 1 << 40] {
        switch ByteRangeRequest(header: header, size: size) {
        case .part(let lower, let upper):
            precondition(0 <= lower && lower <= upper && upper < size, "range \(lower)-\(upper) of \(size) bytes from \(header)")
        case .whole, .unsatisfiable:
            break
        }
    }
}

func checkDate(_ text: String) {
    guard let t = HTTPDate.parse(text), (0...253_402_300_799).contains(t) else { return }
    let printed = HTTPDate.format(t)
    precondition(HTTPDate.parse(printed) == t, "\(text) is \(t), printed as \(printed)")
}

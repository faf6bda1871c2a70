import FDFSMetrics
import FDFSModel
import FDFSServerCore
import Logging
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP connection: GET and HEAD of files (ranges, conditional requests, the anti-steal
/// token, a redirect for files held elsewhere), `/healthz` and `/metrics`. Runs on the
/// connection's event loop; file bodies go out by sendfile.
final class HTTPFileHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let settings: HTTPGatewaySettings
    let health: any HTTPHealthSource
    let files: (any HTTPFileSource)?
    let logger: Logger
    var head: HTTPRequestHead?
    /// Made on the first `later` of this connection and kept for the next ones.
    private var executor: EventLoopTaskExecutor?

    init(settings: HTTPGatewaySettings, health: any HTTPHealthSource, files: (any HTTPFileSource)?, logger: Logger) {
        self.settings = settings
        self.health = health
        self.files = files
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break  // GET and HEAD carry no body worth reading
        case .end:
            if let h = head {
                head = nil
                respond(to: h, context: context)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("HTTP connection error", metadata: ["fdfs.error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Requests

    func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET || head.method == .HEAD else {
            return simple(.methodNotAllowed, "only GET and HEAD are served", head: head, context: context, extra: [("Allow", "GET, HEAD")])
        }
        if head.uri == "/healthz" || head.uri.hasPrefix("/healthz?") {
            return later(head, context: context, { [health] in await health.healthProblem() }) { handler, problem, context in
                if let problem {
                    handler.simple(.serviceUnavailable, problem, head: head, context: context)
                } else {
                    handler.simple(.ok, "ok", head: head, context: context)
                }
            }
        }
        if head.uri == "/metrics" || head.uri.hasPrefix("/metrics?") {
            return later(head, context: context, { [health] in await health.metricsExposition() }) { handler, exposition, context in
                var body = context.channel.allocator.buffer(capacity: exposition.count)
                body.writeBytes(exposition)
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: DaemonMetrics.contentType)
                headers.add(name: "Content-Length", value: String(body.readableBytes))
                handler.send(.ok, headers: headers, body: head.method == .HEAD ? nil : body, head: head, context: context, contentLengthSet: true)
            }
        }
        guard let source = files else {
            return simple(.notFound, "no files here: this daemon answers /healthz and /metrics only", head: head, context: context)
        }
        let url: HTTPFileURL
        do {
            url = try HTTPFileURL(target: head.uri, storePathCount: source.storePathCount)
        } catch {
            return simple(HTTPResponseStatus(statusCode: error.kind.rawValue), error.reason, head: head, context: context)
        }
        if let token = settings.token,
           let why = token.refusal(token: url.parameters["token"], timestamp: url.parameters["ts"],
                                   fileIDWithGroup: url.fileID(defaultGroup: source.group), fileIDWithoutGroup: url.remoteFilename.text,
                                   now: Int64(time(nil))) {
            if let fail = settings.tokenCheckFailPath, let file = OpenFile(path: fail) {
                let ext = fail.split(separator: "/").last.flatMap { $0.contains(".") ? $0.split(separator: ".").last.map(String.init) : nil } ?? ""
                return serve(file, validators: .fromFile(file), contentType: settings.mimeTypes.type(forExtension: ext),
                             downloadName: nil, head: head, context: context)
            }
            return simple(.forbidden, "anti-steal token refused: \(why)", head: head, context: context)
        }
        guard let local = source.localPath(for: url) else { return redirect(url, source: source, head: head, context: context) }
        guard let file = OpenFile(path: local) else {
            if errno == ENOENT || errno == ENOTDIR { return redirect(url, source: source, head: head, context: context) }
            let reason = String(cString: strerror(errno))
            logger.warning("HTTP cannot open a file", metadata: ["fdfs.path": "\(local)", "fdfs.error": "\(reason)"])
            return simple(.internalServerError, "cannot open the file: \(reason)", head: head, context: context)
        }
        serve(file, validators: .fromName(url.remoteFilename, file), contentType: settings.mimeTypes.type(forExtension: url.remoteFilename.fileExtension),
              downloadName: url.parameters["filename"], head: head, context: context)
    }

    /// A file this storage does not hold: a 302 to a member that has it (asking once: a
    /// redirected request that misses again is a 404), else 404.
    func redirect(_ url: HTTPFileURL, source: any HTTPFileSource, head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard url.parameters["redirect"] == nil else {
            return simple(.notFound, "file not found (this storage was named by a redirect and does not have it)", head: head, context: context)
        }
        let slots = settings.redirectLookups
        guard slots.acquire() else {
            logger.debug("HTTP: too many lookups of missing files in flight; 503", metadata: ["fdfs.limit": "\(slots.limit)"])
            return simple(.serviceUnavailable, "too many requests for files this storage does not hold are being looked up; retry",
                          head: head, context: context, extra: [("Retry-After", "1")])
        }
        later(head, context: context, { [source] in
            defer { slots.release() }
            return await source.redirectTarget(for: url)
        }) { handler, target, context in
            guard let target else {
                return handler.simple(.notFound, "file not found on any member of the group", head: head, context: context)
            }
            let location = "http://\(target)\(url.path)?" + (url.rawQuery.map { $0 + "&" } ?? "") + "redirect=1"
            handler.simple(.found, "see \(location)", head: head, context: context, extra: [("Location", location)])
        }
    }

    /// Runs `work` in a task, then `then` on the event loop (requests behind this one wait:
    /// NIO's pipelining assistance holds them until this response has ended). The task runs on
    /// the connection's event loop too, as the FastDFS port's tasks do, so it waits for no
    /// thread of Swift's cooperative pool.
    func later<T: Sendable>(_ head: HTTPRequestHead, context: ChannelHandlerContext, _ work: @escaping @Sendable () async -> T,
                            then: @escaping (HTTPFileHandler, T, ChannelHandlerContext) -> Void) {
        let promise = context.eventLoop.makePromise(of: T.self)
        let executor = self.executor ?? EventLoopTaskExecutor(context.eventLoop)
        self.executor = executor
        Task(executorPreference: executor) { promise.succeed(await work()) }
        promise.futureResult.assumeIsolated().whenSuccess { value in then(self, value, context) }
    }

    // MARK: - Files

    /// What identifies a version of a file: `Last-Modified` and `ETag`.
    struct Validators {
        var lastModified: Int64
        var etag: String

        /// A normal file's name carries its creation time, size and CRC32; appender and slave
        /// files change after their name was made, so theirs come from the file.
        static func fromName(_ name: RemoteFilename, _ file: OpenFile) -> Validators {
            guard name.kind == .normal else { return fromFile(file) }
            return Validators(lastModified: Int64(name.block.createTimestamp),
                              etag: "\"" + String(name.block.crc32, radix: 16) + "-" + String(file.size, radix: 16) + "\"")
        }

        static func fromFile(_ file: OpenFile) -> Validators {
            Validators(lastModified: file.modificationTime,
                       etag: "\"m" + String(file.modificationTime, radix: 16) + "-" + String(file.size, radix: 16) + "\"")
        }
    }

    /// Bodies up to this size are read and written with their head; larger ones go by sendfile.
    static let inlineLimit: Int64 = 64 * 1024

    func serve(_ file: OpenFile, validators v: Validators, contentType: String, downloadName: String?,
               head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Last-Modified", value: HTTPDate.format(v.lastModified))
        headers.add(name: "ETag", value: v.etag)
        headers.add(name: "Accept-Ranges", value: "bytes")
        if notModified(head.headers, v) {
            file.close()
            return send(.notModified, headers: headers, head: head, context: context)
        }
        headers.add(name: "Content-Type", value: contentType)
        if let downloadName { headers.add(name: "Content-Disposition", value: Self.contentDisposition(downloadName)) }
        var range = ByteRangeRequest(header: head.headers.first(name: "Range"), size: file.size)
        if let ifRange = head.headers.first(name: "If-Range"), ifRange != v.etag, HTTPDate.parse(ifRange) != v.lastModified {
            range = .whole
        }
        let status: HTTPResponseStatus
        let lower: Int64, count: Int64
        switch range {
        case .whole:
            (status, lower, count) = (.ok, 0, file.size)
        case .part(let l, let u):
            (status, lower, count) = (.partialContent, l, u - l + 1)
            headers.add(name: "Content-Range", value: "bytes \(l)-\(u)/\(file.size)")
        case .unsatisfiable:
            file.close()
            headers.add(name: "Content-Range", value: "bytes */\(file.size)")
            return send(.rangeNotSatisfiable, headers: headers, head: head, context: context)
        }
        headers.add(name: "Content-Length", value: String(count))
        guard head.method == .GET, count > 0 else {
            file.close()
            return send(status, headers: headers, head: head, context: context, contentLengthSet: true)
        }
        if count <= Self.inlineLimit {
            // A small body goes out with its head in one write (as the FastDFS port sends small
            // downloads): read into a buffer of at most 64 KiB that lives until it is written.
            var body = context.channel.allocator.buffer(capacity: Int(count))
            let read = body.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(count)) { p in
                max(0, pread(file.descriptor, p.baseAddress!, Int(count), off_t(lower)))
            }
            file.close()
            guard read == Int(count) else {
                return simple(.internalServerError, "the file changed while it was read", head: head, context: context)
            }
            return send(status, headers: headers, body: body, head: head, context: context, contentLengthSet: true)
        }
        let keepAlive = addConnectionHeader(&headers, head)
        settings.responseMetrics?.responded(code: Int(status.code), bodyBytes: count)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: file.descriptor)
        let region = FileRegion(fileHandle: handle, readerIndex: Int(lower), endIndex: Int(lower + count))
        context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        done.futureResult.assumeIsolated().whenComplete { _ in
            try? handle.close()
            if !keepAlive { context.close(promise: nil) }
        }
    }

    func notModified(_ request: HTTPHeaders, _ v: Validators) -> Bool {
        if let match = request.first(name: "If-None-Match") {
            return match.split(separator: ",").contains { tag in
                let t = tag.trimmingSpaces
                return t == "*" || t == v.etag || t == "W/" + v.etag
            }
        }
        if let since = request.first(name: "If-Modified-Since"), let t = HTTPDate.parse(since) {
            return v.lastModified <= t
        }
        return false
    }

    /// `attachment; filename="..."`, with the UTF-8 form beside it for names that are not
    /// plain ASCII.
    static func contentDisposition(_ name: String) -> String {
        let plain = String(name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        var value = "attachment; filename=\"\(plain)\""
        if plain != name {
            let encoded = name.utf8.map { b -> String in
                HTTPFileURL.pathByteAllowed(b) && b != UInt8(ascii: "/") ? String(Character(Unicode.Scalar(b))) : String(format: "%%%02X", b)
            }.joined()
            value += "; filename*=UTF-8''" + encoded
        }
        return value
    }

    // MARK: - Plain responses

    func simple(_ status: HTTPResponseStatus, _ reason: String, head: HTTPRequestHead, context: ChannelHandlerContext,
                extra: [(String, String)] = []) {
        text(status, reason + "\n", contentType: "text/plain; charset=utf-8", head: head, context: context, extra: extra)
    }

    func text(_ status: HTTPResponseStatus, _ body: String, contentType: String, head: HTTPRequestHead, context: ChannelHandlerContext,
              extra: [(String, String)] = []) {
        var headers = HTTPHeaders(extra)
        headers.add(name: "Content-Type", value: contentType)
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        send(status, headers: headers, body: head.method == .HEAD ? nil : buffer, head: head, context: context, contentLengthSet: true)
    }

    func send(_ status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer? = nil, head: HTTPRequestHead,
              context: ChannelHandlerContext, contentLengthSet: Bool = false) {
        var headers = headers
        if !contentLengthSet && status != .notModified { headers.add(name: "Content-Length", value: "0") }
        let keepAlive = addConnectionHeader(&headers, head)
        settings.responseMetrics?.responded(code: Int(status.code), bodyBytes: Int64(body?.readableBytes ?? 0))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// Keep-alive as the request asks (HTTP/1.1 by default, 1.0 when it says so).
    func addConnectionHeader(_ headers: inout HTTPHeaders, _ head: HTTPRequestHead) -> Bool {
        let keepAlive = head.isKeepAlive
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        } else if head.version.major == 1 && head.version.minor == 0 {
            headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        return keepAlive
    }
}

/// A regular file opened for reading, with its size and modification time.
struct OpenFile {
    let descriptor: Int32
    let size: Int64
    let modificationTime: Int64

    /// nil (errno set) when it cannot be opened or is not a regular file (ENOENT then).
    init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            errno = ENOENT
            return nil
        }
        descriptor = fd
        size = Int64(st.st_size)
        modificationTime = Int64(st.st_mtim.tv_sec)
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// HTTP dates (RFC 9110 §5.6.7, IMF-fixdate), in UTC.
public enum HTTPDate {
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func format(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    /// The IMF-fixdate form only (`Sun, 06 Nov 1994 08:49:37 GMT`, what every client sends);
    /// nil for anything else.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == 32, b[7] == 32, b[11] == 32, b[16] == 32,
              b[19] == UInt8(ascii: ":"), b[22] == UInt8(ascii: ":"), b[25] == 32,
              String(decoding: b[26...28], as: UTF8.self) == "GMT",
              let day = number(b[5...6]), let year = number(b[12...15]), let hour = number(b[17...18]),
              let minute = number(b[20...21]), let second = number(b[23...24]),
              let month = months.firstIndex(of: String(decoding: b[8...10], as: UTF8.self)),
              (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        return daysFromCivil(year: year, month: month + 1, day: day) * 86_400 + hour * 3_600 + minute * 60 + second
    }

    static func number(_ digits: ArraySlice<UInt8>) -> Int64? {
        var v: Int64 = 0
        for d in digits {
            guard d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int64(d - UInt8(ascii: "0"))
        }
        return v
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

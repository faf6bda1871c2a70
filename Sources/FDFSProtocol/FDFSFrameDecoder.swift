public import NIOCore

/// One piece of a packet as the frame decoder delivers it. A packet is always `head`, then
/// zero or more `bodyPart`s, then `end`:
/// - for a non-streaming packet, `head` carries the whole body and no parts follow;
/// - for a streaming request (upload, append, modify, sync with data), `head` carries the
///   fixed part (fields and names) and the content arrives as `bodyPart` slices, so a body of
///   any size never sits in memory.
public enum FDFSFrame: Hashable, Sendable {
    case head(FDFSHeader, ByteBuffer)
    case bodyPart(ByteBuffer)
    case end
}

/// How the decoder frames incoming packets: which commands exist, which stream, and the
/// limits on every length.
public struct FDFSFramingPolicy: Sendable {
    enum Mode: Sendable {
        /// Requests to a server of this role.
        case server(FDFSServerRole)
        /// Responses to a request whose body is streamed (download) or buffered.
        case response(streamBody: Bool)
    }

    let mode: Mode
    public let limits: FDFSLimits

    /// Requests arriving at a tracker or storage server.
    public static func server(_ role: FDFSServerRole, limits: FDFSLimits = .default) -> FDFSFramingPolicy {
        FDFSFramingPolicy(mode: .server(role), limits: limits)
    }

    /// Responses arriving at a client. With `streamBody` the body is delivered in parts
    /// (DOWNLOAD_FILE), and a length of 2^58 (FETCH_ONE_PATH_BINLOG) means "until the peer
    /// closes". The body of an error response is ignored whatever its length says (protocol
    /// spec §1.2).
    public static func response(streamBody: Bool = false, limits: FDFSLimits = .default) -> FDFSFramingPolicy {
        FDFSFramingPolicy(mode: .response(streamBody: streamBody), limits: limits)
    }
}

/// The streaming frame decoder shared by every daemon and client (DESIGN.md principle 2).
///
/// It is a `ByteToMessageDecoder`, so it plugs into a channel pipeline through
/// `ByteToMessageHandler`, and it can also be driven directly with `next(_:)` (tests,
/// fuzzing). It never holds more than one header, one buffered body (bounded by
/// `maxBufferedBodyBytes`) or one fixed part; streamed content is passed on as it arrives.
/// After an error it stays failed: the connection must be closed.
public struct FDFSFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = FDFSFrame

    enum State {
        case header
        case buffered(FDFSHeader, Int, checkedMetadata: Bool)
        case prefix(FDFSHeader, CommandDescriptor.StreamingRule)
        case fixed(FDFSHeader, StreamFraming)
        case content(remaining: Int64)
        case untilClose
        case end
        case failed(FDFSProtocolError)
    }

    public let policy: FDFSFramingPolicy
    var state: State = .header

    public init(policy: FDFSFramingPolicy) { self.policy = policy }

    /// True between packets: nothing of a packet has been consumed.
    public var isAtPacketBoundary: Bool {
        if case .header = state { return true }
        return false
    }

    /// The next frame, or nil when more bytes are needed. Frames that need no bytes (`end`)
    /// come out without further input, so call it until it returns nil.
    public mutating func next(_ buffer: inout ByteBuffer) throws(FDFSProtocolError) -> FDFSFrame? {
        do {
            return try step(&buffer)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// The frames still due when the peer closed: the end of an until-close body, or an
    /// error when the close cut a packet.
    public mutating func finish(_ buffer: inout ByteBuffer) throws(FDFSProtocolError) -> [FDFSFrame] {
        var frames: [FDFSFrame] = []
        while let frame = try next(&buffer) { frames.append(frame) }
        switch state {
        case .untilClose:
            state = .header
            frames.append(.end)
        case .header where buffer.readableBytes == 0:
            break
        case .failed(let error):
            throw error
        default:
            let error = FDFSProtocolError(.truncated, "connection closed in the middle of a packet")
            state = .failed(error)
            throw error
        }
        return frames
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let frame = try next(&buffer) { context.fireChannelRead(wrapInboundOut(frame)) }
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while let frame = try next(&buffer) { context.fireChannelRead(wrapInboundOut(frame)) }
        if seenEOF {
            for frame in try finish(&buffer) { context.fireChannelRead(wrapInboundOut(frame)) }
        }
        return .needMoreData
    }

    mutating func step(_ buffer: inout ByteBuffer) throws(FDFSProtocolError) -> FDFSFrame? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .end:
                state = .header
                return .end
            case .header:
                guard let header = FDFSHeader.decode(from: &buffer) else { return nil }
                state = try begin(header)
            case .buffered(let header, let length, let checkedMetadata):
                if !checkedMetadata, isSetMetadata(header) {
                    // Refuse oversized metadata before buffering it (its length is at offset 8).
                    guard buffer.readableBytes >= 16 else { return nil }
                    let metaLength = buffer.getInteger(at: buffer.readerIndex + 8, endianness: .big, as: Int64.self) ?? 0
                    guard metaLength <= Int64(policy.limits.maxMetadataBytes) else {
                        throw FDFSProtocolError(.metadataTooLarge, command: header.command,
                                                "metadata of \(metaLength) bytes exceeds the limit of \(policy.limits.maxMetadataBytes)")
                    }
                    state = .buffered(header, length, checkedMetadata: true)
                    continue
                }
                guard buffer.readableBytes >= length, let body = buffer.readSlice(length: length) else { return nil }
                state = .end
                return .head(header, body)
            case .prefix(let header, let rule):
                guard buffer.readableBytes >= rule.prefixLength,
                      let prefix = buffer.getSlice(at: buffer.readerIndex, length: rule.prefixLength) else { return nil }
                let framing: StreamFraming
                do {
                    framing = try rule.framing(prefix, header.status)
                } catch {
                    throw error.with(command: header.command)
                }
                try check(framing, header)
                state = .fixed(header, framing)
            case .fixed(let header, let framing):
                guard buffer.readableBytes >= framing.fixedLength, let fixed = buffer.readSlice(length: framing.fixedLength) else { return nil }
                if framing.contentLength == FetchOnePathBinlogResponse.unboundedLength {
                    state = .untilClose
                } else {
                    state = framing.contentLength > 0 ? .content(remaining: framing.contentLength) : .end
                }
                return .head(header, fixed)
            case .content(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let n = Int(min(Int64(buffer.readableBytes), remaining))
                let part = buffer.readSlice(length: n)!
                state = remaining == Int64(n) ? .end : .content(remaining: remaining - Int64(n))
                return .bodyPart(part)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .bodyPart(buffer.readSlice(length: buffer.readableBytes)!)
            }
        }
    }

    func isSetMetadata(_ header: FDFSHeader) -> Bool {
        if case .server(.storage) = policy.mode { return header.command == StorageCommand.setMetadata.rawValue }
        return false
    }

    func begin(_ header: FDFSHeader) throws(FDFSProtocolError) -> State {
        guard header.bodyLength >= 0 else {
            throw FDFSProtocolError(.negativeLength, command: header.command, "negative body length \(header.bodyLength)")
        }
        switch policy.mode {
        case .server(let role):
            // An unknown command is framed like any non-streaming packet (its body bounded by
            // the limit) so that the server can answer EINVAL: the tracker keeps the
            // connection, the storage closes it (protocol spec §9.4).
            if let rule = CommandRegistry.descriptor(for: header.command, role: role)?.streaming {
                guard header.bodyLength >= Int64(rule.prefixLength) else {
                    throw FDFSProtocolError(.wrongBodyLength, command: header.command,
                                            "body of \(header.bodyLength) bytes is shorter than the \(rule.prefixLength) bytes of fixed fields")
                }
                return .prefix(header, rule)
            }
            return try bufferedState(header)
        case .response(let streamBody):
            if header.status != 0 { return .buffered(header, 0, checkedMetadata: true) }
            if streamBody {
                return .fixed(header, StreamFraming(fixedLength: 0, contentLength: header.bodyLength))
            }
            return try bufferedState(header)
        }
    }

    func bufferedState(_ header: FDFSHeader) throws(FDFSProtocolError) -> State {
        guard header.bodyLength <= Int64(policy.limits.maxBufferedBodyBytes) else {
            throw FDFSProtocolError(.bodyTooLarge, command: header.command,
                                    "body of \(header.bodyLength) bytes exceeds the limit of \(policy.limits.maxBufferedBodyBytes)")
        }
        return .buffered(header, Int(header.bodyLength), checkedMetadata: false)
    }

    func check(_ framing: StreamFraming, _ header: FDFSHeader) throws(FDFSProtocolError) {
        guard framing.fixedLength <= policy.limits.maxBufferedBodyBytes else {
            throw FDFSProtocolError(.fixedPartTooLarge, command: header.command, "fixed part of \(framing.fixedLength) bytes is too large")
        }
        guard framing.contentLength <= policy.limits.maxStreamContentBytes else {
            throw FDFSProtocolError(.bodyTooLarge, command: header.command,
                                    "content of \(framing.contentLength) bytes exceeds the limit of \(policy.limits.maxStreamContentBytes)")
        }
        guard Int64(framing.fixedLength) + framing.contentLength == header.bodyLength else {
            throw FDFSProtocolError(.wrongBodyLength, command: header.command,
                                    "body length \(header.bodyLength) is not fields \(framing.fixedLength) + content \(framing.contentLength)")
        }
    }
}

public import NIOCore

/// A request or response body with a symmetric codec. `decode` is given a reader over exactly
/// the body (for streaming requests: exactly the fixed part) and must consume all of it.
public protocol FDFSBody: Sendable, Hashable {
    /// Writes the body, without header.
    func encode(into buffer: inout ByteBuffer)
    /// Reads the body. `headerStatus` is the header's status byte, which a few requests use
    /// as a flag field (QUERY_FILE_INFO flags, SYNC_CREATE_FILE "no content", trunk confirm).
    static func decode(from reader: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self
    /// The status byte this body puts in a request header (0 for almost every command).
    var headerStatus: UInt8 { get }
}

extension FDFSBody {
    public var headerStatus: UInt8 { 0 }

    /// Decodes a whole body and checks that nothing is left over.
    public static func decode(body: ByteBuffer, command: UInt8, headerStatus: UInt8 = 0) throws(FDFSProtocolError) -> Self {
        var reader = FieldReader(body, command: command)
        let value = try decode(from: &reader, headerStatus: headerStatus)
        try reader.expectEnd("the body")
        return value
    }

    /// The encoded body as a buffer.
    public func encodedBody(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        encode(into: &buffer)
        return buffer
    }

    /// A complete response packet (header with command 100 and status 0, then this body).
    /// The body is encoded straight after a header whose length is filled in afterwards: one
    /// buffer, no copy.
    public func responsePacket(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var packet = allocator.buffer(capacity: FDFSHeader.size + 64)
        FDFSHeader.response(bodyLength: 0).encode(into: &packet)
        encode(into: &packet)
        packet.setInteger(Int64(packet.readableBytes - FDFSHeader.size), at: packet.readerIndex, endianness: .big)
        return packet
    }
}

/// A request: a body type bound to its command code and its response type.
public protocol FDFSRequest: FDFSBody {
    associatedtype Response: FDFSBody
    static var command: UInt8 { get }
    /// Bytes of content sent after the encoded body (0 except for streaming requests).
    var contentLength: Int64 { get }
}

extension FDFSRequest {
    public var contentLength: Int64 { 0 }

    /// A complete request packet. For streaming requests only the fixed part is written; the
    /// header's length covers the content that the caller sends next.
    public func requestPacket(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let body = encodedBody(allocator: allocator)
        var packet = allocator.buffer(capacity: FDFSHeader.size + body.readableBytes)
        FDFSHeader(bodyLength: Int64(body.readableBytes) + contentLength, command: Self.command, status: headerStatus).encode(into: &packet)
        packet.writeImmutableBuffer(body)
        return packet
    }
}

/// A request whose body is a fixed part followed by content that is streamed, never held in
/// memory (uploads, append, modify, and the sync commands that carry file data). `encode`
/// and `decode` cover the fixed part only.
public protocol FDFSStreamingRequest: FDFSRequest {
    /// How many leading bytes `framing(prefix:headerStatus:)` needs to see.
    static var fixedPrefixLength: Int { get }
    /// Where the fixed part ends and how much content follows, from the first
    /// `fixedPrefixLength` bytes. Throws for lengths the command does not allow.
    static func framing(prefix: ByteBuffer, headerStatus: UInt8) throws(FDFSProtocolError) -> StreamFraming
}

/// An empty body: the request or response has no fields.
public struct EmptyBody: FDFSBody {
    public init() {}
    public func encode(into buffer: inout ByteBuffer) {}
    public static func decode(from reader: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> EmptyBody {
        try reader.requireLength(reader.remaining == 0, "body must be empty, got \(reader.remaining) bytes")
        return EmptyBody()
    }
}

/// The success reply of APPEND, MODIFY, TRUNCATE and SYNC_RENAME. It is empty, except that the
/// C storage echoes the request body in some cases (zero-byte append/modify, same-size
/// truncate, and every successful SYNC_RENAME_FILE; protocol spec §5.3-§5.5). Our servers send
/// an empty body; clients accept both.
public struct AcknowledgementBody: FDFSBody {
    public var echoedBody: [UInt8]
    public init(echoedBody: [UInt8] = []) { self.echoedBody = echoedBody }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeBytes(echoedBody) }
    public static func decode(from reader: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> AcknowledgementBody {
        AcknowledgementBody(echoedBody: reader.remainingBytes())
    }
}

/// A body that is plain bytes: file content, metadata files, changelog pieces, binlog text.
public struct RawBody: FDFSBody {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8] = []) { self.bytes = bytes }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeBytes(bytes) }
    public static func decode(from reader: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> RawBody {
        RawBody(reader.remainingBytes())
    }
}

/// The reply of a command that gets none (QUIT): decoding one is always an error.
public struct NoReply: FDFSBody {
    public init() {}
    public func encode(into buffer: inout ByteBuffer) {}
    public static func decode(from reader: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> NoReply {
        throw FDFSProtocolError(.invalidField, command: reader.command, "this command has no reply")
    }
}

/// A text body without terminator: an id, an IP, an `ip:port`.
public struct TextBody: FDFSBody {
    public var text: String
    public init(_ text: String) { self.text = text }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeString(text) }
    public static func decode(from reader: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> TextBody {
        TextBody(reader.remainingText())
    }
}

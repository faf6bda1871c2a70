import NIOCore

/// How a streaming request's body splits: a fixed part (fields and names) and the content
/// that follows it. `pkg_len` must equal their sum.
public struct StreamFraming: Hashable, Sendable {
    public var fixedLength: Int
    public var contentLength: Int64
    public init(fixedLength: Int, contentLength: Int64) {
        self.fixedLength = fixedLength
        self.contentLength = contentLength
    }
}

extension FDFSStreamingRequest {
    /// Reads an i64 at `offset` of the prefix that must lie in `range`.
    static func prefixField(_ prefix: ByteBuffer, at offset: Int, _ what: String, in range: ClosedRange<Int64>) throws(FDFSProtocolError) -> Int64 {
        guard let v = prefix.getInteger(at: prefix.readerIndex + offset, endianness: .big, as: Int64.self) else {
            throw FDFSProtocolError(.wrongBodyLength, command: command, "body too short for \(what)")
        }
        guard range.contains(v) else {
            throw FDFSProtocolError(.invalidField, command: command, "\(what) \(v) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }
}

/// Limits a server applies to request bodies (DESIGN.md: a limit on every length).
public struct FDFSLimits: Hashable, Sendable {
    /// The largest body of a non-streaming request (the C storage's `buff_size` minus the
    /// header; the tracker's `max_pkg_size`).
    public var maxBufferedBodyBytes: Int
    /// The largest content a streaming request may carry (file size limit).
    public var maxStreamContentBytes: Int64
    /// The largest metadata a SET_METADATA may carry. The C storage only bounds the whole
    /// request by its buffer, so the default is the buffered-body limit.
    public var maxMetadataBytes: Int

    public init(maxBufferedBodyBytes: Int = 256 * 1024 - FDFSHeader.size,
                maxStreamContentBytes: Int64 = 1 << 40,
                maxMetadataBytes: Int? = nil) {
        self.maxBufferedBodyBytes = maxBufferedBodyBytes
        self.maxStreamContentBytes = maxStreamContentBytes
        self.maxMetadataBytes = maxMetadataBytes ?? maxBufferedBodyBytes
    }

    public static let `default` = FDFSLimits()
}

import FDFSProtocol
import NIOCore

/// The frame decoder of both daemons and of the client side. Byte 0 picks the framing policy
/// and the size of the pieces the stream arrives in; the rest is the byte stream.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrame(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let limits = FDFSLimits(maxBufferedBodyBytes: 4096, maxStreamContentBytes: 1 << 20, maxMetadataBytes: 512)
    let policies: [FDFSFramingPolicy] = [.server(.tracker, limits: limits), .server(.storage, limits: limits),
                                         .response(streamBody: false, limits: limits), .response(streamBody: true, limits: limits)]
    let policy = policies[Int(data[0] & 3)]
    let piece = 1 + Int(data[0] >> 2) * 16
    var decoder = FDFSFrameDecoder(policy: policy)
    var buffer = ByteBuffer()
    var offset = 1
    do {
        while offset < size {
            let n = min(piece, size - offset)
            buffer.writeBytes(UnsafeBufferPointer(start: data + offset, count: n))
            offset += n
            while let frame = try decoder.next(&buffer) {
                if case .head(let header, let body) = frame {
                    // What the decoder buffers stays within the limits.
                    precondition(body.readableBytes <= limits.maxBufferedBodyBytes + 1024, "buffered \(body.readableBytes) bytes for \(header)")
                }
            }
        }
        _ = try decoder.finish(&buffer)
    } catch {
        // FDFSProtocolError: the connection would be answered and closed.
    }
    return 0
}

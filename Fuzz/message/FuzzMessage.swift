import FDFSProtocol
import NIOCore

/// Every request decoder of both daemons and every response decoder of the client. Byte 0:
/// bit 0 tracker or storage, bit 1 request or response; byte 1: the command; byte 2: the header
/// status; the rest is the body. What decodes must encode again in bounded space. (Decoding
/// again is not required: names are read as text, so bytes that are not UTF-8 come back as
/// U+FFFD, longer than the field allows; the server then answers EINVAL or ENOENT.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let role: FDFSServerRole = data[0] & 1 == 0 ? .tracker : .storage
    guard let d = CommandRegistry.descriptor(for: data[1], role: role) else { return 0 }
    let body = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 3, count: size - 3))
    if data[0] & 2 == 0 {
        guard let request = try? d.decodeRequest(body: body, headerStatus: data[2]) else { return 0 }
        let again = request.encodedBody()
        precondition(again.readableBytes <= 4 * size + 64, "\(d.name): re-encoding grew to \(again.readableBytes) bytes")
    } else {
        guard let response = try? d.decodeResponse(body: body) else { return 0 }
        let again = response.encodedBody()
        precondition(again.readableBytes <= 4 * size + 64, "\(d.name) response: re-encoding grew to \(again.readableBytes) bytes")
    }
    return 0
}

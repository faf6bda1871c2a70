import FDFSProtocol
import NIOCore

/// Follows the response bytes written on a connection: each response starts with a header
/// whose length says where it ends. Shared by the handlers that must know where responses
/// end (`ImmediateResponseHandler`, `RequestMetricsHandler`).
struct ResponseFollower {
    /// Bytes of the response being written that are still to come (0: the next write starts one).
    private var bytesLeft: Int64 = 0
    /// The status byte of the response being written.
    private var status: UInt8 = 0
    /// Set for good when a write cannot be followed: a header split across writes, or more
    /// bytes than the response's length.
    private(set) var lost = false

    /// Accounts for a written buffer; `ended` gets the status of every response it completes.
    mutating func follow(_ buffer: ByteBuffer, ended: (UInt8) -> Void) {
        var rest = buffer
        while rest.readableBytes > 0 && !lost {
            if bytesLeft == 0 {
                guard rest.readableBytes >= FDFSHeader.size, let length = rest.getInteger(at: rest.readerIndex, as: Int64.self),
                      length >= 0, let status = rest.getInteger(at: rest.readerIndex + 9, as: UInt8.self) else {
                    lost = true
                    return
                }
                bytesLeft = Int64(FDFSHeader.size) + length
                self.status = status
            }
            let taken = Int(min(Int64(rest.readableBytes), bytesLeft))
            rest.moveReaderIndex(forwardBy: taken)
            consume(Int64(taken), ended: ended)
        }
    }

    /// Accounts for `count` written bytes that are not a buffer (a file region).
    mutating func consume(_ count: Int64, ended: (UInt8) -> Void) {
        guard count > 0, !lost else { return }
        guard bytesLeft >= count else {
            lost = true
            return
        }
        bytesLeft -= count
        if bytesLeft == 0 { ended(status) }
    }
}

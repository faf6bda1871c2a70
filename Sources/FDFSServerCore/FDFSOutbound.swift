public import NIOCore

/// What a connection handler sends: bytes, or a range of an open file that the kernel copies
/// to the socket (sendfile), so downloads do not pass through user space.
public enum FDFSOutbound: Sendable {
    case bytes(ByteBuffer)
    /// `count` bytes of `handle` from `offset`. The handle is closed once the write completed
    /// or failed (the connection owns it from the moment it is written).
    case file(NIOFileHandle, offset: Int64, count: Int64)
}

/// Turns `FDFSOutbound` into the channel's `IOData` and closes a file's handle when its
/// region has been written (or the write failed, for example because the peer left).
final class OutboundFileHandler: ChannelOutboundHandler {
    typealias OutboundIn = FDFSOutbound
    typealias OutboundOut = IOData

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .bytes(let buffer):
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .file(let handle, let offset, let count):
            let region = FileRegion(fileHandle: handle, readerIndex: Int(offset), endIndex: Int(offset + count))
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in try? handle.close() }
            if let promise { written.futureResult.cascade(to: promise) }
            context.write(wrapOutboundOut(.fileRegion(region)), promise: written)
        }
    }
}

public import FDFSProtocol
public import Logging
public import NIOCore

/// One accepted client connection as a handler sees it: the decoded request frames in, the
/// response packets out.
///
/// It is valid only during `FDFSConnectionHandler.handle(_:)`: the server closes the socket
/// when `handle` returns.
public struct FDFSConnection: Sendable {
    /// Request frames, produced by `FDFSFrameDecoder`. Ends when the peer closes, when the
    /// connection is closed, or at a packet boundary during graceful shutdown; throws
    /// `FDFSProtocolError` for a malformed packet (after delivering the frames before it).
    /// A single consumer only.
    public typealias Inbound = NIOAsyncChannelInboundStream<FDFSFrame>

    public let inbound: Inbound
    /// Response packets (header and body bytes, or file ranges). `write` suspends while the
    /// peer does not read fast enough (back-pressure).
    public let outbound: NIOAsyncChannelOutboundWriter<FDFSOutbound>
    /// The peer.
    public let remoteAddress: SocketAddress
    /// The server's end of the connection.
    public let localAddress: SocketAddress?
    /// The server's logger with `fdfs.remote` set.
    public let logger: Logger
    /// Shared with the immediate path of the same connection (`ImmediateRequestContext.local`).
    public let local: ConnectionLocal
    let channel: any Channel

    init(channel: any Channel, remoteAddress: SocketAddress, inbound: Inbound, outbound: NIOAsyncChannelOutboundWriter<FDFSOutbound>,
         logger: Logger, local: ConnectionLocal = ConnectionLocal()) {
        self.channel = channel
        self.local = local
        self.remoteAddress = remoteAddress
        self.localAddress = channel.localAddress
        self.inbound = inbound
        self.outbound = outbound
        self.logger = logger
    }

    /// The connection's allocator, for building response packets without copies.
    public var allocator: ByteBufferAllocator { channel.allocator }

    /// Sends bytes of a response (a whole packet, or a piece of a streamed one).
    public func write(_ bytes: ByteBuffer) async throws {
        try await outbound.write(.bytes(bytes))
    }

    /// Sends `count` bytes of the open file `descriptor` from `offset` without copying them
    /// through user space (sendfile). The connection takes ownership of the descriptor and
    /// closes it when the bytes are written or the connection fails.
    public func sendFile(descriptor: Int32, offset: Int64, count: Int64) async throws {
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        do {
            try await outbound.write(.file(handle, offset: offset, count: count))
        } catch {
            // Not handed to the channel (it is closed): the handle is still ours.
            try? handle.close()
            throw error
        }
    }

    /// Sends a header-only response with `status` (0 is success).
    public func reply(status: UInt8) async throws {
        var packet = allocator.buffer(capacity: FDFSHeader.size)
        FDFSHeader(bodyLength: 0, command: FDFSHeader.responseCommand, status: status).encode(into: &packet)
        try await outbound.write(.bytes(packet))
    }

    /// Sends a success response carrying `body`.
    public func reply(_ body: some FDFSBody) async throws {
        try await outbound.write(.bytes(body.responsePacket(allocator: allocator)))
    }

    /// Answers a malformed request as the C servers do: a header-only response with
    /// `error.status` (EINVAL, or ENAMETOOLONG), or nothing at all when the error closes
    /// silently (negative `pkg_len`). The caller then returns from `handle` (or, on the tracker,
    /// keeps the connection for errors it may survive).
    public func reply(error: FDFSProtocolError) async throws {
        guard !error.closesSilently else { return }
        var packet = allocator.buffer(capacity: FDFSHeader.size)
        FDFSHeader.response(bodyLength: 0, status: error.status).encode(into: &packet)
        try await outbound.write(.bytes(packet))
    }

    /// Closes the connection gracefully: responses already written are flushed, then the
    /// write side is shut, the inbound sequence ends and later request bytes are discarded;
    /// the socket closes when the peer closes or after a short linger. Returning from `handle`
    /// does the same, so this is only needed to stop early. Writing afterwards throws.
    public func close() {
        outbound.finish()
    }
}

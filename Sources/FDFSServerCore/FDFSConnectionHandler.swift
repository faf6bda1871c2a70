public import FDFSProtocol
public import Logging
public import NIOCore
import Synchronization

/// The seam between the generic server and a daemon: the tracker and the storage each
/// implement it once, and the server calls `handle` in its own child task for every accepted
/// connection.
///
/// A handler reads `connection.inbound` (one `head`, zero or more `bodyPart`s and one `end`
/// per request), writes each response with `connection.write(_:)` / `connection.reply(...)`,
/// and returns when the inbound sequence ends or it wants the connection closed. The
/// sequence throws `FDFSProtocolError` for a malformed packet: answer it with
/// `connection.reply(error:)` and return. Returning (or throwing) closes the connection after
/// the responses already written are flushed.
///
/// On graceful shutdown the inbound sequence ends at the next packet boundary, so the request
/// in flight is still delivered whole and its response is still sent.
public protocol FDFSConnectionHandler: Sendable {
    func handle(_ connection: FDFSConnection) async throws

    /// The response packet to a complete, non-streamed request, computed at once on the
    /// connection's event loop, or nil to leave the request to `handle`.
    ///
    /// The server asks this for every request of a connection until the first one it returns
    /// nil for; from then on every request of that connection goes to `handle`, so responses
    /// always leave in request order. It must not block or wait: it is for requests whose
    /// answer is a quick read of in-memory state (the tracker's queries). It is how a client
    /// connection that only queries is served without the async machinery: no task switch,
    /// no stream, no writer per request.
    func respondImmediately(to header: FDFSHeader, body: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse?

    /// Whether `respondImmediately` can answer anything (false: the server does not ask).
    var answersImmediately: Bool { get }

    /// The most content bytes of a streamed request (an upload) the server may hold in memory
    /// to offer the whole request to `respondImmediately(to:body:content:context:)`; 0 (the
    /// default) for none. Asked when the request's head arrives while nothing is pending on
    /// the async side; a larger request streams to `handle` as usual.
    func immediateContentLimit(for header: FDFSHeader) -> Int64

    /// The response to a complete streamed request whose content (at most
    /// `immediateContentLimit`) arrived whole, or nil to pass the request, content included,
    /// to `handle`. The same rules as `respondImmediately(to:body:context:)`: it runs on the
    /// event loop and returns nil rather than wait.
    func respondImmediately(to header: FDFSHeader, body: ByteBuffer, content: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse?
}

extension FDFSConnectionHandler {
    public func respondImmediately(to header: FDFSHeader, body: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse? { nil }
    public var answersImmediately: Bool { false }
    public func immediateContentLimit(for header: FDFSHeader) -> Int64 { 0 }
    public func respondImmediately(to header: FDFSHeader, body: ByteBuffer, content: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse? { nil }
}

/// One object per connection that the immediate path and `handle` share (what a connection
/// announced about itself, such as the peer storage of a sync connection). Both run on the
/// connection's event loop; the lock keeps it safe should they not.
public final class ConnectionLocal: Sendable {
    private let value = Mutex<(any AnyObject & Sendable)?>(nil)

    public init() {}

    /// This connection's object of type `T`, made by `make` on first use.
    public func object<T: AnyObject & Sendable>(_ make: () -> T) -> T {
        value.withLock { v in
            if let existing = v as? T { return existing }
            let made = make()
            v = made
            return made
        }
    }
}

/// A response computed on the event loop: a packet, or a packet (the header) followed by a
/// range of an open file that the kernel sends (sendfile).
public struct ImmediateResponse {
    public var packet: ByteBuffer
    /// The file range after `packet`; the connection closes the handle once it is written.
    public var file: (handle: NIOFileHandle, offset: Int64, count: Int64)?

    public init(_ packet: ByteBuffer, file: (handle: NIOFileHandle, offset: Int64, count: Int64)? = nil) {
        self.packet = packet
        self.file = file
    }
}

/// What `respondImmediately` knows of the connection (made once per connection).
public struct ImmediateRequestContext {
    /// The peer's address.
    public let remoteAddress: SocketAddress
    /// The server's end of the connection.
    public let localAddress: SocketAddress?
    /// The peer's IP address as text ("" when it has none).
    public let remoteIP: String
    /// The server's IP address on this connection as text ("" when unknown).
    public let localIP: String
    /// For the response packet.
    public let allocator: ByteBufferAllocator
    /// The server's logger with `fdfs.remote` set.
    public let logger: Logger
    /// Shared with `FDFSConnection.local` of the same connection.
    public let local: ConnectionLocal
}

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
}

public import FDFSServerCore
public import FDFSProtocol
public import NIOCore

/// Serves one connection to the tracker: frames in, decoded requests to the core, replies
/// out. Malformed or unknown requests get EINVAL and the connection stays open, as the C
/// tracker does (protocol spec §4); a negative or oversized length closes it.
public struct TrackerConnectionHandler: FDFSConnectionHandler {
    let core: TrackerCore

    public init(core: TrackerCore) { self.core = core }

    public var answersImmediately: Bool { true }

    /// Client queries on a connection that has sent nothing else are answered on the event
    /// loop (`TrackerCore.respondImmediately`).
    public func respondImmediately(to header: FDFSHeader, body: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse? {
        core.respondImmediately(to: header, body: body, peerIP: context.remoteIP, localIP: context.localIP, allocator: context.allocator)
            .map { ImmediateResponse($0) }
    }

    public func handle(_ connection: FDFSConnection) async throws {
        var session = TrackerSession(peerIP: connection.remoteAddress.ipAddress ?? "", localIP: connection.localAddress?.ipAddress ?? "")
        do {
            try await serve(connection, &session)
        } catch let error as FDFSProtocolError {
            connection.logger.info("malformed packet, closing", metadata: ["fdfs.error": "\(error)"])
            try? await connection.reply(error: error)
        } catch {
            connection.logger.debug("connection ended", metadata: ["fdfs.error": "\(error)"])
        }
        await core.disconnect(session)
    }

    func serve(_ connection: FDFSConnection, _ session: inout TrackerSession) async throws {
        var head: (FDFSHeader, ByteBuffer)? = nil
        for try await frame in connection.inbound {
            switch frame {
            case .head(let header, let body):
                head = (header, body)
            case .bodyPart:
                continue  // no tracker command streams; the frame decoder bounds every body
            case .end:
                guard let (header, body) = head else { continue }
                head = nil
                let request: any FDFSRequest
                do {
                    request = try CommandRegistry.decodeRequest(header: header, body: body, role: .tracker)
                } catch {
                    connection.logger.info("request refused", metadata: ["fdfs.command": "\(header.command)", "fdfs.error": "\(error)"])
                    try await connection.reply(status: error.status.rawValue)
                    continue
                }
                if request is QuitRequest { return }
                switch await core.handle(request, session: &session) {
                case .body(let body): try await connection.reply(body)
                case .error(let error): try await connection.reply(status: error.status.rawValue)
                case .close: return
                }
            }
        }
    }
}

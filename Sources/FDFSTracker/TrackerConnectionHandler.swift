import FDFSClient
import FDFSModel
public import FDFSServerCore
public import FDFSProtocol
public import NIOCore

/// Serves one connection to the tracker: frames in, decoded requests to the core, replies
/// out. Malformed or unknown requests get EINVAL and the connection stays open, as the C
/// tracker does (protocol spec §4); a negative or oversized length closes it.
public struct TrackerConnectionHandler: FDFSConnectionHandler {
    let core: TrackerCore
    /// `admin_hosts`: who may send the operator commands (`adminCommands`).
    let adminHosts: AllowedHosts

    /// Commands that change the cluster's membership: only from `admin_hosts`.
    static let adminCommands: Set<UInt8> = [TrackerCommand.deleteStorage.rawValue, TrackerCommand.deleteGroup.rawValue,
                                            TrackerCommand.setTrunkServer.rawValue]

    public init(core: TrackerCore, adminHosts: AllowedHosts = .loopback) {
        self.core = core
        self.adminHosts = adminHosts
    }

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

    /// Logs a refusal of the cluster gate, at most once a minute per address.
    func refuse(_ connection: FDFSConnection, _ session: TrackerSession, _ why: String) {
        if let line = core.clusterGate?.refusalLogLine(of: session.peerIP, why) { connection.logger.warning("\(line)") }
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
                if let gate = core.clusterGate, !gate.admits(header.command, session.cluster) {
                    refuse(connection, session, "command \(header.command) before proving the cluster secret")
                    try await connection.reply(status: FDFSStatus.EACCES.rawValue)
                    return
                }
                if Self.adminCommands.contains(header.command), !adminHosts.allows(connection.remoteAddress) {
                    connection.logger.warning("refused command \(header.command) from \(session.peerIP): not in admin_hosts (tracker.conf)")
                    try await connection.reply(status: FDFSStatus.EACCES.rawValue)
                    continue
                }
                let request: any FDFSRequest
                do {
                    request = try CommandRegistry.decodeRequest(header: header, body: body, role: .tracker)
                } catch {
                    connection.logger.info("request refused", metadata: ["fdfs.command": "\(header.command)", "fdfs.error": "\(error)"])
                    try await connection.reply(status: error.status.rawValue)
                    continue
                }
                if request is QuitRequest { return }
                switch request {
                case let r as ClusterChallengeRequest:
                    guard let gate = core.clusterGate else { try await connection.reply(status: FDFSStatus.EOPNOTSUPP.rawValue); continue }
                    try await connection.reply(gate.challenge(r, session.cluster))
                    continue
                case let r as ClusterProofRequest:
                    guard let gate = core.clusterGate else { try await connection.reply(status: FDFSStatus.EOPNOTSUPP.rawValue); continue }
                    guard gate.verify(r, session.cluster) else {
                        refuse(connection, session, "a wrong cluster secret")
                        try await connection.reply(status: FDFSStatus.EACCES.rawValue)
                        return
                    }
                    try await connection.reply(EmptyBody())
                    continue
                default:
                    break
                }
                switch await core.handle(request, session: &session) {
                case .body(let body): try await connection.reply(body)
                case .error(let error): try await connection.reply(status: error.status.rawValue)
                case .close: return
                }
            }
        }
    }
}

import Crypto
import FDFSModel
public import FDFSProtocol
import Synchronization

/// The cluster secret (`cluster_secret`, and `cluster_secret_previous` while it is rolled) and
/// both sides of its handshake (docs/security.md). A daemon that dials another member of the
/// cluster proves it knows the secret before it sends any cluster command; the server proves
/// it too, so a storage never joins or pushes files to an impostor.
///
/// CLUSTER_CHALLENGE (252): the dialer sends a random nonce; the server answers its own random
/// nonce and, for each secret it accepts, HMAC-SHA256(secret, "swift-fdfs cluster server" ‖
/// client nonce ‖ server nonce). CLUSTER_PROOF (253): the dialer picks the first of its
/// secrets the server proved and sends HMAC-SHA256(secret, "swift-fdfs cluster client" ‖
/// server nonce ‖ client nonce). Fresh nonces on both sides make every proof single-use; the
/// two labels keep a server's answer from serving as a dialer's proof.
public struct ClusterSecrets: Sendable, Hashable {
    /// The fewest bytes a secret may have.
    public static let minimumBytes = 16
    /// The secret this daemon proves with first; the previous one is tried and accepted too.
    let keys: [[UInt8]]

    /// nil when `current` is nil (no cluster secret: the handshake is off).
    public init?(current: String?, previous: String? = nil) {
        guard let current else { return nil }
        keys = [Array(current.utf8)] + (previous.map { [Array($0.utf8)] } ?? [])
    }

    static let serverLabel = Array("swift-fdfs cluster server".utf8)
    static let clientLabel = Array("swift-fdfs cluster client".utf8)

    static func mac(_ key: [UInt8], _ label: [UInt8], _ first: [UInt8], _ second: [UInt8]) -> [UInt8] {
        var h = HMAC<SHA256>(key: SymmetricKey(data: key))
        h.update(data: label)
        h.update(data: first)
        h.update(data: second)
        return Array(h.finalize())
    }

    static func isValid(_ proof: [UInt8], key: [UInt8], _ label: [UInt8], _ first: [UInt8], _ second: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: label + first + second, using: SymmetricKey(data: key))
    }

    static func nonce() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<ClusterChallengeRequest.nonceBytes).map { _ in UInt8.random(in: 0...255, using: &g) }
    }
}

/// Why a handshake failed, seen from the dialer.
public enum ClusterSecretError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server does not know the handshake (a C FastDFS server) or has no secret set.
    case serverHasNoSecret(String)
    /// The server answered with proofs for none of our secrets.
    case serverProvedNoSecret(String)
    /// The server refused our proof (EACCES).
    case refused(String)

    public var description: String {
        switch self {
        case .serverHasNoSecret(let s):
            "\(s) does not use a cluster secret (a C FastDFS server, or cluster_secret not set there); set the same cluster_secret on every tracker and storage"
        case .serverProvedNoSecret(let s): "\(s) proved a different cluster secret; cluster_secret must be the same on every tracker and storage"
        case .refused(let s): "\(s) refused our cluster secret; cluster_secret must be the same on every tracker and storage"
        }
    }
}

extension FDFSClientConnection {
    /// The dialer's side of the handshake; afterwards the server serves cluster commands on
    /// this connection. Throws `ClusterSecretError` (the connection should then be closed).
    public func proveClusterSecret(_ secrets: ClusterSecrets, server: String) async throws {
        let clientNonce = ClusterSecrets.nonce()
        let answer: ClusterChallengeResponse
        do {
            answer = try await request(ClusterChallengeRequest(clientNonce: clientNonce))
        } catch FDFSClientError.status(let status) where status == .EINVAL || status == .EOPNOTSUPP {
            throw ClusterSecretError.serverHasNoSecret(server)
        } catch FDFSClientError.connectionClosed {
            throw ClusterSecretError.serverHasNoSecret(server)
        }
        let proven = secrets.keys.first { key in
            answer.serverProofs.contains { ClusterSecrets.isValid($0, key: key, ClusterSecrets.serverLabel, clientNonce, answer.serverNonce) }
        }
        guard let key = proven else { throw ClusterSecretError.serverProvedNoSecret(server) }
        do {
            _ = try await request(ClusterProofRequest(proof: ClusterSecrets.mac(key, ClusterSecrets.clientLabel, answer.serverNonce, clientNonce)))
        } catch FDFSClientError.status(.EACCES) {
            throw ClusterSecretError.refused(server)
        }
    }
}

/// Whether the dialer of one connection has proven the secret (the server's side; one per
/// connection).
public final class ClusterAuthState: Sendable {
    private let state = Mutex<(nonces: (client: [UInt8], server: [UInt8])?, proven: Bool)>((nil, false))
    public init() {}
    public var isProven: Bool { state.withLock { $0.proven } }
}

/// The server's side: answers the handshake, says which commands need it, and keeps refusals
/// from flooding the log (once per peer address per minute).
public final class ClusterGate: Sendable {
    public let secrets: ClusterSecrets
    public let role: FDFSServerRole
    let guarded: Set<UInt8>
    private let lastLogged = Mutex<[String: ContinuousClock.Instant]>([:])
    /// How long refusals from one address stay out of the log after one is logged.
    public static let logInterval: Duration = .seconds(60)

    public init(secrets: ClusterSecrets, role: FDFSServerRole) {
        self.secrets = secrets
        self.role = role
        self.guarded = ClusterAuthCommand.guardedCommands(for: role)
    }

    /// True when `command` needs a connection that proved the secret.
    public func guards(_ command: UInt8) -> Bool { guarded.contains(command) }

    /// True when `command` may be served on a connection in `state`.
    public func admits(_ command: UInt8, _ state: ClusterAuthState) -> Bool {
        !guarded.contains(command) || state.isProven
    }

    /// The log line for a refusal of `peer`, or nil while its last one is less than a minute old.
    public func refusalLogLine(of peer: String, _ why: String, now: ContinuousClock.Instant = .now) -> String? {
        guard shouldLogRefusal(of: peer, now: now) else { return nil }
        return "refused \(peer): \(why); is cluster_secret the same on it? (further refusals of this address are not logged for 60 s)"
    }

    /// CLUSTER_CHALLENGE: a fresh nonce, remembered for the proof, and this server's proofs.
    public func challenge(_ r: ClusterChallengeRequest, _ state: ClusterAuthState) -> ClusterChallengeResponse {
        let serverNonce = ClusterSecrets.nonce()
        state.challenged(client: r.clientNonce, server: serverNonce)
        return ClusterChallengeResponse(serverNonce: serverNonce, serverProofs: secrets.keys.map {
            ClusterSecrets.mac($0, ClusterSecrets.serverLabel, r.clientNonce, serverNonce)
        })
    }

    /// CLUSTER_PROOF: true (and the connection is proven) when the proof matches one of our
    /// secrets for the nonces of this connection's challenge. A nonce serves one proof.
    public func verify(_ r: ClusterProofRequest, _ state: ClusterAuthState) -> Bool {
        state.verify { client, server in
            secrets.keys.contains { ClusterSecrets.isValid(r.proof, key: $0, ClusterSecrets.clientLabel, server, client) }
        }
    }

    /// True when a refusal of `peer` should be logged now (the first, then once a minute).
    public func shouldLogRefusal(of peer: String, now: ContinuousClock.Instant = .now) -> Bool {
        lastLogged.withLock { logged in
            if let last = logged[peer], now - last < Self.logInterval { return false }
            if logged.count > 10_000 { logged = logged.filter { now - $0.value < Self.logInterval } }
            logged[peer] = now
            return true
        }
    }
}

extension ClusterAuthState {
    func challenged(client: [UInt8], server: [UInt8]) {
        state.withLock { $0 = ((client, server), false) }
    }

    func verify(_ check: ([UInt8], [UInt8]) -> Bool) -> Bool {
        state.withLock { s in
            guard let nonces = s.nonces else { return false }
            s.nonces = nil
            s.proven = check(nonces.client, nonces.server)
            return s.proven
        }
    }
}

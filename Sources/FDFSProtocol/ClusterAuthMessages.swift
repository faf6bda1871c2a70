public import NIOCore

/// swift-fdfs extension: the cluster-secret handshake (docs/protocol.md, "CLUSTER_CHALLENGE";
/// docs/security.md). Codes outside FastDFS's range; C servers answer them EINVAL.
public enum ClusterAuthCommand: UInt8, Sendable, CaseIterable {
    /// The dialer sends its nonce; the server answers its own nonce and its proofs.
    case challenge = 252
    /// The dialer's proof; status 0, or EACCES and the connection closes.
    case proof = 253

    /// The commands a server with a cluster secret serves only on a connection whose dialer
    /// proved the secret: the cluster's internal commands (cluster spec §1, §4, §6), not those
    /// that clients and admin tools share with storages and trackers (parameters, ids, status,
    /// ACTIVE_TEST, QUIT, QUERY_FILE_INFO).
    public static func guardedCommands(for role: FDFSServerRole) -> Set<UInt8> {
        switch role {
        case .tracker: trackerGuarded
        case .storage: storageGuarded
        }
    }

    static let trackerGuarded: Set<UInt8> = Set(StorageToTrackerCommand.allCases.map(\.rawValue))
        .union(TrackerToTrackerCommand.allCases.map(\.rawValue))
        .subtracting(TrackerCommand.allCases.map(\.rawValue))
    static let storageGuarded: Set<UInt8> = Set(StorageToStorageCommand.allCases.map(\.rawValue))
        .subtracting(StorageCommand.allCases.map(\.rawValue))
}

/// CLUSTER_CHALLENGE (252) request: the dialer's random nonce.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 32 | client nonce |
public struct ClusterChallengeRequest: FDFSRequest {
    public typealias Response = ClusterChallengeResponse
    public static let command = ClusterAuthCommand.challenge.rawValue
    public static let nonceBytes = 32
    public var clientNonce: [UInt8]

    public init(clientNonce: [UInt8]) { self.clientNonce = clientNonce }

    public func encode(into b: inout ByteBuffer) { b.writeBytes(clientNonce) }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == nonceBytes, "body must be \(nonceBytes) bytes, got \(r.remaining)")
        return Self(clientNonce: try r.bytes(count: nonceBytes, "client nonce"))
    }
}

/// CLUSTER_CHALLENGE (252) response: the server's nonce, then one 32-byte proof per secret the
/// server accepts (one, or two while a secret is being rolled).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 32 | server nonce |
/// | 32 | 32 × n, n = 1 or 2 | server proofs: HMAC-SHA256(secret, "swift-fdfs cluster server" ‖ client nonce ‖ server nonce) |
public struct ClusterChallengeResponse: FDFSBody {
    public static let proofBytes = 32
    public static let maxProofs = 2
    public var serverNonce: [UInt8]
    public var serverProofs: [[UInt8]]

    public init(serverNonce: [UInt8], serverProofs: [[UInt8]]) {
        self.serverNonce = serverNonce
        self.serverProofs = serverProofs
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeBytes(serverNonce)
        for p in serverProofs { b.writeBytes(p) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let proofs = (r.remaining - ClusterChallengeRequest.nonceBytes) / proofBytes
        try r.requireLength(r.remaining == ClusterChallengeRequest.nonceBytes + proofs * proofBytes && (1...maxProofs).contains(proofs),
                            "body must be 32 bytes of nonce and 1 or 2 proofs of 32 bytes, got \(r.remaining) bytes")
        let nonce = try r.bytes(count: ClusterChallengeRequest.nonceBytes, "server nonce")
        var list: [[UInt8]] = []
        for _ in 0..<proofs { list.append(try r.bytes(count: proofBytes, "server proof")) }
        return Self(serverNonce: nonce, serverProofs: list)
    }
}

/// CLUSTER_PROOF (253): the dialer's proof, HMAC-SHA256(secret, "swift-fdfs cluster client" ‖
/// server nonce ‖ client nonce). Answered with status 0 and no body, or EACCES (then the
/// server closes the connection).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 32 | client proof |
public struct ClusterProofRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = ClusterAuthCommand.proof.rawValue
    public var proof: [UInt8]

    public init(proof: [UInt8]) { self.proof = proof }

    public func encode(into b: inout ByteBuffer) { b.writeBytes(proof) }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == ClusterChallengeResponse.proofBytes, "body must be 32 bytes, got \(r.remaining)")
        return Self(proof: try r.bytes(count: ClusterChallengeResponse.proofBytes, "client proof"))
    }
}

public import FDFSModel
public import FDFSProtocol

/// What a storage knows about the other members of its group, fed by the leader's
/// GROUP_SERVER lists (cluster spec §2.5). A pure value: `merge` returns what to do.
public struct PeerTable: Sendable, Hashable {
    public struct Peer: Sendable, Hashable {
        public var id: StorageID
        public var ipAddress: String
        public var port: Int
        public var status: StorageStatus
    }

    /// What a merge asks the storage to do.
    public struct MergeResult: Sendable, Hashable {
        /// This storage's own status in the list (nil when it is not listed).
        public var ownStatus: StorageStatus? = nil
        /// Peers to push back to the tracker in one REPLICA_CHG (the leader ignores it, §10.2).
        public var pushBack: [StorageBrief] = []
        /// Peers whose sync dispatcher must start (new or revived).
        public var startSync: [StorageID] = []
    }

    /// At most 32 peers per group (the C storage's limit).
    public static let maxPeers = 32
    public private(set) var peers: [Peer] = []
    public let selfID: StorageID

    public init(selfID: StorageID) { self.selfID = selfID }

    public func peer(_ id: StorageID) -> Peer? { peers.first { $0.id == id } }

    func brief(_ p: Peer) -> StorageBrief {
        StorageBrief(status: p.status, port: Int32(p.port), id: p.id.rawValue, ipAddress: p.ipAddress)
    }

    /// Merges one GROUP_SERVER list from the leader.
    public mutating func merge(_ briefs: [StorageBrief]) -> MergeResult {
        var result = MergeResult()
        var listed = Set<StorageID>()
        for b in briefs {
            guard let id = try? StorageID(b.id) else { continue }
            listed.insert(id)
            if id == selfID {
                result.ownStatus = b.status
                continue
            }
            let remote = b.status
            guard let i = peers.firstIndex(where: { $0.id == id }) else {
                // Unknown peer: DELETED/IP_CHANGED ignored, others added and synced to.
                guard remote != .deleted && remote != .ipChanged, peers.count < Self.maxPeers else { continue }
                peers.append(Peer(id: id, ipAddress: b.ipAddress, port: Int(b.port), status: remote))
                result.startSync.append(id)
                continue
            }
            peers[i].ipAddress = b.ipAddress.isEmpty ? peers[i].ipAddress : b.ipAddress
            let local = peers[i].status
            if local == remote { continue }
            if remote == .offline {
                if local == .active || local == .online {
                    peers[i].status = .offline
                } else if local != .none && local != .initial {
                    result.pushBack.append(brief(peers[i]))
                }
            } else if local == .offline {
                peers[i].status = remote
            } else if local == .none {
                guard remote != .deleted && remote != .ipChanged else { continue }
                peers[i].status = remote
                result.startSync.append(id)
            } else if (remote == .waitSync || remote == .syncing) && local > remote {
                result.pushBack.append(brief(peers[i]))
            } else {
                peers[i].status = remote
            }
        }
        for p in peers where p.status != .none && !listed.contains(p.id) { result.pushBack.append(brief(p)) }
        return result
    }

    /// A status this storage decided for a peer (the sync source moving a new member to
    /// SYNCING or OFFLINE, cluster spec §2.3).
    public mutating func setStatus(_ id: StorageID, _ status: StorageStatus) {
        if let i = peers.firstIndex(where: { $0.id == id }) { peers[i].status = status }
    }

    /// Retires a peer slot (deleted or changed IP, after its dispatcher drained).
    public mutating func retire(_ id: StorageID) {
        if let i = peers.firstIndex(where: { $0.id == id }) { peers[i].status = .none }
    }
}

public import FDFSClient
public import FDFSModel

/// What a tracker remembers about one connection: which storage joined on it, and which
/// change notifications it has already been sent (cluster spec §1.5).
public struct TrackerSession: Sendable {
    /// The requester's address as the tracker sees it.
    public var peerIP: String
    /// The tracker's own address on this connection.
    public var localIP: String
    /// Set by a successful JOIN.
    public var storage: StorageKey? = nil
    var sentLeaderChange: Int64 = 0
    var sentGroupChange: Int64 = 0
    var sentTrunkChange: Int64 = 0
    /// Tracker-to-tracker state when the peer is another tracker (JOIN_LEADER, PING_LEADER).
    var peer: PeerTrackerSession
    /// Set while this connection copies the data files (GET_SYS_FILES_START .. END).
    var copyOwner: UInt64? = nil
    /// Whether the dialer proved the cluster secret (with `cluster_secret` set).
    public let cluster = ClusterAuthState()

    public init(peerIP: String, localIP: String) {
        self.peerIP = peerIP
        self.localIP = localIP
        self.peer = PeerTrackerSession(peerIP: peerIP)
    }

    /// Forget what was sent, so that the next notification carries full lists.
    mutating func resetNotifications() {
        sentLeaderChange = 0
        sentGroupChange = 0
        sentTrunkChange = 0
    }
}

/// How a storage is found: its group and id.
public struct StorageKey: Hashable, Sendable, CustomStringConvertible {
    public var group: GroupName
    public var id: StorageID
    public init(group: GroupName, id: StorageID) {
        self.group = group
        self.id = id
    }
    public var description: String { "\(group)/\(id)" }
}

/// Side effects the state machine asks its owner to carry out (DESIGN.md principle 4: the
/// state machine is pure; files are written by whoever owns it).
public enum TrackerAction: Hashable, Sendable {
    case saveGroups
    case saveStorages
    case saveSyncTimestamps
    /// A line for `storage_changelog.dat`, without the newline.
    case appendChangelog(String)
}

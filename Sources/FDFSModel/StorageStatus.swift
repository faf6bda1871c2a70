/// The status of a storage server as trackers and storages track it (cluster spec §2.1).
///
/// The wire carries it as a signed byte. The type is open so that any byte read from the wire
/// round-trips (a JOIN may carry -1, "status unknown"); the named values are the ones FastDFS
/// defines. Ordering follows the numeric value because several cluster rules compare statuses
/// with `<` and `>`.
public struct StorageStatus: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int8
    public init(rawValue: Int8) { self.rawValue = rawValue }

    /// Interprets a wire byte as the signed status value.
    public init(wireByte: UInt8) { self.rawValue = Int8(bitPattern: wireByte) }
    public var wireByte: UInt8 { UInt8(bitPattern: rawValue) }

    /// "My status is unknown" in a JOIN request (cluster spec §1.3, quirk §10.14).
    public static let unknown = StorageStatus(rawValue: -1)
    public static let initial = StorageStatus(rawValue: 0)
    public static let waitSync = StorageStatus(rawValue: 1)
    public static let syncing = StorageStatus(rawValue: 2)
    public static let ipChanged = StorageStatus(rawValue: 3)
    public static let deleted = StorageStatus(rawValue: 4)
    public static let offline = StorageStatus(rawValue: 5)
    public static let online = StorageStatus(rawValue: 6)
    public static let active = StorageStatus(rawValue: 7)
    public static let recovery = StorageStatus(rawValue: 9)
    /// Storage-local only: a peer slot that has been retired.
    public static let none = StorageStatus(rawValue: 99)

    /// Every value FastDFS names, in numeric order.
    public static let allNamed: [StorageStatus] = [
        .initial, .waitSync, .syncing, .ipChanged, .deleted, .offline, .online, .active, .recovery, .none,
    ]

    /// The caption FastDFS tools print (`ACTIVE`, `WAIT_SYNC`, ...), `UNKNOWN` otherwise.
    public var name: String {
        switch rawValue {
        case 0: "INIT"
        case 1: "WAIT_SYNC"
        case 2: "SYNCING"
        case 3: "IP_CHANGED"
        case 4: "DELETED"
        case 5: "OFFLINE"
        case 6: "ONLINE"
        case 7: "ACTIVE"
        case 9: "RECOVERY"
        case 99: "NONE"
        default: "UNKNOWN"
        }
    }

    /// OFFLINE, ONLINE and ACTIVE are the "available" statuses of the cluster rules.
    public var isAvailable: Bool { self == .offline || self == .online || self == .active }

    public static func < (lhs: StorageStatus, rhs: StorageStatus) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "\(name)(\(rawValue))" }
}

/// Read/write permission of a storage (`rw=` in storage_ids.conf, `rw_mode` in storage-stat records).
public struct StorageRWMode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let none = StorageRWMode(rawValue: 0)
    public static let write = StorageRWMode(rawValue: 2)
    public static let read = StorageRWMode(rawValue: 4)
    public static let both = StorageRWMode(rawValue: 6)

    public var canRead: Bool { rawValue & 4 != 0 }
    public var canWrite: Bool { rawValue & 2 != 0 }

    /// The keyword storage_ids.conf and FETCH_STORAGE_IDS use (`read`, `write`, `none`, `both`).
    public var keyword: String {
        switch (canRead, canWrite) {
        case (true, true): "both"
        case (true, false): "read"
        case (false, true): "write"
        case (false, false): "none"
        }
    }

    /// Parses an `rw=` value, case-insensitively: both/all, read/readonly, write/writeonly, none.
    public init?(keyword: String) {
        switch keyword.lowercased() {
        case "both", "all": self = .both
        case "read", "readonly": self = .read
        case "write", "writeonly": self = .write
        case "none": self = .none
        default: return nil
        }
    }

    public var description: String { keyword }
}

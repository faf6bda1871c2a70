/// The status byte of a FastDFS response: 0 for success, otherwise a Linux errno value.
///
/// FastDFS servers put their native errno on the wire unchanged, so clients must read these
/// as the Linux numbers (protocol spec §8). The type is open (any byte is representable)
/// because a peer may send a value we do not name.
public struct FDFSStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    public static let success = FDFSStatus(0)
    public static let EPERM = FDFSStatus(1)
    public static let ENOENT = FDFSStatus(2)
    public static let EINTR = FDFSStatus(4)
    public static let EIO = FDFSStatus(5)
    public static let EAGAIN = FDFSStatus(11)
    public static let ENOMEM = FDFSStatus(12)
    public static let EACCES = FDFSStatus(13)
    public static let EFAULT = FDFSStatus(14)
    public static let EBUSY = FDFSStatus(16)
    public static let EEXIST = FDFSStatus(17)
    public static let ENOTDIR = FDFSStatus(20)
    public static let EISDIR = FDFSStatus(21)
    public static let EINVAL = FDFSStatus(22)
    public static let ENOSPC = FDFSStatus(28)
    public static let ENAMETOOLONG = FDFSStatus(36)
    public static let ENONET = FDFSStatus(64)
    public static let EOPNOTSUPP = FDFSStatus(95)
    public static let ENOTCONN = FDFSStatus(107)
    public static let ETIMEDOUT = FDFSStatus(110)
    public static let EALREADY = FDFSStatus(114)
    public static let EINPROGRESS = FDFSStatus(115)

    public var isSuccess: Bool { rawValue == 0 }

    /// The errno name (`"ENOENT"`), `"OK"` for 0, or `"errno N"` for a value we do not name.
    public var name: String {
        switch rawValue {
        case 0: "OK"
        case 1: "EPERM"
        case 2: "ENOENT"
        case 4: "EINTR"
        case 5: "EIO"
        case 11: "EAGAIN"
        case 12: "ENOMEM"
        case 13: "EACCES"
        case 14: "EFAULT"
        case 16: "EBUSY"
        case 17: "EEXIST"
        case 20: "ENOTDIR"
        case 21: "EISDIR"
        case 22: "EINVAL"
        case 28: "ENOSPC"
        case 36: "ENAMETOOLONG"
        case 64: "ENONET"
        case 95: "EOPNOTSUPP"
        case 107: "ENOTCONN"
        case 110: "ETIMEDOUT"
        case 114: "EALREADY"
        case 115: "EINPROGRESS"
        default: "errno \(rawValue)"
        }
    }

    /// A short operator-facing explanation of what the status usually means in FastDFS.
    public var meaning: String {
        switch rawValue {
        case 0: "success"
        case 1: "operation not permitted (file-system failure)"
        case 2: "not found (group, storage, file or metadata)"
        case 5: "disk input/output error"
        case 11: "try again later"
        case 12: "out of memory"
        case 13: "permission denied (command needs a joined storage, or not writable)"
        case 14: "storage unknown and its join status is not acceptable"
        case 16: "busy (storage online, group not empty, or no unique name)"
        case 17: "already exists"
        case 21: "is a directory, not a regular file"
        case 22: "invalid request (malformed packet, wrong length, wrong group or bad name)"
        case 28: "no space left (group or store path below its reserve)"
        case 36: "name too long"
        case 64: "storage is not active"
        case 95: "not supported (not the leader, or the feature is disabled)"
        case 107: "not connected"
        case 110: "timed out"
        case 114: "already done"
        default: "error"
        }
    }

    public var description: String { rawValue == 0 ? "OK" : "\(name) (\(rawValue))" }
}

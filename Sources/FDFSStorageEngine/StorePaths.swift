public import FDFSModel
public import FDFSFileSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One configured store path (`store_pathN`).
public struct StorePath: Hashable, Sendable {
    public var path: String
    public var isReadOnly: Bool
    public init(path: String, isReadOnly: Bool = false) {
        self.path = path
        self.isReadOnly = isReadOnly
    }

    /// `<path>/data`.
    public var dataPath: String { path + "/data" }

    /// The absolute path of a file name in this store path.
    public func absolutePath(_ name: RemoteFilename) -> String { path + "/" + name.relativePath }
}

/// Space of one store path in MiB, as `statvfs` reports it (cluster spec §1.6).
public struct PathSpace: Hashable, Sendable {
    public var totalMB: Int64
    public var freeMB: Int64
    public init(totalMB: Int64, freeMB: Int64) {
        self.totalMB = totalMB
        self.freeMB = freeMB
    }
}

/// Why an upload cannot be placed.
public enum PlacementError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The requested store path index does not exist (EINVAL).
    case storePathOutOfRange(Int, count: Int)
    /// Every writable store path is at or below its reserve (ENOSPC).
    case noSpace

    public var status: FDFSStatus {
        switch self {
        case .storePathOutOfRange: .EINVAL
        case .noSpace: .ENOSPC
        }
    }

    public var description: String {
        switch self {
        case .storePathOutOfRange(let i, let n): "store path index \(i) does not exist (this storage has \(n))"
        case .noSpace: "every store path is below its reserved space"
        }
    }
}

/// The store paths of a storage: directory creation, free space and the choice of the path
/// for an upload (cluster spec §7.3).
public struct StorePaths: Sendable {
    public private(set) var paths: [StorePath]
    public let subdirCount: Int
    var cursor = 0

    public init(paths: [StorePath], subdirCount: Int = 256) {
        precondition(!paths.isEmpty && paths.count <= 256 && (1...256).contains(subdirCount), "1...256 store paths and subdirectories")
        self.paths = paths
        self.subdirCount = subdirCount
    }

    /// Creates `data/00/00` ... `data/FF/FF` of every path that lacks them; returns the indexes
    /// of the paths it had to create ("just created": a replaced disk, cluster spec §7.6).
    @discardableResult
    public func createDirectories() throws(FileSystemError) -> [Int] {
        var created: [Int] = []
        let last = Self.hex2(subdirCount - 1)
        for (index, p) in paths.enumerated() {
            if directoryExists(p.dataPath + "/00/00") && directoryExists(p.dataPath + "/\(last)/\(last)") { continue }
            try FileSystemCalls.makeDirectory(p.path)
            try FileSystemCalls.makeDirectory(p.dataPath)
            for high in 0..<subdirCount {
                let h = p.dataPath + "/" + Self.hex2(high)
                try FileSystemCalls.makeDirectory(h)
                for low in 0..<subdirCount { try FileSystemCalls.makeDirectory(h + "/" + Self.hex2(low)) }
            }
            created.append(index)
        }
        return created
    }

    func directoryExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Total and free space of store path `index` (free as available to unprivileged users).
    public func space(_ index: Int) throws(FileSystemError) -> PathSpace {
        var fs = statvfs()
        guard statvfs(paths[index].path, &fs) == 0 else { throw FileSystemCalls.error("statvfs", paths[index].path) }
        let block = Int64(fs.f_frsize)
        return PathSpace(totalMB: Int64(fs.f_blocks) * block / (1 << 20), freeMB: Int64(fs.f_bavail) * block / (1 << 20))
    }

    /// The store path for an upload: the requested index when it is writable and has space,
    /// else (also for -1) the next writable path above the reserve in rotation.
    /// `hasSpace(index)` tells whether a path is above its reserve.
    /// Takes store path `i` out of service for new files (it turned read-only, failed, or
    /// vanished); false when it already was.
    public mutating func takeOutOfService(_ i: Int) -> Bool {
        guard paths.indices.contains(i), !paths[i].isReadOnly else { return false }
        paths[i].isReadOnly = true
        return true
    }

    public mutating func choose(requested: Int, hasSpace: (Int) -> Bool) throws(PlacementError) -> Int {
        guard requested == -1 || (0..<paths.count).contains(requested) else {
            throw .storePathOutOfRange(requested, count: paths.count)
        }
        if requested >= 0 && !paths[requested].isReadOnly && hasSpace(requested) { return requested }
        for step in 0..<paths.count {
            let i = (cursor + step) % paths.count
            if !paths[i].isReadOnly && hasSpace(i) {
                cursor = (i + 1) % paths.count
                return i
            }
        }
        throw .noSpace
    }

    static func hex2(_ v: Int) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[(v >> 4) & 0xF], digits[v & 0xF]])
    }
}

public import FDFSFileSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// When an uploaded file reaches the disk for sure (`fsync_after_written_bytes` of FastDFS,
/// plus our switch to fsync every file before the reply).
public struct FileSyncPolicy: Hashable, Sendable {
    /// fsync every time this many bytes were written since the last fsync (0 = never).
    public var afterWrittenBytes: Int64
    /// fsync the whole file before it is renamed into place and acknowledged.
    public var beforeReply: Bool

    public init(afterWrittenBytes: Int64 = 0, beforeReply: Bool = false) {
        self.afterWrittenBytes = afterWrittenBytes
        self.beforeReply = beforeReply
    }
}

/// One file being received: written to a temporary file in its final directory while its
/// CRC32 is computed, then renamed into place (never over an existing file). Until `commit`
/// nothing is visible; `abort` (or a failed commit) leaves nothing behind.
///
/// Not Sendable: one upload belongs to the one task serving its connection.
public final class UploadFile {
    public let temporaryPath: String
    let directory: String
    let policy: FileSyncPolicy
    var descriptor: Int32
    var crc = CRC32()
    public private(set) var writtenBytes: Int64 = 0
    var unsyncedBytes: Int64 = 0

    /// Creates `<directory>/.<tag>.tmp` (exclusively: a leftover of the same name is an error).
    public init(directory: String, tag: String, policy: FileSyncPolicy = FileSyncPolicy()) throws(FileSystemError) {
        self.directory = directory
        self.temporaryPath = directory + "/." + tag + ".tmp"
        self.policy = policy
        self.descriptor = try FileSystemCalls.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
    }

    deinit {
        if descriptor >= 0 {
            try? FileSystemCalls.close(descriptor, path: temporaryPath)
            _ = unlink(temporaryPath)
        }
    }

    /// Appends a slice of the body.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        precondition(descriptor >= 0, "write after commit or abort")
        crc.update(bytes)
        try FileSystemCalls.writeAll(descriptor, bytes, path: temporaryPath)
        writtenBytes += Int64(bytes.count)
        unsyncedBytes += Int64(bytes.count)
        if policy.afterWrittenBytes > 0 && unsyncedBytes >= policy.afterWrittenBytes {
            try FileSystemCalls.sync(descriptor, path: temporaryPath)
            unsyncedBytes = 0
        }
    }

    public func write(_ bytes: [UInt8]) throws(FileSystemError) {
        var failure: FileSystemError? = nil
        bytes.withUnsafeBytes { buffer in
            do throws(FileSystemError) { try write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// The CRC32 of everything written.
    public var crc32: UInt32 { crc.value }

    /// Moves the file to `name` in the same directory. Fails with EEXIST (and leaves the
    /// existing file untouched) when that name is taken.
    public func commit(as name: String, modificationTime: Int64? = nil) throws(FileSystemError) {
        try place(as: name, modificationTime: modificationTime, replacing: false)
    }

    /// Moves the file to `name` in the same directory, replacing a file of that name
    /// atomically (a replica received again, or rewritten in full).
    public func replace(as name: String, modificationTime: Int64? = nil) throws(FileSystemError) {
        try place(as: name, modificationTime: modificationTime, replacing: true)
    }

    func place(as name: String, modificationTime: Int64?, replacing: Bool) throws(FileSystemError) {
        precondition(descriptor >= 0, "commit twice")
        let path = directory + "/" + name
        do throws(FileSystemError) {
            if policy.beforeReply { try FileSystemCalls.sync(descriptor, path: temporaryPath) }
            if let modificationTime {
                var times = [timespec(tv_sec: Int(modificationTime), tv_nsec: 0), timespec(tv_sec: Int(modificationTime), tv_nsec: 0)]
                if futimens(descriptor, &times) != 0 { throw FileSystemCalls.error("futimens", temporaryPath) }
            }
            let fd = descriptor
            descriptor = -1
            try FileSystemCalls.close(fd, path: temporaryPath)
            if replacing {
                if rename(temporaryPath, path) != 0 { throw FileSystemCalls.error("rename", path) }
            } else {
                try FileSystemCalls.renameNoReplace(temporaryPath, to: path)
            }
            if policy.beforeReply { try FileSystemCalls.syncDirectory(directory) }
        } catch {
            if descriptor >= 0 { try? FileSystemCalls.close(descriptor, path: temporaryPath) }
            descriptor = -1
            _ = unlink(temporaryPath)
            throw error
        }
    }

    /// Drops the upload: the temporary file is removed.
    public func abort() {
        guard descriptor >= 0 else { return }
        try? FileSystemCalls.close(descriptor, path: temporaryPath)
        descriptor = -1
        _ = unlink(temporaryPath)
    }
}

extension UploadFile {
    /// Whether `name` is the temporary file of an upload, a slave or a sync copy made by a
    /// process other than `ownPID` (`.<kind><pid>-<n>.tmp`, see `StorageStore.temporaryTag`):
    /// a leftover of a storage that was killed while it received the file.
    public static func isLeftover(_ name: String, ownPID: Int32) -> Bool {
        guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return false }
        let tag = name.dropFirst().dropLast(4).drop { $0.isLetter }
        guard let dash = tag.firstIndex(of: "-"), let pid = Int32(tag[..<dash]), Int(tag[tag.index(after: dash)...]) != nil else { return false }
        return pid != ownPID
    }

    /// Removes the leftovers (`isLeftover`) in every data subdirectory of `paths`; returns how
    /// many per store path. Reads every subdirectory (65,536 of them with 256 per level):
    /// run it off the event loops, after the server started.
    public static func removeLeftovers(in paths: StorePaths, ownPID: Int32) -> [Int] {
        paths.paths.map { p in
            var removed = 0
            for high in 0..<paths.subdirCount {
                for low in 0..<paths.subdirCount {
                    let directory = p.dataPath + "/" + StorePaths.hex2(high) + "/" + StorePaths.hex2(low)
                    for name in FileSystemCalls.entries(of: directory) where isLeftover(name, ownPID: ownPID) {
                        if unlink(directory + "/" + name) == 0 { removed += 1 }
                    }
                }
            }
            return removed
        }
    }
}

#if canImport(Glibc)
public import Glibc
#elseif canImport(Musl)
public import Musl
#elseif canImport(Darwin)
public import Darwin
#endif
import CFDFSSystem

/// A failed system call on a file the daemons keep.
public struct FileSystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was attempted: `open`, `read`, `write`, `fsync`, `rename`, ...
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        "\(operation) \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// The POSIX calls behind every durable file of the daemons, with EINTR retried and errors as
/// ``FileSystemError``. All calls block: run them off the event loops.
public enum FileSystemCalls {
    public static func error(_ operation: String, _ path: String) -> FileSystemError {
        FileSystemError(operation: operation, path: path, errno: errno)
    }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(FileSystemError) -> Int32 {
        while true {
            #if canImport(Darwin)
            let fd = Darwin.open(path, flags | O_CLOEXEC, mode)
            #elseif canImport(Glibc)
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            #else
            let fd = Musl.open(path, flags | O_CLOEXEC, mode)
            #endif
            if fd >= 0 { return fd }
            if errno != EINTR { throw error("open", path) }
        }
    }

    public static func close(_ fd: Int32, path: String) throws(FileSystemError) {
        #if canImport(Darwin)
        let result = Darwin.close(fd)
        #elseif canImport(Glibc)
        let result = Glibc.close(fd)
        #else
        let result = Musl.close(fd)
        #endif
        // After EINTR the descriptor is gone on Linux; retrying could close another file.
        if result != 0 && errno != EINTR { throw error("close", path) }
    }

    public static func makeDirectory(_ path: String) throws(FileSystemError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw error("mkdir", path) }
    }

    /// Size in bytes, nil when the file does not exist.
    public static func fileSize(_ path: String) throws(FileSystemError) -> Int64? {
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT { return nil }
            throw error("stat", path)
        }
        return Int64(info.st_size)
    }

    public static func fileSize(descriptor fd: Int32, path: String) throws(FileSystemError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("fstat", path) }
        return Int64(info.st_size)
    }

    /// The whole file, nil when it does not exist.
    public static func readFile(_ path: String) throws(FileSystemError) -> [UInt8]? {
        let fd: Int32
        do throws(FileSystemError) {
            fd = try open(path, O_RDONLY)
        } catch let failure where failure.errno == ENOENT {
            return nil
        }
        defer { try? close(fd, path: path) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes += chunk[0..<n]
            } else if n == 0 {
                return bytes
            } else if errno != EINTR {
                throw error("read", path)
            }
        }
    }

    /// Up to `count` bytes from `offset` (fewer only at the end of the file).
    public static func readRange(_ fd: Int32, path: String, offset: Int64, count: Int) throws(FileSystemError) -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let result: Result<Int, FileSystemError> = bytes.withUnsafeMutableBytes { buffer in
            do throws(FileSystemError) { return .success(try readFully(fd, into: buffer, offset: offset, path: path)) } catch { return .failure(error) }
        }
        bytes.removeLast(count - (try result.get()))
        return bytes
    }

    /// Fills `buffer` from `offset` (EINTR and short reads retried); returns the bytes read,
    /// fewer than the buffer only at the end of the file.
    public static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int64, path: String) throws(FileSystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n > 0 {
                done += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw error("read", path)
            }
        }
        return done
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileSystemError) {
        let failure: FileSystemError? = bytes.withUnsafeBytes { buffer in
            do throws(FileSystemError) { try writeAll(fd, buffer, path: path) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// Writes every byte of `bytes` at the descriptor's position (short writes and EINTR retried).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileSystemError) {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n >= 0 {
                done += n
            } else if errno != EINTR {
                throw error("write", path)
            }
        }
    }

    public static func sync(_ fd: Int32, path: String) throws(FileSystemError) {
        while fsync(fd) != 0 {
            if errno != EINTR { throw error("fsync", path) }
        }
    }

    /// Renames `from` to `to` unless `to` exists (EEXIST then, and nothing changes): one
    /// renameat2(RENAME_NOREPLACE) where the kernel and file system have it, else link and
    /// unlink (a hard link also refuses an existing name).
    public static func renameNoReplace(_ from: String, to: String) throws(FileSystemError) {
        if cfdfs_rename_noreplace(from, to) == 0 { return }
        guard errno == EINVAL || errno == ENOSYS || errno == ENOTSUP else { throw error("rename", to) }
        if link(from, to) != 0 { throw error("link", to) }
        _ = unlink(from)
    }

    public static func removeFile(_ path: String) throws(FileSystemError) {
        if unlink(path) != 0 && errno != ENOENT { throw error("unlink", path) }
    }

    /// The safe rewrite of §3.1: temp file, fsync, close, rename, directory fsync.
    public static func replaceFile(_ path: String, with bytes: [UInt8], directory: String) throws(FileSystemError) {
        let temporary = path + ".tmp"
        do throws(FileSystemError) {
            let fd = try open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            do throws(FileSystemError) {
                try writeAll(fd, bytes, path: temporary)
                try sync(fd, path: temporary)
            } catch {
                try? close(fd, path: temporary)
                throw error
            }
            try close(fd, path: temporary)
            if rename(temporary, path) != 0 { throw error("rename", temporary) }
        } catch {
            // Best effort: the error to report is the one that stopped the save. (If the
            // temp path is not a plain file, unlink fails and there is nothing to remove.)
            _ = unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Makes a rename durable. File systems that cannot sync a directory say EINVAL; the
    /// file itself is already complete then, so that is not an error.
    public static func syncDirectory(_ path: String) throws(FileSystemError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { try? close(fd, path: path) }
        while fsync(fd) != 0 {
            if errno == EINVAL || errno == ENOTSUP { return }
            if errno != EINTR { throw error("fsync", path) }
        }
    }

    /// Write in place: truncate, write, fsync (for `.tracker_status`).
    public static func overwriteFile(_ path: String, with bytes: [UInt8]) throws(FileSystemError) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        do throws(FileSystemError) {
            try writeAll(fd, bytes, path: path)
            try sync(fd, path: path)
        } catch {
            try? close(fd, path: path)
            throw error
        }
        try close(fd, path: path)
    }
}

// MARK: - Leftovers of a killed process

extension FileSystemCalls {
    /// The names of the entries of `directory` (not `.` and `..`); empty when it cannot be read.
    public static func entries(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes the `*.tmp` files `replaceFile` left in `directory` when a process was killed
    /// between writing and renaming one; call at start, before anything is saved there.
    /// Returns the names removed.
    @discardableResult
    public static func removeStaleReplacements(in directory: String) -> [String] {
        entries(of: directory).filter { $0.hasSuffix(".tmp") && unlink(directory + "/" + $0) == 0 }
    }
}

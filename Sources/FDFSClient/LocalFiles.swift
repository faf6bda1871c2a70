import FDFSFileSystem
public import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Local files of uploads and downloads. The blocking calls run on NIO's blocking thread pool,
// never on an event loop or the cooperative pool.

/// A regular file opened for an upload: its size at opening, read in chunks.
final class LocalFileReader: Sendable {
    let path: String
    let descriptor: Int32
    let size: Int64

    private init(path: String, descriptor: Int32, size: Int64) {
        self.path = path
        self.descriptor = descriptor
        self.size = size
    }

    deinit { try? FileSystemCalls.close(descriptor, path: path) }

    static func open(_ path: String) async throws -> LocalFileReader {
        try await NIOThreadPool.singleton.runIfActive {
            let (fd, info) = try openWithStatus(path, O_RDONLY)
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                try? FileSystemCalls.close(fd, path: path)
                throw FileSystemError(operation: "upload", path: path, errno: (info.st_mode & S_IFMT) == S_IFDIR ? EISDIR : EINVAL)
            }
            return LocalFileReader(path: path, descriptor: fd, size: Int64(info.st_size))
        }
    }

    /// Up to `count` bytes at `offset` (fewer only at the end of the file).
    func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
        try await NIOThreadPool.singleton.runIfActive { [self] in
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            var failure: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                var got = 0
                while got < count {
                    let n = pread(descriptor, target.baseAddress! + got, count - got, off_t(offset) + off_t(got))
                    if n > 0 {
                        got += n
                    } else if n == 0 {
                        break
                    } else if errno != EINTR {
                        failure = errno
                        break
                    }
                }
                return got
            }
            if failure != 0 { throw FileSystemError(operation: "read", path: path, errno: failure) }
            return buffer
        }
    }

    /// The first `size` bytes in chunks of `chunkSize`. A file that shrank meanwhile throws
    /// `FDFSClientError.contentLengthMismatch`.
    func chunks(of chunkSize: Int) -> Chunks { Chunks(file: self, chunkSize: chunkSize, start: 0, end: size) }

    /// Bytes `start..<end` in chunks of `chunkSize`.
    struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let file: LocalFileReader
        let chunkSize: Int
        let start: Int64
        let end: Int64

        func makeAsyncIterator() -> Iterator { Iterator(file: file, chunkSize: chunkSize, offset: start, end: end) }

        struct Iterator: AsyncIteratorProtocol {
            let file: LocalFileReader
            let chunkSize: Int
            var offset: Int64
            let end: Int64

            mutating func next() async throws -> ByteBuffer? {
                guard offset < end else { return nil }
                let count = Int(Swift.min(Int64(chunkSize), end - offset))
                let chunk = try await file.read(at: offset, count: count)
                guard chunk.readableBytes == count else {
                    throw FDFSClientError.contentLengthMismatch(expected: end, actual: offset + Int64(chunk.readableBytes))
                }
                offset += Int64(count)
                return chunk
            }
        }
    }
}

/// A local regular file opened to be sent as the content of a streamed request, whole or a
/// range of it (replication pushes files and appended ranges this way). `size` is its size
/// when it was opened; the descriptor stays open, so a file unlinked meanwhile is still read.
public struct LocalFileContent: Sendable {
    let file: LocalFileReader
    public var size: Int64 { file.size }

    /// Opens `path`; a missing file throws `FileSystemError` with errno ENOENT.
    public static func open(_ path: String) async throws -> LocalFileContent { LocalFileContent(file: try await LocalFileReader.open(path)) }

    /// Bytes `offset..<offset + length` (clamped to `size`) in chunks of `chunkSize`.
    public func chunks(offset: Int64 = 0, length: Int64? = nil, chunkSize: Int = StorageClient.fileChunkSize) -> some AsyncSequence<ByteBuffer, any Error> & Sendable {
        let end = Swift.min(size, offset + (length ?? size))
        return LocalFileReader.Chunks(file: file, chunkSize: chunkSize, start: Swift.min(offset, end), end: end)
    }
}

/// One buffer already in memory, as content of a streamed request.
public struct SingleBuffer: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let buffer: ByteBuffer

    public init(buffer: ByteBuffer) { self.buffer = buffer }

    public func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer) }

    public struct Iterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        public mutating func next() async -> ByteBuffer? {
            defer { buffer = nil }
            return buffer
        }
    }
}

/// A download going into a new temporary file next to its destination, renamed over the
/// destination only when complete. On failure only the temporary file is removed: an
/// existing file at the destination stays as it was.
final class LocalFileWriter: Sendable {
    let path: String
    let temporaryPath: String
    let descriptor: Int32

    private init(path: String, temporaryPath: String, descriptor: Int32) {
        self.path = path
        self.temporaryPath = temporaryPath
        self.descriptor = descriptor
    }

    static func create(_ path: String) async throws -> LocalFileWriter {
        try await NIOThreadPool.singleton.runIfActive {
            let slash = path.lastIndex(of: "/")
            let directory = slash.map { String(path[...$0]) } ?? ""
            let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
            let temporary = directory + "." + name + ".fdfs-" + String(UInt64.random(in: 0 ... .max), radix: 16) + ".part"
            let fd = try FileSystemCalls.open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: 0o666)
            return LocalFileWriter(path: path, temporaryPath: temporary, descriptor: fd)
        }
    }

    /// Appends the buffers.
    func write(_ buffers: [ByteBuffer]) async throws {
        guard !buffers.isEmpty else { return }
        try await NIOThreadPool.singleton.runIfActive { [self] in
            for buffer in buffers {
                try buffer.withUnsafeReadableBytes { bytes throws(FileSystemError) in
                    try FileSystemCalls.writeAll(descriptor, bytes, path: temporaryPath)
                }
            }
        }
    }

    /// Closes the file and renames it to its destination; on failure the temporary file is
    /// removed. Call once, instead of `discard`.
    func commit() async throws {
        try await NIOThreadPool.singleton.runIfActive { [self] in
            do {
                try FileSystemCalls.close(descriptor, path: temporaryPath)
                guard rename(temporaryPath, path) == 0 else { throw FileSystemCalls.error("rename", path) }
            } catch {
                try? FileSystemCalls.removeFile(temporaryPath)
                throw error
            }
        }
    }

    /// Closes and removes the temporary file. Call once, instead of `commit`.
    func discard() async {
        _ = try? await NIOThreadPool.singleton.runIfActive { [self] in
            try? FileSystemCalls.close(descriptor, path: temporaryPath)
            try? FileSystemCalls.removeFile(temporaryPath)
        }
    }
}

/// The part file of a resumable download: opened for appending (created when missing), kept
/// on failure so that the next attempt continues from its size, renamed to the destination
/// once it holds the whole file.
final class LocalFileAppender: Sendable {
    let path: String
    let descriptor: Int32
    /// Bytes already in the file when it was opened.
    let size: Int64

    private init(path: String, descriptor: Int32, size: Int64) {
        self.path = path
        self.descriptor = descriptor
        self.size = size
    }

    /// Opens `path`; with `restart`, or when it holds more than `maxSize` bytes (not a part
    /// of this file), it is emptied first.
    static func open(_ path: String, restart: Bool, maxSize: Int64) async throws -> LocalFileAppender {
        try await NIOThreadPool.singleton.runIfActive {
            let (fd, info) = try openWithStatus(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o666)
            var size = Int64(info.st_size)
            if restart || size > maxSize {
                guard ftruncate(fd, 0) == 0 else {
                    let error = FileSystemCalls.error("ftruncate", path)
                    try? FileSystemCalls.close(fd, path: path)
                    throw error
                }
                size = 0
            }
            return LocalFileAppender(path: path, descriptor: fd, size: size)
        }
    }

    func write(_ buffers: [ByteBuffer]) async throws {
        guard !buffers.isEmpty else { return }
        try await NIOThreadPool.singleton.runIfActive { [self] in
            for buffer in buffers {
                try buffer.withUnsafeReadableBytes { bytes throws(FileSystemError) in
                    try FileSystemCalls.writeAll(descriptor, bytes, path: path)
                }
            }
        }
    }

    /// Closes the file and, when it holds `expectedSize` bytes, renames it to `destination`.
    func finish(renamingTo destination: String, expectedSize: Int64) async throws {
        try await NIOThreadPool.singleton.runIfActive { [self] in
            var info = stat()
            let statFailed = fstat(descriptor, &info) != 0
            try FileSystemCalls.close(descriptor, path: path)
            if statFailed { throw FileSystemCalls.error("fstat", path) }
            guard Int64(info.st_size) == expectedSize else {
                throw FDFSClientError.contentLengthMismatch(expected: expectedSize, actual: Int64(info.st_size))
            }
            guard rename(path, destination) == 0 else { throw FileSystemCalls.error("rename", destination) }
        }
    }

    /// Closes the file, keeping it for a later resume.
    func close() async {
        _ = try? await NIOThreadPool.singleton.runIfActive { [self] in try? FileSystemCalls.close(descriptor, path: path) }
    }
}

/// Opens `path` and reads its status; the descriptor is closed again when `fstat` fails.
/// Blocking: call it on a thread-pool thread.
private func openWithStatus(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(FileSystemError) -> (Int32, stat) {
    let fd = try FileSystemCalls.open(path, flags, mode: mode)
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        let error = FileSystemCalls.error("fstat", path)
        try? FileSystemCalls.close(fd, path: path)
        throw error
    }
    return (fd, info)
}

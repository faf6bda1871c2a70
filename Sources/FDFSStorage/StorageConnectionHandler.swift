public import FDFSServerCore
import FDFSFileSystem
import FDFSModel
import FDFSProtocol
public import FDFSStorageEngine
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves one client connection of a storage server (protocol spec §5). Uploads stream into
/// a temporary file and are acknowledged only after the rename and the binlog record; an
/// EINVAL reply closes the connection, as the C storage does.
///
/// In progress (issue 4): upload, upload appender, upload slave, append, modify, truncate,
/// regenerate appender name, download,
/// delete, query file info, active test and quit are served; the other commands answer
/// EOPNOTSUPP for now.
public struct StorageConnectionHandler: FDFSConnectionHandler {
    let store: StorageStore
    let fileSync: FileSyncPolicy
    let now: @Sendable () -> Int64
    let stats: StorageStats

    public init(store: StorageStore, fileSync: FileSyncPolicy = FileSyncPolicy(), now: @escaping @Sendable () -> Int64, stats: StorageStats = StorageStats()) {
        self.store = store
        self.fileSync = fileSync
        self.now = now
        self.stats = stats
    }

    /// A streamed body being received.
    enum Incoming {
        case upload(UploadFile, UploadPlacement, any UploadRequest)
        case slave(UploadFile, RemoteFilename)
        case rangeWrite(RangeWrite)

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            switch self {
            case .upload(let file, _, _), .slave(let file, _): try file.write(bytes)
            case .rangeWrite(let w): try w.write(bytes)
            }
        }

        func abort() {
            switch self {
            case .upload(let file, _, _), .slave(let file, _): file.abort()
            case .rangeWrite(let w): w.close()
            }
        }
    }

    public func handle(_ connection: FDFSConnection) async throws {
        stats.connectionOpened(); defer { stats.connectionClosed() }
        var incoming: Incoming? = nil
        var head: (FDFSHeader, ByteBuffer)? = nil
        do {
            for try await frame in connection.inbound {
                switch frame {
                case .head(let h, let body):
                    head = (h, body)
                    stats.requested(h, fixedPartBytes: body.readableBytes)
                    incoming = nil
                    if let d = CommandRegistry.descriptor(for: h.command, role: .storage), d.streaming != nil {
                        incoming = try await beginStream(h, body)
                    }
                case .bodyPart(let part):
                    try part.withUnsafeReadableBytes { (bytes) throws in try incoming?.write(bytes) }
                case .end:
                    guard let (header, body) = head else { continue }
                    head = nil
                    if header.command == StorageCommand.quit.rawValue { return }
                    let closeAfter: Bool
                    if let current = incoming {
                        incoming = nil
                        do {
                            closeAfter = try await finish(current, connection)
                        } catch let error as StorageError {
                            // The whole body was consumed: only EINVAL closes, as in C.
                            current.abort()
                            try await connection.reply(status: error.status.rawValue)
                            closeAfter = error.status == .EINVAL
                        }
                    } else {
                        closeAfter = try await serve(header, body, connection)
                    }
                    if closeAfter {
                        connection.close()
                        return
                    }
                }
            }
        } catch let error as FDFSProtocolError {
            try? await connection.reply(error: error)
        } catch let error as StorageError {
            try? await connection.reply(status: error.status.rawValue)
        }
        incoming?.abort()
    }

    /// The fixed part of a streaming request arrived: prepare where its content goes.
    func beginStream(_ header: FDFSHeader, _ body: ByteBuffer) async throws -> Incoming {
        let request = try CommandRegistry.decodeRequest(header: header, body: body, role: .storage)
        switch request {
        case let r as AppendFileRequest:
            let (name, path) = try await appenderFile(r.filename)
            let (size, _) = try regularFileStatus(path)
            return .rangeWrite(try RangeWrite(name: name, path: path, kind: .append, offset: size, length: r.appendSize))
        case let r as ModifyFileRequest:
            let (name, path) = try await appenderFile(r.filename)
            let (size, _) = try regularFileStatus(path)
            guard r.offset <= size else { throw StorageError(.EINVAL, "offset \(r.offset) is past the end (\(size) bytes)") }
            return .rangeWrite(try RangeWrite(name: name, path: path, kind: .modify, offset: r.offset, length: r.modifySize))
        case let r as UploadSlaveFileRequest:
            let (master, masterPath) = try store.resolve(group: store.group, filename: r.masterFilename, storePaths: await store.storePaths)
            _ = try regularFileStatus(masterPath)
            let slave: RemoteFilename
            do {
                try NewFileName.validateExtension(r.fileExtension)
                slave = try master.slaveName(prefix: r.prefix, extension: r.fileExtension)
            } catch {
                throw StorageError(.EINVAL, "\(error)")
            }
            let directory = String(masterPath[..<masterPath.lastIndex(of: "/")!])
            let file: UploadFile
            do { file = try UploadFile(directory: directory, tag: "slave-\(UInt64.random(in: 0 ... .max))", policy: fileSync) } catch {
                throw StorageError(.EIO, "\(error)")
            }
            return .slave(file, slave)
        default:
            let (file, placement, upload) = try await beginUpload(header, body)
            return .upload(file, placement, upload)
        }
    }

    /// An appender file of this group named by a request without group (append, modify, truncate).
    func appenderFile(_ filename: String) async throws(StorageError) -> (RemoteFilename, String) {
        let (name, path) = try store.resolve(group: store.group, filename: filename, storePaths: await store.storePaths)
        guard name.kind == .appender else { throw StorageError(.EINVAL, "\(filename) is not an appender file") }
        return (name, path)
    }

    func finish(_ incoming: Incoming, _ connection: FDFSConnection) async throws -> Bool {
        switch incoming {
        case .upload(let file, let placement, let request):
            return try await finishUpload((file, placement, request), connection)
        case .slave(let file, let name):
            let time = now()
            do {
                try file.commit(as: name.name, modificationTime: time)
            } catch where error.errno == EEXIST {
                throw StorageError(.EEXIST, "slave file \(name) already exists")
            } catch {
                throw StorageError(.EIO, "\(error)")
            }
            try await store.recordSource(.create, name, now: time)
            stats.succeeded(.upload, bytes: file.writtenBytes)
            try await connection.reply(UploadResponse(group: store.group, remoteFilename: name.text))
            return false
        case .rangeWrite(let w):
            defer { w.close() }
            let mtime = try w.finish(sync: fileSync.beforeReply)
            let extra = BinlogRecord.Extra.range(offsetBytes: w.offset, lengthBytes: w.length)
            try await store.recordSource(w.kind == .append ? .append : .modify, w.name, now: mtime, extra: extra)
            stats.succeeded(w.kind == .append ? .append : .modify, bytes: w.written)
            try await connection.reply(EmptyBody())
            return false
        }
    }

    func beginUpload(_ header: FDFSHeader, _ body: ByteBuffer) async throws -> (UploadFile, UploadPlacement, any UploadRequest) {
        let request = try CommandRegistry.decodeRequest(header: header, body: body, role: .storage)
        guard let upload = request as? any UploadRequest else {
            throw StorageError(.EOPNOTSUPP, "command \(header.command) is not served yet")
        }
        do {
            try NewFileName.validateExtension(upload.fileExtension)
        } catch {
            throw StorageError(.EINVAL, "\(error)")
        }
        let placement = try await store.place(requestedStorePath: upload.storePathIndex)
        do {
            return (try UploadFile(directory: placement.directory, tag: placement.tag, policy: fileSync), placement, upload)
        } catch {
            throw StorageError(.EIO, "\(error)")
        }
    }

    /// Names the received file, moves it into place, records it, replies. Returns whether the
    /// connection must close.
    func finishUpload(_ current: (UploadFile, UploadPlacement, any UploadRequest), _ connection: FDFSConnection) async throws -> Bool {
        let (file, placement, request) = current
        let time = now()
        let kind: NewFileName.Kind = request is UploadAppenderFileRequest ? .appender : .normal(size: file.writtenBytes)
        var name: RemoteFilename? = nil
        for _ in 0..<10 where name == nil {
            let candidate = try await store.newName(placement, kind: kind, crc32: file.crc32, extension: request.fileExtension, now: time)
            do {
                try file.commit(as: candidate.name, modificationTime: time)
                name = candidate
            } catch where error.errno == EEXIST {
                continue
            } catch {
                throw StorageError(.EIO, "\(error)")
            }
        }
        guard let name else { throw StorageError(.EEXIST, "no unique file name after 10 tries") }
        try await store.recordSource(.create, name, now: time)
        stats.succeeded(.upload, bytes: file.writtenBytes)
        try await connection.reply(UploadResponse(group: store.group, remoteFilename: name.text))
        return false
    }

    /// The non-streaming commands. Returns whether the connection must close (after EINVAL).
    func serve(_ header: FDFSHeader, _ body: ByteBuffer, _ connection: FDFSConnection) async throws -> Bool {
        do {
            let request = try CommandRegistry.decodeRequest(header: header, body: body, role: .storage)
            switch request {
            case is ActiveTestRequest:
                try await connection.reply(EmptyBody())
            case let r as DownloadFileRequest:
                try await download(r, connection)
            case let r as DeleteFileRequest:
                let (name, path) = try store.resolve(group: r.file.group, filename: r.file.filename, storePaths: await store.storePaths)
                try await store.delete(name, path: path, now: now())
                stats.succeeded(.delete)
                try await connection.reply(EmptyBody())
            case let r as QueryFileInfoRequest:
                try await connection.reply(try await fileInfo(r))
            case let r as RegenerateAppenderFilenameRequest:
                try await connection.reply(try await regenerate(r))
            case let r as TruncateFileRequest:
                let (name, path) = try await appenderFile(r.filename)
                let (old, _) = try regularFileStatus(path)
                guard truncate(path, off_t(r.newSize)) == 0 else { throw StorageError(.EIO, "truncate \(path): errno \(errno)") }
                try await store.recordSource(.truncate, name, now: now(), extra: .sizes(oldSizeBytes: old, newSizeBytes: r.newSize))
                stats.succeeded(.truncate)
                try await connection.reply(EmptyBody())
            default:
                throw StorageError(.EOPNOTSUPP, "command \(header.command) is not served yet")
            }
            return false
        } catch let error as FDFSProtocolError {
            try await connection.reply(status: error.status.rawValue)
            return true
        } catch let error as StorageError {
            try await connection.reply(status: error.status.rawValue)
            return error.status == .EINVAL
        }
    }

    /// DOWNLOAD_FILE (14): offset >= size is EINVAL (6.15.4+ semantics, protocol spec §5.7).
    func download(_ r: DownloadFileRequest, _ connection: FDFSConnection) async throws {
        let (_, path) = try store.resolve(group: r.group, filename: r.filename, storePaths: await store.storePaths)
        let (size, _) = try regularFileStatus(path)
        guard r.offset < size else { throw StorageError(.EINVAL, "offset \(r.offset) is at or past the end (\(size) bytes)") }
        let remaining = size - r.offset
        let count = r.count == 0 ? remaining : min(r.count, remaining)
        let fd: Int32
        do { fd = try FileSystemCalls.open(path, O_RDONLY) } catch { throw StorageError(.EIO, "\(error)") }
        defer { try? FileSystemCalls.close(fd, path: path) }
        var header = connection.allocator.buffer(capacity: FDFSHeader.size)
        FDFSHeader.response(bodyLength: count).encode(into: &header)
        try await connection.write(header)
        var sent: Int64 = 0
        defer { stats.downloaded(bytes: sent, complete: sent == count) }
        while sent < count {
            // Read straight into the buffer that goes to the socket: one copy, not two.
            let n = Int(min(count - sent, 256 * 1024))
            var chunk = connection.allocator.buffer(capacity: n)
            let offset = off_t(r.offset + sent)
            var failed = false
            let read = chunk.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { buffer in
                var got = 0
                while got < n {
                    let k = pread(fd, buffer.baseAddress! + got, n - got, offset + off_t(got))
                    if k > 0 {
                        got += k
                    } else if k == 0 {
                        break
                    } else if errno != EINTR {
                        failed = true
                        break
                    }
                }
                return got
            }
            if failed { throw StorageError(.EIO, "read \(path): errno \(errno)") }
            guard read > 0 else { break }
            try await connection.write(chunk)
            sent += Int64(read)
        }
    }

    /// REGENERATE_APPENDER_FILENAME (38): the appender becomes a normal file with a new name
    /// block (now, current size, CRC of the content, this storage) and the same 7-character
    /// suffix, in the same directory (protocol spec §5.11); binlog `R new old`.
    func regenerate(_ r: RegenerateAppenderFilenameRequest) async throws -> UploadResponse {
        let (old, path) = try await appenderFile(r.filename)
        guard let bytes = try? FileSystemCalls.readFile(path) else { throw StorageError(.ENOENT, "\(r.filename) does not exist") }
        let time = now()
        let block = FileNameBlock(source: store.source, createTimestamp: Int32(truncatingIfNeeded: time),
                                  sizeField: .normal(size: Int64(bytes.count), random: UInt32.random(in: 0...FileSizeField.randomMask)),
                                  crc32: CRC32.checksum(bytes))
        let new: RemoteFilename
        do {
            new = try RemoteFilename(storePathIndex: old.storePathIndex, subdirHigh: old.subdirHigh, subdirLow: old.subdirLow,
                                     name: block.encoded + old.name.suffix(FileNameSuffix.length))
        } catch {
            throw StorageError(.EINVAL, "\(error)")
        }
        let newPath = String(path.dropLast(old.name.utf8.count)) + new.name
        guard link(path, newPath) == 0 else { throw StorageError(errno == EEXIST ? .EBUSY : .EPERM, "cannot name \(new): errno \(errno)") }
        guard unlink(path) == 0 else {
            _ = unlink(newPath)
            throw StorageError(.EPERM, "cannot remove \(old): errno \(errno)")
        }
        try await store.recordSource(.rename, new, now: time, extra: .renamedFrom(old.text))
        return UploadResponse(group: store.group, remoteFilename: new.text)
    }

    /// QUERY_FILE_INFO (22): size and mtime from the file, CRC32 from the name (computed for
    /// appender and slave files unless flag 1), source from the name.
    func fileInfo(_ r: QueryFileInfoRequest) async throws -> FileInfoResponse {
        let (name, path) = try store.resolve(group: r.file.group, filename: r.file.filename, storePaths: await store.storePaths)
        let (size, mtime) = try regularFileStatus(path)
        var crc = name.block.crc32
        if name.kind == .appender || name.kind == .slave {
            if r.flags & QueryFileInfoRequest.flagNoCRC32 != 0 {
                crc = 0
            } else {
                guard let bytes = try? FileSystemCalls.readFile(path) else { throw StorageError(.EIO, "cannot read \(path)") }
                crc = CRC32.checksum(bytes)
            }
        }
        let sourceIP: String = switch name.block.source {
        case .ipv4(let a): a.description
        case .serverID: ""
        }
        return FileInfoResponse(fileSize: size, modificationTime: mtime, crc32: crc, sourceIPAddress: sourceIP, ipAddressSize: .ipv4)
    }
}

/// Size and mtime of a regular file; ENOENT when absent, EISDIR when not a regular file.
func regularFileStatus(_ path: String) throws(StorageError) -> (size: Int64, mtime: Int64) {
    var info = stat()
    guard stat(path, &info) == 0 else {
        throw StorageError(errno == ENOENT ? .ENOENT : .EIO, "stat \(path): errno \(errno)")
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw StorageError(.EISDIR, "\(path) is not a regular file") }
    return (Int64(info.st_size), Int64(info.st_mtim.tv_sec))
}

/// Bytes going into an existing appender file at a fixed offset (APPEND_FILE, MODIFY_FILE).
final class RangeWrite {
    enum Kind { case append, modify }
    let name: RemoteFilename
    let path: String
    let kind: Kind
    let offset: Int64
    let length: Int64
    var written: Int64 = 0
    var descriptor: Int32

    init(name: RemoteFilename, path: String, kind: Kind, offset: Int64, length: Int64) throws(StorageError) {
        self.name = name
        self.path = path
        self.kind = kind
        self.offset = offset
        self.length = length
        do { descriptor = try FileSystemCalls.open(path, O_WRONLY) } catch { throw StorageError(.EIO, "\(error)") }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + written))
            if n >= 0 {
                done += n
                written += Int64(n)
            } else if errno != EINTR {
                throw StorageError(.EIO, "write \(path): errno \(errno)")
            }
        }
    }

    /// Syncs when asked and returns the file's mtime (the A/M record's timestamp, §5.3).
    func finish(sync: Bool) throws(StorageError) -> Int64 {
        if sync { do { try FileSystemCalls.sync(descriptor, path: path) } catch { throw StorageError(.EIO, "\(error)") } }
        return try regularFileStatus(path).mtime
    }

    func close() {
        if descriptor >= 0 { try? FileSystemCalls.close(descriptor, path: path) }
        descriptor = -1
    }

    deinit { close() }
}

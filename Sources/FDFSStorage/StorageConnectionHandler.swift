public import FDFSClient
public import Logging
public import FDFSServerCore
import FDFSFileSystem
import FDFSModel
public import FDFSProtocol
public import FDFSStorageEngine
public import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves one client connection of a storage server (protocol spec §5). Uploads stream into
/// a temporary file and are acknowledged only after the rename and the binlog record; an
/// EINVAL reply closes the connection, as the C storage does.
///
/// Serves every client command of protocol spec §5 and the storage -> storage sync commands
/// of cluster spec §6.5 (`SyncReceiver.swift`), LIST_FILES (250) and HTTP_ENDPOINT (251),
/// our extensions;
/// CREATE_LINK (a command of trunk setups) answers EOPNOTSUPP.
public struct StorageConnectionHandler: FDFSConnectionHandler {
    let store: StorageStore
    let fileSync: FileSyncPolicy
    let now: @Sendable () -> Int64
    let stats: StorageStats
    /// What peers' syncs delivered here, for SYNC_REPORT.
    let progress: SyncReceiveProgress
    /// Numeric server id -> address (from storage_ids.conf), for QUERY_FILE_INFO's source.
    let sourceAddresses: [UInt32: String]
    /// The answer to HTTP_ENDPOINT (251, our extension): `http.server_port` and `http.domain_name`.
    let httpEndpoint: HTTPEndpointResponse
    /// Set with `cluster_secret`: the sync commands need a connection that proved it.
    let clusterGate: ClusterGate?
    /// `admin_hosts`: who may send the operator commands (RESYNC_PEER).
    let adminHosts: AllowedHosts
    /// The sync tasks' board, where RESYNC_PEER leaves its request (nil: not served).
    let syncBoard: SyncLagBoard?
    /// For events that are not about one connection (a store path taken out of service).
    let logger: Logger
    /// The scrubber's requests and progress (nil: SCRUB is not served).
    let scrub: ScrubControl?

    public init(store: StorageStore, fileSync: FileSyncPolicy = FileSyncPolicy(), now: @escaping @Sendable () -> Int64, stats: StorageStats = StorageStats(),
                progress: SyncReceiveProgress = SyncReceiveProgress(), sourceAddresses: [UInt32: String] = [:],
                httpEndpoint: HTTPEndpointResponse = HTTPEndpointResponse(port: 0), clusterGate: ClusterGate? = nil,
                adminHosts: AllowedHosts = .loopback, syncBoard: SyncLagBoard? = nil, logger: Logger = Logger(label: "fdfs.storaged"),
                scrub: ScrubControl? = nil) {
        self.logger = logger
        self.scrub = scrub
        self.clusterGate = clusterGate
        self.adminHosts = adminHosts
        self.syncBoard = syncBoard
        self.httpEndpoint = httpEndpoint
        self.store = store
        self.fileSync = fileSync
        self.now = now
        self.stats = stats
        self.progress = progress
        self.sourceAddresses = sourceAddresses
    }

    /// A streamed body being received.
    enum Incoming {
        case upload(UploadFile, UploadPlacement, any UploadRequest)
        case slave(UploadFile, RemoteFilename)
        case rangeWrite(RangeWrite)
        /// SYNC_CREATE_FILE / SYNC_UPDATE_FILE content.
        case syncFile(SyncFileWrite)
        /// The content of a `<name>-m` metadata file from a peer.
        case syncMetadata(MetadataBuffer)
        /// SYNC_APPEND_FILE / SYNC_MODIFY_FILE data and the record to write after it.
        case syncRange(RangeWrite, ReplicaRecord)
        /// Content read and dropped; then `error` is the reply (after `record`, if any).
        case discard(StorageError, ReplicaRecord?)

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            switch self {
            case .upload(let file, _, _), .slave(let file, _): try file.write(bytes)
            case .rangeWrite(let w), .syncRange(let w, _): try w.write(bytes)
            case .syncFile(let w): try w.file.write(bytes)
            case .syncMetadata(let m):
                guard Int64(m.bytes.count + bytes.count) <= StorageConnectionHandler.maxMetadataBytes else {
                    throw StorageError(.EINVAL, "metadata of \(m.file) is too large")
                }
                m.bytes.append(contentsOf: bytes)
            case .discard: break
            }
        }

        /// Whether the content goes into a temporary file that `abort` removes (a whole new
        /// file: upload, slave, sync copy), rather than into an existing file.
        var writesNewFile: Bool {
            switch self {
            case .upload, .slave, .syncFile: true
            case .rangeWrite, .syncRange, .syncMetadata, .discard: false
            }
        }

        /// Whether the content goes into a data file (counted as file writes).
        var writesFile: Bool {
            switch self {
            case .upload, .slave, .rangeWrite, .syncFile, .syncRange: true
            case .syncMetadata, .discard: false
            }
        }

        func abort() {
            switch self {
            case .upload(let file, _, _), .slave(let file, _): file.abort()
            case .rangeWrite(let w), .syncRange(let w, _): w.close()
            case .syncFile(let w): w.file.abort()
            case .syncMetadata, .discard: break
            }
        }
    }

    public func handle(_ connection: FDFSConnection) async throws {
        stats.connectionOpened(); defer { stats.connectionClosed() }
        var incoming: Incoming? = nil
        var head: (FDFSHeader, ByteBuffer)? = nil
        let sync = connection.local.object { SyncConnectionState() }
        do {
            for try await frame in connection.inbound {
                switch frame {
                case .head(let h, let body):
                    if let gate = clusterGate, !gate.admits(h.command, sync.cluster) {
                        // Refused before any of its content is read: nothing reaches the disk.
                        refuse(connection, "command \(h.command) before proving the cluster secret")
                        try await connection.reply(status: FDFSStatus.EACCES.rawValue)
                        connection.close()
                        return
                    }
                    head = (h, body)
                    stats.requested(h, fixedPartBytes: body.readableBytes)
                    sync.requestBytes = Self.syncCommands.contains(h.command) ? Int64(FDFSHeader.size) + h.bodyLength : 0
                    if sync.requestBytes > 0 { stats.syncReceiving(bytes: sync.requestBytes) }
                    incoming = nil
                    if let d = CommandRegistry.descriptor(for: h.command, role: .storage), d.streaming != nil {
                        incoming = try await beginStream(h, body)
                    }
                case .bodyPart(let part):
                    guard let current = incoming else { continue }
                    do {
                        try part.withUnsafeReadableBytes { (bytes) throws in try current.write(bytes) }
                        if current.writesFile { stats.fileWritten(success: true) }
                    } catch let error as FileSystemError where current.writesNewFile {
                        // A full (or failing) disk: nothing partial stays, the rest of the
                        // content is read and dropped, and the reply says why.
                        stats.fileWritten(success: false)
                        current.abort()
                        let full = error.errno == ENOSPC || error.errno == EDQUOT
                        connection.logger.warning(full ? "store path full: content refused with ENOSPC, the partial file removed"
                                                       : "cannot write received content: refused with EIO, the partial file removed",
                                                  metadata: ["fdfs.error": "\(error)"])
                        if !full, Self.pathFailed(error), case .upload(_, let placement, _) = current {
                            takeOutOfService(placement.storePathIndex, error)
                        }
                        incoming = .discard(StorageError(full ? .ENOSPC : .EIO, "\(error)"), nil)
                    } catch {
                        if current.writesFile { stats.fileWritten(success: false) }
                        throw error
                    }
                case .end:
                    guard let (header, body) = head else { continue }
                    head = nil
                    if header.command == StorageCommand.quit.rawValue { return }
                    let closeAfter: Bool
                    if let current = incoming {
                        incoming = nil
                        do {
                            closeAfter = try await finish(current, connection, sync)
                        } catch let error as StorageError {
                            // The whole body was consumed: only EINVAL closes, as in C.
                            current.abort()
                            try await connection.reply(status: error.status.rawValue)
                            closeAfter = error.status == .EINVAL
                        }
                    } else {
                        closeAfter = try await serve(header, body, connection, sync)
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
        if let sync = try beginSyncStream(request) { return sync }
        switch request {
        case let r as AppendFileRequest:
            let (name, path) = try await appenderFile(r.filename)
            let (size, _) = try regularFileStatus(path)
            return .rangeWrite(try opening { () throws(StorageError) in try RangeWrite(name: name, path: path, kind: .append, offset: size, length: r.appendSize) })
        case let r as ModifyFileRequest:
            let (name, path) = try await appenderFile(r.filename)
            let (size, _) = try regularFileStatus(path)
            guard r.offset <= size else { throw StorageError(.EINVAL, "offset \(r.offset) is past the end (\(size) bytes)") }
            return .rangeWrite(try opening { () throws(StorageError) in try RangeWrite(name: name, path: path, kind: .modify, offset: r.offset, length: r.modifySize) })
        case let r as UploadSlaveFileRequest:
            let (master, masterPath) = try store.resolve(group: store.group, filename: r.masterFilename, storePaths: store.storePaths)
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
            do { file = try opening { () throws(FileSystemError) in try UploadFile(directory: directory, tag: store.temporaryTag("slave"), policy: fileSync) } } catch {
                throw StorageError(.EIO, "\(error)")
            }
            return .slave(file, slave)
        default:
            let (file, placement, upload) = try beginUpload(header, body)
            return .upload(file, placement, upload)
        }
    }

    /// Opens a data file through `body`, counting the open in the statistics.
    func opening<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        do {
            let value = try body()
            stats.fileOpened(success: true)
            return value
        } catch {
            stats.fileOpened(success: false)
            throw error
        }
    }

    /// An appender file of this group named by a request without group (append, modify, truncate).
    func appenderFile(_ filename: String) async throws(StorageError) -> (RemoteFilename, String) {
        let (name, path) = try store.resolve(group: store.group, filename: filename, storePaths: store.storePaths)
        guard name.kind == .appender else { throw StorageError(.EINVAL, "\(filename) is not an appender file") }
        return (name, path)
    }

    func finish(_ incoming: Incoming, _ connection: FDFSConnection, _ sync: SyncConnectionState) async throws -> Bool {
        switch incoming {
        case .syncFile, .syncMetadata, .syncRange, .discard:
            return try await finishSync(incoming, connection, sync)
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
            let entry = store.entry(name, size: file.writtenBytes, crc32: file.crc32, created: time)
            try store.recordSource(.create, name, now: time, catalog: .upsert(entry))
            stats.succeeded(.upload, bytes: file.writtenBytes)
            try await connection.reply(UploadResponse(group: store.group, remoteFilename: name.text))
            return false
        case .rangeWrite(let w):
            defer { w.close() }
            let (size, mtime) = try w.finish(sync: fileSync.beforeReply)
            let extra = BinlogRecord.Extra.range(offsetBytes: w.offset, lengthBytes: w.length)
            try store.recordSource(w.kind == .append ? .append : .modify, w.name, now: mtime, extra: extra,
                                         catalog: .resize(fileID: w.name.text, size: size))
            stats.succeeded(w.kind == .append ? .append : .modify, bytes: w.written)
            try await connection.reply(EmptyBody())
            return false
        }
    }

    func beginUpload(_ header: FDFSHeader, _ body: ByteBuffer) throws -> (UploadFile, UploadPlacement, any UploadRequest) {
        let request = try CommandRegistry.decodeRequest(header: header, body: body, role: .storage)
        guard let upload = request as? any UploadRequest else {
            throw StorageError(.EOPNOTSUPP, "command \(header.command) is not served yet")
        }
        do {
            try NewFileName.validateExtension(upload.fileExtension)
        } catch {
            throw StorageError(.EINVAL, "\(error)")
        }
        var placement = try store.place(requestedStorePath: upload.storePathIndex)
        do {
            return (try opening { () throws(FileSystemError) in try UploadFile(directory: placement.directory, tag: placement.tag, policy: fileSync) }, placement, upload)
        } catch where Self.pathFailed(error) {
            // The store path turned read-only, failed or vanished: out of service, and the
            // file goes to another path.
            takeOutOfService(placement.storePathIndex, error)
            placement = try store.place(requestedStorePath: UploadFileRequest.anyStorePath)
            do {
                return (try opening { () throws(FileSystemError) in try UploadFile(directory: placement.directory, tag: placement.tag, policy: fileSync) }, placement, upload)
            } catch {
                throw StorageError(.EIO, "\(error)")
            }
        } catch {
            throw StorageError(.EIO, "\(error)")
        }
    }

    /// Errors that mean a store path cannot take new files any more.
    static func pathFailed(_ error: FileSystemError) -> Bool {
        [EROFS, EIO, ENOENT, ENOTDIR, EACCES].contains(error.errno)
    }

    /// Takes a store path out of service for new files, with a log line the first time.
    func takeOutOfService(_ index: Int, _ error: FileSystemError) {
        guard store.takeOutOfService(index) else { return }
        logger.error("store path \(index) cannot take new files (\(error)): out of service for uploads until the storage restarts; its files are still served while they can be read")
    }

    /// Names the received file, moves it into place, records it, replies. Returns whether the
    /// connection must close.
    func finishUpload(_ current: (UploadFile, UploadPlacement, any UploadRequest), _ connection: FDFSConnection) async throws -> Bool {
        let (name, time) = try commitUpload(current)
        try recordUpload(current, name, time: time)
        try await connection.reply(UploadResponse(group: store.group, remoteFilename: name.text))
        return false
    }

    /// Names the received file and moves it into place (a new name on a collision).
    func commitUpload(_ current: (UploadFile, UploadPlacement, any UploadRequest)) throws(StorageError) -> (RemoteFilename, Int64) {
        let (file, placement, request) = current
        let time = now()
        let kind: NewFileName.Kind = request is UploadAppenderFileRequest ? .appender : .normal(size: file.writtenBytes)
        for _ in 0..<10 {
            let candidate = try store.newName(placement, kind: kind, crc32: file.crc32, extension: request.fileExtension, now: time)
            do {
                try file.commit(as: candidate.name, modificationTime: time)
                return (candidate, time)
            } catch where error.errno == EEXIST {
                continue
            } catch {
                throw StorageError(.EIO, "\(error)")
            }
        }
        throw StorageError(.EEXIST, "no unique file name after 10 tries")
    }

    /// The binlog record and catalog row of a file `commitUpload` put in place.
    func recordUpload(_ current: (UploadFile, UploadPlacement, any UploadRequest), _ name: RemoteFilename, time: Int64) throws(StorageError) {
        let file = current.0
        let entry = store.entry(name, size: file.writtenBytes, crc32: file.crc32, created: time)
        try store.recordSource(.create, name, now: time, catalog: .upsert(entry))
        stats.succeeded(.upload, bytes: file.writtenBytes)
    }

    /// The non-streaming commands. Returns whether the connection must close (after EINVAL).
    func serve(_ header: FDFSHeader, _ body: ByteBuffer, _ connection: FDFSConnection, _ sync: SyncConnectionState) async throws -> Bool {
        do {
            let request = try CommandRegistry.decodeRequest(header: header, body: body, role: .storage)
            if let closeAfter = try await serveSync(request, connection, sync) { return closeAfter }
            switch request {
            case is ActiveTestRequest:
                try await connection.reply(EmptyBody())
            case let r as ClusterChallengeRequest:
                guard let gate = clusterGate else { throw StorageError(.EOPNOTSUPP, "no cluster_secret is set on this storage") }
                try await connection.reply(gate.challenge(r, sync.cluster))
            case let r as ClusterProofRequest:
                guard let gate = clusterGate else { throw StorageError(.EOPNOTSUPP, "no cluster_secret is set on this storage") }
                guard gate.verify(r, sync.cluster) else {
                    refuse(connection, "a wrong cluster secret")
                    try await connection.reply(status: FDFSStatus.EACCES.rawValue)
                    return true
                }
                try await connection.reply(EmptyBody())
            case let r as DownloadFileRequest:
                try await download(r, connection)
            case let r as FetchOnePathBinlogRequest: return try await exportBinlog(r, connection)
            case let r as DeleteFileRequest:
                let (name, path) = try store.resolve(group: r.file.group, filename: r.file.filename, storePaths: store.storePaths)
                try store.delete(name, path: path, now: now())
                stats.succeeded(.delete)
                try await connection.reply(EmptyBody())
            case let r as QueryFileInfoRequest:
                try await connection.reply(try await fileInfo(r))
            case let r as RegenerateAppenderFilenameRequest:
                try await connection.reply(try await regenerate(r))
            case let r as ListFilesRequest:
                try await connection.reply(try await listFiles(r))
            case is HTTPEndpointRequest:
                try await connection.reply(httpEndpoint)
            case let r as ScrubRequest:
                guard let scrub else { throw StorageError(.EOPNOTSUPP, "this storage has no scrubber") }
                if r.start {
                    guard adminHosts.allows(connection.remoteAddress) else {
                        connection.logger.warning("refused SCRUB from \(connection.remoteAddress.ipAddress ?? "?"): not in admin_hosts (storage.conf)")
                        throw StorageError(.EACCES, "not in admin_hosts")
                    }
                    scrub.request()
                }
                let p = scrub.progress
                try await connection.reply(ScrubStatusResponse(running: p.running || r.start, passes: p.passes, checked: p.checked, damaged: p.damaged,
                                                               repaired: p.repaired, unrepaired: p.unrepaired, adopted: p.adopted,
                                                               quarantined: p.quarantined))
            case let r as ResyncPeerRequest:
                guard adminHosts.allows(connection.remoteAddress) else {
                    connection.logger.warning("refused RESYNC_PEER from \(connection.remoteAddress.ipAddress ?? "?"): not in admin_hosts (storage.conf)")
                    throw StorageError(.EACCES, "not in admin_hosts")
                }
                guard let board = syncBoard, board.requestResync(r.peerID) else {
                    throw StorageError(.ENOENT, "\(r.peerID) is not a peer of this storage")
                }
                connection.logger.notice("full resync of a peer requested", metadata: ["fdfs.peer": "\(r.peerID)",
                                                                                        "fdfs.from": "\(connection.remoteAddress.ipAddress ?? "?")"])
                try await connection.reply(EmptyBody())
            case let r as SetMetadataRequest:
                try await setMetadata(r)
                stats.succeeded(.setMetadata)
                try await connection.reply(EmptyBody())
            case let r as GetMetadataRequest:
                let metadata = try await getMetadata(r)
                stats.succeeded(.getMetadata)
                try await connection.reply(metadata)
            case let r as TruncateFileRequest:
                let (name, path) = try await appenderFile(r.filename)
                let (old, _) = try regularFileStatus(path)
                guard truncate(path, off_t(r.newSize)) == 0 else { throw StorageError(.EIO, "truncate \(path): errno \(errno)") }
                try store.recordSource(.truncate, name, now: now(), extra: .sizes(oldSizeBytes: old, newSizeBytes: r.newSize),
                                             catalog: .resize(fileID: name.text, size: r.newSize))
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

    /// DOWNLOAD_FILE (14): header, then the file range by sendfile. Offset >= size is EINVAL
    /// (6.15.4+ semantics, protocol spec §5.7), except for an empty file at offset 0. Small
    /// ranges go as one packet (`smallDownload`).
    func download(_ r: DownloadFileRequest, _ connection: FDFSConnection) async throws {
        let (path, offset, count) = try downloadRange(r)
        if count <= Self.inlineDownloadBytes {
            let packet = try smallDownload(path: path, offset: offset, count: count, allocator: connection.allocator)
            do { try await connection.write(packet) } catch {
                stats.downloaded(bytes: 0, complete: false)
                throw error
            }
            stats.downloaded(bytes: count, complete: true)
            return
        }
        let fd: Int32
        do { fd = try opening { () throws(FileSystemError) in try FileSystemCalls.open(path, O_RDONLY) } } catch { throw StorageError(.EIO, "\(error)") }
        var header = connection.allocator.buffer(capacity: FDFSHeader.size)
        FDFSHeader.response(bodyLength: count).encode(into: &header)
        do {
            try await connection.write(header)
        } catch {
            try? FileSystemCalls.close(fd, path: path)
            stats.downloaded(bytes: 0, complete: false)
            throw error
        }
        // The kernel copies the range to the socket (sendfile); the connection closes the
        // descriptor when it is written. Counted once handed to the connection.
        do {
            try await connection.sendFile(descriptor: fd, offset: offset, count: count)
            stats.fileRead(success: true)
        } catch {
            stats.fileRead(success: false)
            stats.downloaded(bytes: 0, complete: false)
            throw error
        }
        stats.downloaded(bytes: count, complete: true)
    }

    /// The file and byte range a download asks for (EINVAL past the end, ENOENT when absent).
    func downloadRange(_ r: DownloadFileRequest) throws(StorageError) -> (path: String, offset: Int64, count: Int64) {
        let (_, path) = try store.resolve(group: r.group, filename: r.filename, storePaths: store.storePaths)
        let (size, _) = try regularFileStatus(path)
        // An empty file downloads as an empty body (the C storage answers EINVAL, compatibility 30).
        guard r.offset < size || (r.offset == 0 && size == 0) else {
            throw StorageError(.EINVAL, "offset \(r.offset) is at or past the end (\(size) bytes)")
        }
        let remaining = size - r.offset
        return (path, r.offset, r.count == 0 ? remaining : min(r.count, remaining))
    }

    /// The whole response packet of a download of at most `inlineDownloadBytes`, read now
    /// into the packet after the header (one write instead of a write and a sendfile).
    /// Synchronous: also the event loop's fast path (`respondImmediately`).
    func smallDownload(path: String, offset: Int64, count: Int64, allocator: ByteBufferAllocator) throws(StorageError) -> ByteBuffer {
        let fd: Int32
        do { fd = try opening { () throws(FileSystemError) in try FileSystemCalls.open(path, O_RDONLY) } } catch { throw StorageError(.EIO, "\(error)") }
        defer { try? FileSystemCalls.close(fd, path: path) }
        var packet = allocator.buffer(capacity: FDFSHeader.size + Int(count))
        FDFSHeader.response(bodyLength: count).encode(into: &packet)
        var failure: FileSystemError? = nil
        let read = packet.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(count)) { buffer in
            do throws(FileSystemError) {
                return try FileSystemCalls.readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(count)]),
                                                     offset: offset, path: path)
            } catch {
                failure = error
                return 0
            }
        }
        stats.fileRead(success: failure == nil)
        if let failure { throw StorageError(.EIO, "\(failure)") }
        guard read == Int(count) else { throw StorageError(.EIO, "\(path) shrank while it was read") }
        return packet
    }

    public var answersImmediately: Bool { true }

    /// Downloads that succeed are answered on the event loop (small ones as one packet, larger
    /// ones as the header and a sendfile), and so are deletes (`ImmediateWrites.swift`);
    /// everything else (errors included, so that an EINVAL still closes the connection) goes
    /// to `handle`.
    public func respondImmediately(to header: FDFSHeader, body: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse? {
        guard admitsImmediately(header, context) else { return nil }
        if header.command != StorageCommand.downloadFile.rawValue { return immediateDelete(header, body: body, context: context) }
        guard header.command == StorageCommand.downloadFile.rawValue,
              let r = try? CommandRegistry.decodeRequest(header: header, body: body, role: .storage) as? DownloadFileRequest,
              let (path, offset, count) = try? downloadRange(r) else { return nil }
        let response: ImmediateResponse
        if count <= Self.inlineDownloadBytes {
            guard let packet = try? smallDownload(path: path, offset: offset, count: count, allocator: context.allocator) else { return nil }
            response = ImmediateResponse(packet)
        } else {
            guard let fd = try? opening({ () throws(FileSystemError) in try FileSystemCalls.open(path, O_RDONLY) }) else { return nil }
            var packet = context.allocator.buffer(capacity: FDFSHeader.size)
            FDFSHeader.response(bodyLength: count).encode(into: &packet)
            response = ImmediateResponse(packet, file: (NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd), offset, count))
            stats.fileRead(success: true)
        }
        stats.requested(header, fixedPartBytes: body.readableBytes)
        stats.downloaded(bytes: count, complete: true)
        return response
    }

    /// Downloads up to this size are read and sent with their header in one packet; larger
    /// ones go by sendfile.
    static let inlineDownloadBytes: Int64 = 64 * 1024

    /// REGENERATE_APPENDER_FILENAME (38): the appender becomes a normal file with a new name
    /// block (now, current size, CRC of the content, this storage) and the same 7-character
    /// suffix, in the same directory (protocol spec §5.11); binlog `R new old`.
    func regenerate(_ r: RegenerateAppenderFilenameRequest) async throws -> UploadResponse {
        let (old, path) = try await appenderFile(r.filename)
        let (size, _) = try regularFileStatus(path)
        let crc: UInt32
        do { crc = try CRC32.checksum(ofFileAt: path) } catch { throw StorageError(.EIO, "\(error)") }
        let time = now()
        let block = FileNameBlock(source: store.source, createTimestamp: Int32(truncatingIfNeeded: time),
                                  sizeField: .normal(size: size, random: UInt32.random(in: 0...FileSizeField.randomMask)),
                                  crc32: crc)
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
        let entry = store.entry(new, size: size, crc32: crc, created: time)
        try store.recordSource(.rename, new, now: time, extra: .renamedFrom(old.text), catalog: .rename(from: old.text, to: entry))
        return UploadResponse(group: store.group, remoteFilename: new.text)
    }

    /// LIST_FILES (250, our extension): a page of this group's files from the catalog. The
    /// catalog is written in batches after the reply of each write, so the page is read
    /// only after every change queued so far is committed: an upload or delete answered
    /// before this request is seen by it. Another group is EINVAL (and closes, as every
    /// EINVAL does); the decoder has refused a limit outside 1...1000 already.
    func listFiles(_ r: ListFilesRequest) async throws(StorageError) -> ListFilesResponse {
        guard r.group == store.group else { throw StorageError(.EINVAL, "group \(r.group) is not this storage's group \(store.group)") }
        let entries: [CatalogEntry]
        do {
            entries = try await store.catalog.files(group: store.group.rawValue, prefix: r.prefix, after: r.after, limit: r.limit)
        } catch {
            throw StorageError(.EIO, "\(error)")
        }
        return ListFilesResponse(files: entries.map {
            ListedFile(remoteFilename: $0.fileID, size: $0.size, created: $0.created, crc32: $0.crc32, isSource: $0.isSource,
                       kind: $0.kind)
        })
    }

    /// SET_METADATA (13): the metadata lives in the catalog (no `-m` side files); the change
    /// is committed there, then recorded in the binlog (`U`), then acknowledged. Overwrite
    /// replaces the whole set (empty: removes it), merge updates and adds names.
    func setMetadata(_ r: SetMetadataRequest) async throws {
        let (name, path) = try store.resolve(group: r.group, filename: r.filename, storePaths: store.storePaths)
        let (size, mtime) = try regularFileStatus(path)
        let items = FDFSMetadata(wire: r.metadata).entries.map { CatalogMetadataItem($0.name, $0.value) }
        if r.operation == .merge && items.isEmpty { return }
        // Recorded first if the catalog does not know the file yet (a catalog not rebuilt).
        let file = store.entry(name, size: size, crc32: name.kind == .slave ? nil : name.block.crc32, created: mtime)
        do {
            try await store.catalog.commit(.setMetadata(file: file, items: items, merge: r.operation == .merge))
        } catch {
            throw StorageError(.EIO, "\(error)")
        }
        try store.recordSourceMetadata(name, now: now())
    }

    /// GET_METADATA (15): the stored entries sorted by name. A file without metadata gets an
    /// empty body (the C storage answers ENOENT, compatibility 31); a missing file ENOENT.
    func getMetadata(_ r: GetMetadataRequest) async throws -> RawBody {
        let (name, path) = try store.resolve(group: r.file.group, filename: r.file.filename, storePaths: store.storePaths)
        _ = try regularFileStatus(path)
        let items: [CatalogMetadataItem]
        do { items = try await store.catalog.metadata(of: name.text) } catch { throw StorageError(.EIO, "\(error)") }
        return RawBody(FDFSMetadata(items.map { FDFSMetadata.Entry($0.name, $0.value) }).wireBytes)
    }

    /// QUERY_FILE_INFO (22): size and mtime from the file, CRC32 from the name (computed for
    /// appender and slave files unless flag 1), source from the name (a server id resolved through
    /// storage_ids.conf, empty when unknown).
    func fileInfo(_ r: QueryFileInfoRequest) async throws -> FileInfoResponse {
        let (name, path) = try store.resolve(group: r.file.group, filename: r.file.filename, storePaths: store.storePaths)
        let (size, mtime) = try regularFileStatus(path)
        var crc = name.block.crc32
        if name.kind == .appender || name.kind == .slave {
            if r.flags & QueryFileInfoRequest.flagNoCRC32 != 0 {
                crc = 0
            } else {
                do { crc = try CRC32.checksum(ofFileAt: path) } catch { throw StorageError(.EIO, "\(error)") }
            }
        }
        let sourceIP: String = switch name.block.source {
        case .ipv4(let a): a.description
        case .serverID(let id): sourceAddresses[id] ?? ""
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

    /// Syncs when asked, sets the mtime when given (a replica keeps the source's time) and
    /// returns the file's size and mtime (the A/M record's timestamp, §5.3).
    func finish(sync: Bool, modificationTime: Int64? = nil) throws(StorageError) -> (size: Int64, mtime: Int64) {
        if sync { do { try FileSystemCalls.sync(descriptor, path: path) } catch { throw StorageError(.EIO, "\(error)") } }
        if let modificationTime {
            var times = [timespec(tv_sec: Int(modificationTime), tv_nsec: 0), timespec(tv_sec: Int(modificationTime), tv_nsec: 0)]
            _ = futimens(descriptor, &times)
        }
        return try regularFileStatus(path)
    }

    func close() {
        if descriptor >= 0 { try? FileSystemCalls.close(descriptor, path: path) }
        descriptor = -1
    }

    deinit { close() }
}

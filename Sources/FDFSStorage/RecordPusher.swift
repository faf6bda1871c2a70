import FDFSClient
import FDFSFileSystem
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A peer refused a pushed record: the session ends and the record is pushed again.
struct PushRefused: Error, CustomStringConvertible {
    var record: BinlogRecord
    var status: FDFSStatus
    var description: String { "the peer answered \(status) (\(status.meaning)) to \(record)" }
}

/// Pushes binlog records to one peer over one connection, with the commands and reply rules
/// of cluster spec §6.5: an EEXIST on create or an ENOENT on delete is success, an append the
/// peer cannot place is answered by the whole file, and a record whose file is gone here is
/// done without sending anything. Returns only when the peer confirmed the record.
struct RecordPusher {
    let link: FDFSClientConnection
    let store: StorageStore
    let group: GroupName
    let storePaths: [StorePath]
    /// How long a peer may take to answer (`network_timeout`); content adds one second per
    /// MiB. A peer that takes longer is taken for hung: the connection is closed and the
    /// record pushed again in the next session.
    let timeout: Duration
    /// Where the pushed bytes are counted (sync-out), when given.
    let stats: StorageStats?
    /// The previous create was answered EEXIST: ask QUERY_FILE_INFO before sending content.
    var lastCreateExisted = false

    init(link: FDFSClientConnection, store: StorageStore, group: GroupName, storePaths: [StorePath], timeout: Duration, stats: StorageStats? = nil) {
        self.link = link
        self.store = store
        self.group = group
        self.storePaths = storePaths
        self.timeout = timeout
        self.stats = stats
    }

    mutating func push(_ record: BinlogRecord, syncDirectory: String) async throws {
        let ts = Int32(truncatingIfNeeded: record.timestampSeconds)
        if let file = MetadataName.file(record.filename, storePathCount: storePaths.count) {
            return try await pushMetadata(record, file: file, timestamp: ts)
        }
        guard let name = try? RemoteFilename(parsing: record.filename, storePathCount: storePaths.count) else {
            // Not a name of ours (another store path count, a foreign tool): nothing to send.
            return
        }
        let path = storePaths[name.storePathIndex].absolutePath(name)
        switch (record.operation.kind, record.operation.isSource) {
        case (.create, _):
            try await pushWhole(record, name: name, path: path, create: true)
        case (.update, _):
            try await pushWhole(record, name: name, path: path, create: false)
        case (.delete, _):
            var info = stat()
            // Created again since: the newer create carries it.
            if lstat(path, &info) == 0 { return }
            try expect(record, try await call(SyncDeleteFileRequest(timestamp: ts, group: group, filename: name.text)), [.ENOENT])
        case (.append, true), (.modify, true):
            guard case .range(let offset, let length) = record.extra else { return }
            guard let file = try await open(path) else { return }
            // The file shrank since (truncated): a later record brings it to its state.
            guard file.size >= offset + length else { return }
            let request: any SyncRangeRequest = record.operation.kind == .append
                ? SyncAppendFileRequest(timestamp: ts, group: group, filename: name.text, offset: offset, length: length)
                : SyncModifyFileRequest(timestamp: ts, group: group, filename: name.text, offset: offset, length: length)
            let status = try await stream(request, file.chunks(offset: offset, length: length), length: length)
            if status == .ENOENT {
                // The peer cannot place the range (missing file, other size): send it whole.
                try await pushWhole(record, name: name, path: path, create: false)
                return
            }
            try expect(record, status, [.EEXIST])
        case (.truncate, true):
            guard case .sizes(let old, let new) = record.extra else { return }
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            let status = try await call(SyncTruncateFileRequest(timestamp: ts, group: group, filename: name.text, oldSize: old, newSize: new))
            if status == .ENOENT {
                // C retries this forever (cluster spec §10.8); the whole file settles it.
                try await pushWhole(record, name: name, path: path, create: false)
                return
            }
            try expect(record, status, [.EEXIST])
        case (.link, _):
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK, case .linkTarget(let source) = record.extra else { return }
            try expect(record, try await call(SyncCreateLinkRequest(timestamp: ts, group: group, firstName: name.text, secondName: source)), [.ENOENT])
        case (.rename, true):
            guard case .renamedFrom(let old) = record.extra else { return }
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            let status = try await call(SyncRenameFileRequest(timestamp: ts, group: group, firstName: name.text, secondName: old))
            if status == .ENOENT {
                try await pushWhole(record, name: name, path: path, create: true)
                return
            }
            try expect(record, status, [.EEXIST])
        case (.rename, false):
            // Forwarded to a new member: the file under its new name.
            try await pushWhole(record, name: name, path: path, create: true)
        case (.append, false), (.modify, false), (.truncate, false):
            // Never forwarded (§6.2); the designated source sends whole files instead.
            return
        }
    }

    // MARK: - Pipelined records

    /// A record sent without waiting for the peer's answer (or done without sending anything,
    /// `response` nil). `settle` waits for the answer and applies the reply rules of `push`.
    struct Pending {
        let record: BinlogRecord
        let response: EventLoopFuture<FDFSRawResponse>?
        let command: UInt8
        /// Statuses that confirm the record besides 0.
        let alsoDone: [FDFSStatus]
        let bytes: Int64
        let isCreate: Bool

        /// A record that needs nothing sent.
        static func done(_ record: BinlogRecord) -> Pending {
            Pending(record: record, response: nil, command: 0, alsoDone: [], bytes: 0, isCreate: false)
        }
    }

    /// Sends `record` if it is one that can be pipelined: a create whose file is small (its
    /// content goes in the request's packet) or a delete. Returns nil for every other record:
    /// the caller then settles what is in flight and calls `push`, which waits for each answer
    /// (those records may need a question first, or stream content). The packet is written
    /// without a flush when `flush` is false. Call on the connection's event loop.
    mutating func start(_ record: BinlogRecord, flush: Bool) throws -> Pending? {
        let done = Pending.done(record)
        if MetadataName.file(record.filename, storePathCount: storePaths.count) != nil { return nil }
        guard let name = try? RemoteFilename(parsing: record.filename, storePathCount: storePaths.count) else { return done }
        let path = storePaths[name.storePathIndex].absolutePath(name)
        let ts = Int32(truncatingIfNeeded: record.timestampSeconds)
        switch (record.operation.kind, record.operation.isSource) {
        case (.create, _), (.rename, false):
            guard !lastCreateExisted else { return nil }
            guard let small = try Self.readSmallFile(path, allocator: link.channel.allocator) else { return done }
            guard let content = small else { return nil }
            var packet = SyncCreateFileRequest(timestamp: ts, group: group, filename: name.text, fileSize: Int64(content.readableBytes))
                .requestPacket(allocator: link.channel.allocator)
            packet.writeImmutableBuffer(content)
            return Pending(record: record, response: link.sendPipelined(packet, flush: flush), command: SyncCreateFileRequest.command,
                           alsoDone: [.EEXIST], bytes: Int64(packet.readableBytes), isCreate: true)
        case (.delete, _):
            var info = stat()
            // Created again since: the newer create carries it.
            if lstat(path, &info) == 0 { return done }
            let packet = SyncDeleteFileRequest(timestamp: ts, group: group, filename: name.text).requestPacket(allocator: link.channel.allocator)
            return Pending(record: record, response: link.sendPipelined(packet, flush: flush), command: SyncDeleteFileRequest.command,
                           alsoDone: [.ENOENT], bytes: Int64(packet.readableBytes), isCreate: false)
        default:
            return nil
        }
    }

    /// Waits for the answer to a record `start` sent (at most `timeout`, then the connection
    /// is closed) and checks it as `push` would.
    mutating func settle(_ pending: Pending) async throws {
        guard let future = pending.response else { return }
        let link = link
        let response = try await counted(bytes: pending.bytes) {
            try await withDeadline(timeout, what: "the peer's answer to command \(pending.command)", onTimeout: { await link.close() }) {
                try await future.get()
            }
        }
        let status = FDFSStatus(response.header.status)
        try expect(pending.record, status, pending.alsoDone)
        if pending.isCreate { lastCreateExisted = status == .EEXIST }
    }

    /// SYNC_CREATE_FILE / SYNC_UPDATE_FILE with the file as it is now.
    mutating func pushWhole(_ record: BinlogRecord, name: RemoteFilename, path: String, create: Bool) async throws {
        let ts = Int32(truncatingIfNeeded: record.timestampSeconds)
        guard let file = try await openWhole(path) else { return }
        var create = create
        if create && lastCreateExisted {
            // The peer may have it already (a resent stretch): compare sizes before sending.
            let query = try await send(QueryFileInfoRequest(group: group, filename: name.text, flags: QueryFileInfoRequest.flagNoCRC32))
            switch FDFSStatus(query.header.status) {
            case .success:
                let info = try FileInfoResponse.decode(body: query.body, command: QueryFileInfoRequest.command)
                if info.fileSize == file.size {
                    let status = try await call(SyncCreateFileRequest(timestamp: ts, group: group, filename: name.text, fileSize: file.size, hasContent: false))
                    try expect(record, status, [.EEXIST])
                    return
                }
                create = false
            case .ENOENT:
                break
            case let other:
                throw PushRefused(record: record, status: other)
            }
        }
        let request: any SyncFileRequest = create
            ? SyncCreateFileRequest(timestamp: ts, group: group, filename: name.text, fileSize: file.size)
            : SyncUpdateFileRequest(timestamp: ts, group: group, filename: name.text, fileSize: file.size)
        let status: FDFSStatus
        switch file {
        case .small(let content): status = try await sendWhole(request, content)
        case .large(let content): status = try await stream(request, content.chunks(), length: content.size)
        }
        try expect(record, status, [.EEXIST])
        lastCreateExisted = status == .EEXIST
    }

    /// A `<name>-m` record: the file's metadata from the catalog, as the content of a
    /// metadata file (SYNC_UPDATE_FILE), or its removal (SYNC_DELETE_FILE).
    func pushMetadata(_ record: BinlogRecord, file: RemoteFilename, timestamp ts: Int32) async throws {
        var info = stat()
        let exists = lstat(storePaths[file.storePathIndex].absolutePath(file), &info) == 0
        switch record.operation.kind {
        case .create, .update:
            guard exists else { return }
            let items = try await store.catalog.metadata(of: file.text)
            let bytes = FDFSMetadata(items.map { FDFSMetadata.Entry($0.name, $0.value) }).wireBytes
            let request = SyncUpdateFileRequest(timestamp: ts, group: group, filename: record.filename, fileSize: Int64(bytes.count))
            try expect(record, try await stream(request, SingleBuffer(buffer: ByteBuffer(bytes: bytes)), length: Int64(bytes.count)), [.EEXIST])
        case .delete:
            try expect(record, try await call(SyncDeleteFileRequest(timestamp: ts, group: group, filename: record.filename)), [.ENOENT])
        default:
            return
        }
    }

    /// A file to push whole: small ones already read (on the sync task's event loop: a few
    /// KiB from the page cache cost less than three trips to the blocking pool), large ones
    /// streamed from the blocking pool.
    enum WholeFile {
        case small(ByteBuffer)
        case large(LocalFileContent)

        var size: Int64 {
            switch self {
            case .small(let content): Int64(content.readableBytes)
            case .large(let content): content.size
            }
        }
    }

    /// Files up to this size are read at once and pushed in one packet with their request.
    static let smallFileBytes = 64 * 1024

    /// The local file to push whole, nil when it is gone (the record is then done).
    func openWhole(_ path: String) async throws -> WholeFile? {
        guard let small = try Self.readSmallFile(path, allocator: link.channel.allocator) else { return nil }
        if let content = small { return .small(content) }
        return try await open(path).map { .large($0) }
    }

    /// nil when the file is gone; `.some(nil)` when it is larger than `smallFileBytes`.
    static func readSmallFile(_ path: String, allocator: ByteBufferAllocator) throws -> ByteBuffer?? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw FileSystemCalls.error("open", path)
        }
        defer { _ = Glibc.close(fd) }
        let size = try FileSystemCalls.fileSize(descriptor: fd, path: path)
        guard size <= Self.smallFileBytes else { return .some(nil) }
        var content = allocator.buffer(capacity: Int(size))
        var failure: FileSystemError? = nil
        content.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(size)) { target in
            do {
                return try FileSystemCalls.readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: target[0..<Int(size)]), offset: 0, path: path)
            } catch {
                failure = error as? FileSystemError ?? FileSystemError(operation: "read", path: path, errno: EIO)
                return 0
            }
        }
        if let failure { throw failure }
        // A file that changed size meanwhile is pushed as read; a later record settles it.
        return .some(content)
    }

    /// The local file, nil when it is gone (the record is then done).
    func open(_ path: String) async throws -> LocalFileContent? {
        do {
            return try await LocalFileContent.open(path)
        } catch let error as FileSystemError where error.errno == ENOENT {
            return nil
        }
    }

    func send<R: FDFSRequest>(_ request: R) async throws -> FDFSRawResponse {
        let link = link
        let packet = request.requestPacket(allocator: link.channel.allocator)
        return try await counted(bytes: Int64(packet.readableBytes)) {
            try await withDeadline(timeout, what: "the peer's answer to command \(R.command)", onTimeout: { await link.close() }) {
                try await link.send(packet)
            }
        }
    }

    /// Runs one exchange with the peer, counting its `bytes` as sync-out (success when the
    /// peer answered 0).
    func counted(bytes: Int64, _ exchange: () async throws -> FDFSRawResponse) async throws -> FDFSRawResponse {
        do {
            let response = try await exchange()
            stats?.syncSent(bytes: bytes, success: response.header.status == 0)
            return response
        } catch {
            stats?.syncSent(bytes: bytes, success: false)
            throw error
        }
    }

    func call<R: FDFSRequest>(_ request: R) async throws -> FDFSStatus {
        FDFSStatus(try await send(request).header.status)
    }

    func stream<R: FDFSStreamingRequest, C: AsyncSequence & Sendable>(_ request: R, _ content: C, length: Int64) async throws -> FDFSStatus
    where C.Element == ByteBuffer {
        let link = link
        let head = request.requestPacket(allocator: link.channel.allocator)
        let limit = timeout + .seconds(length / (1 << 20))
        let response = try await counted(bytes: Int64(head.readableBytes) + length) {
            try await withDeadline(limit, what: "sending \(length) bytes with command \(R.command)", onTimeout: { await link.close() }) {
                try await link.send(head: head, content: content, contentLength: length)
            }
        }
        return FDFSStatus(response.header.status)
    }

    /// A sync request and its whole (small) content in one packet, so one write.
    func sendWhole<R: FDFSStreamingRequest>(_ request: R, _ content: ByteBuffer) async throws -> FDFSStatus {
        let link = link
        var packet = request.requestPacket(allocator: link.channel.allocator)
        packet.writeImmutableBuffer(content)
        let response = try await counted(bytes: Int64(packet.readableBytes)) {
            try await withDeadline(timeout, what: "the peer's answer to command \(R.command)", onTimeout: { await link.close() }) {
                try await link.send(packet)
            }
        }
        return FDFSStatus(response.header.status)
    }

    /// 0 or one of `alsoDone` confirms the record; anything else ends the session.
    func expect(_ record: BinlogRecord, _ status: FDFSStatus, _ alsoDone: [FDFSStatus]) throws {
        guard status == .success || alsoDone.contains(status) else { throw PushRefused(record: record, status: status) }
    }
}

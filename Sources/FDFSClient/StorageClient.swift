public import FDFSModel
public import FDFSProtocol
public import NIOCore

/// What an upload, append or modify sends: bytes in memory, a local file (read in chunks of
/// `StorageClient.fileChunkSize`), or an asynchronous sequence of buffers whose total size is
/// known in advance. Only the in-memory forms hold the content in memory.
public struct UploadContent {
    enum Source {
        case buffer(ByteBuffer)
        case file(String)
        case stream(size: Int64, send: (FDFSClientConnection, ByteBuffer) async throws -> FDFSRawResponse)
    }

    let source: Source

    public static func bytes(_ bytes: [UInt8]) -> UploadContent { UploadContent(source: .buffer(ByteBuffer(bytes: bytes))) }
    public static func buffer(_ buffer: ByteBuffer) -> UploadContent { UploadContent(source: .buffer(buffer)) }
    /// The regular file at `path`, as large as it is when the upload starts.
    public static func file(_ path: String) -> UploadContent { UploadContent(source: .file(path)) }
    /// `size` bytes from `sequence`; another total cuts the request and throws
    /// `FDFSClientError.contentLengthMismatch`.
    public static func stream<S: AsyncSequence>(_ sequence: S, size: Int64) -> UploadContent where S.Element == ByteBuffer {
        UploadContent(source: .stream(size: size, send: { connection, head in
            try await connection.send(head: head, content: sequence, contentLength: size)
        }))
    }

    /// Runs `body` with the content's size and the call that sends a request head followed by
    /// the content.
    func withOpened<T>(_ body: (Int64, (FDFSClientConnection, ByteBuffer) async throws -> FDFSRawResponse) async throws -> T) async throws -> T {
        switch source {
        case .buffer(let buffer):
            return try await body(Int64(buffer.readableBytes)) { connection, head in
                if buffer.readableBytes <= StorageClient.fileChunkSize {
                    // Small content: head and content as one packet, one write.
                    var packet = head
                    packet.writeImmutableBuffer(buffer)
                    return try await connection.send(packet)
                }
                return try await connection.send(head: head, content: SingleBuffer(buffer: buffer), contentLength: Int64(buffer.readableBytes))
            }
        case .file(let path):
            let file = try await LocalFileReader.open(path)
            return try await body(file.size) { connection, head in
                try await connection.send(head: head, content: file.chunks(of: StorageClient.fileChunkSize), contentLength: file.size)
            }
        case .stream(let size, let send):
            guard size >= 0 else { throw FDFSClientError.invalidArgument("content size \(size) is negative") }
            return try await body(size, send)
        }
    }
}

/// The client side of every client -> storage command (protocol spec §5) over one connection.
///
/// One call at a time: FastDFS answers requests strictly in order. After an error other than
/// ENOENT/EEXIST the storage may have closed the connection (it closes after EINVAL), so
/// callers should open a new client, as the C client does (§9.3). Commands whose wire form
/// has no group (append, modify, truncate, regenerate, slave upload) send only the remote
/// filename of the `FileID` they are given.
public struct StorageClient: Sendable {
    /// Chunk size of uploads from a local file.
    public static let fileChunkSize = 256 * 1024

    public let connection: FDFSClientConnection

    public init(connection: FDFSClientConnection) { self.connection = connection }

    /// Connects to the storage at `host:port`, from `bindAddress` when given.
    public static func connect(host: String, port: Int, bindAddress: String? = nil,
                               connectTimeout: TimeAmount = .seconds(10)) async throws -> StorageClient {
        StorageClient(connection: try await FDFSClientConnection.connect(host: host, port: port, bindAddress: bindAddress,
                                                                         connectTimeout: connectTimeout))
    }

    // MARK: Uploads

    /// UPLOAD_FILE (11). `storePathIndex` -1 lets the storage choose (otherwise the index
    /// QUERY_STORE returned).
    public func uploadFile(_ content: UploadContent, fileExtension: String = "",
                           storePathIndex: Int8 = UploadFileRequest.anyStorePath) async throws -> UploadResponse {
        try Self.checkExtension(fileExtension)
        return try await send(content) { UploadFileRequest(storePathIndex: storePathIndex, fileSize: $0, fileExtension: fileExtension) }
    }

    /// UPLOAD_APPENDER_FILE (23): a file that append, modify and truncate can change later.
    public func uploadAppenderFile(_ content: UploadContent, fileExtension: String = "",
                                   storePathIndex: Int8 = UploadFileRequest.anyStorePath) async throws -> UploadResponse {
        try Self.checkExtension(fileExtension)
        return try await send(content) { UploadAppenderFileRequest(storePathIndex: storePathIndex, fileSize: $0, fileExtension: fileExtension) }
    }

    /// UPLOAD_SLAVE_FILE (21): a file named after `master` (on this storage) with `prefix` and
    /// `fileExtension` (see `RemoteFilename.slaveName(prefix:extension:)`).
    public func uploadSlaveFile(_ content: UploadContent, master: FileID, prefix: String, fileExtension: String = "") async throws -> UploadResponse {
        _ = try master.remoteFilename.slaveName(prefix: prefix, extension: fileExtension)  // validates prefix and extension
        return try await send(content) {
            UploadSlaveFileRequest(masterFilename: master.remoteFilename.text, fileSize: $0, prefix: prefix, fileExtension: fileExtension)
        }
    }

    // MARK: Appender files

    /// APPEND_FILE (24): adds `content` at the end of an appender file. (An empty append is
    /// sent too: the C storage echoes the request, which this client accepts.)
    public func appendFile(_ file: FileID, _ content: UploadContent) async throws {
        _ = try await send(content) { AppendFileRequest(filename: file.remoteFilename.text, appendSize: $0) }
    }

    /// MODIFY_FILE (34): writes `content` at `offset` (0...current size) of an appender file.
    public func modifyFile(_ file: FileID, at offset: Int64, _ content: UploadContent) async throws {
        guard offset >= 0 else { throw FDFSClientError.invalidArgument("offset \(offset) is negative") }
        _ = try await send(content) { ModifyFileRequest(filename: file.remoteFilename.text, offset: offset, modifySize: $0) }
    }

    /// TRUNCATE_FILE (36): sets an appender file's size (a larger size extends it with zeros).
    public func truncateFile(_ file: FileID, to size: Int64 = 0) async throws {
        guard size >= 0 else { throw FDFSClientError.invalidArgument("size \(size) is negative") }
        _ = try await connection.request(TruncateFileRequest(filename: file.remoteFilename.text, newSize: size))
    }

    /// REGENERATE_APPENDER_FILENAME (38): the appender file becomes a normal file with a new
    /// name, which is returned.
    public func regenerateAppenderFilename(_ file: FileID) async throws -> UploadResponse {
        try await connection.request(RegenerateAppenderFilenameRequest(filename: file.remoteFilename.text))
    }

    // MARK: Files

    /// DELETE_FILE (12).
    public func deleteFile(_ file: FileID) async throws {
        _ = try await connection.request(DeleteFileRequest(group: file.group, filename: file.remoteFilename.text))
    }

    /// QUERY_FILE_INFO (22). Without `computeCRC32` the storage does not read appender and
    /// slave files to compute their CRC32 (and returns 0 for it).
    public func queryFileInfo(_ file: FileID, computeCRC32: Bool = true) async throws -> FileInfoResponse {
        let flags = computeCRC32 ? 0 : QueryFileInfoRequest.flagNoCRC32
        return try await connection.request(QueryFileInfoRequest(group: file.group, filename: file.remoteFilename.text, flags: flags))
    }

    /// Whether the file exists (QUERY_FILE_INFO with the flags of the C "file exists" helper).
    public func fileExists(_ file: FileID) async throws -> Bool {
        let flags = QueryFileInfoRequest.flagNoCRC32 | QueryFileInfoRequest.flagKeepSilent
        do {
            _ = try await connection.request(QueryFileInfoRequest(group: file.group, filename: file.remoteFilename.text, flags: flags))
            return true
        } catch FDFSClientError.status(.ENOENT) {
            return false
        }
    }

    // MARK: Listing

    /// HTTP_ENDPOINT (251, a swift-fdfs extension): the storage's HTTP port (0: none) and
    /// `http.domain_name`. A C storage answers EINVAL and closes: `FDFSClientError.status(.EINVAL)`.
    public func httpEndpoint() async throws -> HTTPEndpointResponse {
        try await connection.request(HTTPEndpointRequest())
    }

    /// RESYNC_PEER (254, a swift-fdfs extension): this storage pushes every file it holds to
    /// `peer` again. EACCES from outside its `admin_hosts`, ENOENT when `peer` is not its peer.
    public func resyncPeer(_ peer: StorageID) async throws {
        _ = try await connection.request(ResyncPeerRequest(peerID: peer))
    }

    /// SCRUB (255, a swift-fdfs extension): starts a scrub pass (`start`; EACCES from outside
    /// the storage's `admin_hosts`) and returns the scrubber's progress.
    public func scrub(start: Bool) async throws -> ScrubStatusResponse {
        try await connection.request(ScrubRequest(start: start))
    }

    /// LIST_FILES (250, a swift-fdfs extension): up to `limit` (1...1000) files of `group` on
    /// this storage whose remote filename starts with `prefix` and sorts after `after`, in
    /// byte order. A C storage does not know the command: it answers EINVAL and closes, which
    /// throws `FDFSClientError.status(.EINVAL)` (as does a group this storage does not hold).
    public func listFiles(group: GroupName, prefix: String = "", after: String = "",
                          limit: Int = ListFilesRequest.maxLimit) async throws -> [ListedFile] {
        guard (1...ListFilesRequest.maxLimit).contains(limit) else {
            throw FDFSClientError.invalidArgument("limit \(limit) is outside 1...\(ListFilesRequest.maxLimit)")
        }
        try Self.checkListedName(prefix, "prefix")
        try Self.checkListedName(after, "after")
        return try await connection.request(ListFilesRequest(group: group, limit: limit, prefix: prefix, after: after)).files
    }

    /// Every file of `group` on this storage whose remote filename starts with `prefix`, in
    /// pages of `pageSize` passed to `body` in order; each file comes exactly once (files
    /// created meanwhile are listed when they sort after the current page). Stops after the
    /// first page shorter than `pageSize`.
    public func listAllFiles(group: GroupName, prefix: String = "", pageSize: Int = ListFilesRequest.maxLimit,
                             _ body: ([ListedFile]) async throws -> Void) async throws {
        var after = ""
        while true {
            let page = try await listFiles(group: group, prefix: prefix, after: after, limit: pageSize)
            if !page.isEmpty { try await body(page) }
            guard page.count == pageSize, let last = page.last else { return }
            after = last.remoteFilename
        }
    }

    // MARK: Downloads

    /// DOWNLOAD_FILE (14): `length` bytes from `offset` (`length` 0: to the end) passed to
    /// `consume` in parts as they arrive; reading pauses while `consume` is behind. Returns
    /// the number of bytes. An offset at or past the end is EINVAL (the storage then closes),
    /// except offset 0 of an empty file, which our storage sends as no bytes (a C storage
    /// answers EINVAL there, docs/compatibility.md item 30).
    @discardableResult
    public func downloadFile(_ file: FileID, offset: Int64 = 0, length: Int64 = 0,
                             consumingChunks consume: (ByteBuffer) async throws -> Void) async throws -> Int64 {
        guard offset >= 0, length >= 0 else { throw FDFSClientError.invalidArgument("offset \(offset) and length \(length) must not be negative") }
        let request = DownloadFileRequest(offset: offset, count: length, group: file.group, filename: file.remoteFilename.text)
        return try await connection.request(request, streamingResponseTo: consume)
    }

    /// DOWNLOAD_FILE into memory.
    public func downloadFile(_ file: FileID, offset: Int64 = 0, length: Int64 = 0) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        try await downloadFile(file, offset: offset, length: length) { part in bytes += part.readableBytesView }
        return bytes
    }

    /// DOWNLOAD_FILE into the local file at `path`, replaced only when the download is
    /// complete (it is written to a temporary file next to it first). On failure the
    /// temporary file is removed and nothing else is touched. Returns the number of bytes.
    @discardableResult
    public func downloadFile(_ file: FileID, offset: Int64 = 0, length: Int64 = 0, toPath path: String) async throws -> Int64 {
        let writer = try await LocalFileWriter.create(path)
        let count: Int64
        do {
            var pending: [ByteBuffer] = []
            var pendingBytes = 0
            count = try await downloadFile(file, offset: offset, length: length) { part in
                pending.append(part)
                pendingBytes += part.readableBytes
                if pendingBytes >= Self.fileChunkSize {
                    try await writer.write(pending)
                    pending.removeAll(keepingCapacity: true)
                    pendingBytes = 0
                }
            }
            try await writer.write(pending)
        } catch {
            await writer.discard()
            throw error
        }
        try await writer.commit()
        return count
    }

    // MARK: Metadata

    /// SET_METADATA (13): `.overwrite` replaces all metadata (an empty set deletes it),
    /// `.merge` sets the given names and keeps the others.
    public func setMetadata(_ file: FileID, _ metadata: FDFSMetadata, operation: SetMetadataRequest.Operation = .overwrite) async throws {
        guard metadata.isWireSafe else {
            throw FDFSClientError.invalidArgument("metadata names must be non-empty and names and values must not contain bytes 0x00-0x02")
        }
        _ = try await connection.request(SetMetadataRequest(group: file.group, filename: file.remoteFilename.text,
                                                            operation: operation, metadata: metadata.wireBytes))
    }

    /// GET_METADATA (15), sorted by name as stored. A file without metadata is ENOENT, like a
    /// missing file (spec §5.9).
    public func getMetadata(_ file: FileID) async throws -> FDFSMetadata {
        FDFSMetadata(wire: try await connection.request(GetMetadataRequest(group: file.group, filename: file.remoteFilename.text)).bytes)
    }

    // MARK: Connection

    /// ACTIVE_TEST (111).
    public func activeTest() async throws {
        _ = try await connection.request(ActiveTestRequest())
    }

    /// QUIT (82): no reply; the storage closes the connection, and so does this client.
    public func quit() async throws {
        do {
            try await connection.sendWithoutResponse(QuitRequest().requestPacket(allocator: connection.channel.allocator))
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
    }

    public func close() async {
        await connection.close()
    }

    // MARK: -

    private func send<R: FDFSStreamingRequest>(_ content: UploadContent, _ makeRequest: (Int64) -> R) async throws -> R.Response {
        try await content.withOpened { size, send in
            let head = makeRequest(size).requestPacket(allocator: connection.channel.allocator)
            return try FDFSClientConnection.decode(R.self, try await send(connection, head))
        }
    }

    static func checkListedName(_ text: String, _ what: String) throws {
        guard ListFilesRequest.isListableName(text.utf8) else {
            throw FDFSClientError.invalidArgument("\(what) '\(text)' must be 0...\(ListFilesRequest.maxNameBytes) characters of A-Z a-z 0-9 . _ - /")
        }
    }

    static func checkExtension(_ ext: String) throws(FileIDError) {
        let bytes = Array(ext.utf8)
        guard bytes.count <= FileNameSuffix.maxExtensionLength, bytes.allSatisfy(ASCII.isFileNameCharacter) else {
            throw .invalidExtension(ext)
        }
    }
}

extension UploadResponse {
    /// The new file's id (`group/remote filename`), validated.
    public func fileID() throws(FileIDError) -> FileID {
        FileID(group: group, remoteFilename: try RemoteFilename(parsing: remoteFilename))
    }
}

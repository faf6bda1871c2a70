public import FDFSConfig
public import FDFSModel
public import FDFSProtocol
public import NIOCore
import NIOPosix

/// The whole-cluster client: asks a tracker where a file goes or lives, then talks to that
/// storage, over pooled connections. Trackers are tried in `tracker_server` order starting
/// with the last one that answered; a tracker that cannot be reached or stops answering is
/// skipped for the next (failover). Storage answers with a non-zero status are thrown as
/// `FDFSClientError.status`, unreachable servers as `ServerUnavailableError`, and a failure
/// of every tracker as `NoTrackerAvailableError`.
public final class FDFSClient: Sendable {
    public let trackers: [ServerAddress]
    public let pool: ConnectionPool
    private let cursor = TrackerCursor()

    public init(trackers: [ServerAddress], settings: ConnectionSettings = ConnectionSettings()) {
        precondition(!trackers.isEmpty, "at least one tracker")
        self.trackers = trackers
        self.pool = ConnectionPool(settings: settings)
    }

    /// From client.conf: its trackers, `connect_timeout`, `network_timeout` and
    /// `connection_pool_max_idle_time`.
    public convenience init(configuration: ClientConfiguration) {
        var settings = ConnectionSettings()
        settings.connectTimeout = .seconds(Int64(configuration.connectTimeoutSeconds))
        settings.networkTimeout = .seconds(Int64(configuration.networkTimeoutSeconds))
        settings.maxIdleTime = .seconds(Int64(configuration.connectionPool.maxIdleTimeSeconds))
        self.init(trackers: configuration.trackerServers, settings: settings)
    }

    /// Closes the pooled connections.
    public func close() async { await pool.closeAll() }

    // MARK: Servers

    /// Runs `body` against a tracker; on `ServerUnavailableError` the next tracker is tried.
    public func withTracker<T: Sendable>(_ body: (TrackerClient) async throws -> T) async throws -> T {
        let start = await cursor.index
        var failures: [ServerUnavailableError] = []
        for step in 0..<trackers.count {
            let index = (start + step) % trackers.count
            for host in trackers[index].hosts {
                do {
                    let result = try await pool.withConnection(role: .tracker, host: host, port: trackers[index].port) { connection in
                        try await body(TrackerClient(connection: connection))
                    }
                    if step > 0 { await cursor.set(index) }
                    return result
                } catch let unavailable as ServerUnavailableError {
                    failures.append(unavailable)
                }
            }
        }
        throw NoTrackerAvailableError(failures: failures)
    }

    /// Runs `body` once against each configured tracker (not failing over): what each said.
    public func onEveryTracker<T: Sendable>(_ body: (TrackerClient) async throws -> T) async -> [(tracker: ServerAddress, result: Result<T, any Error>)] {
        var results: [(tracker: ServerAddress, result: Result<T, any Error>)] = []
        for tracker in trackers {
            var outcome: Result<T, any Error> = .failure(NoTrackerAvailableError(failures: []))
            for host in tracker.hosts {
                do {
                    outcome = .success(try await pool.withConnection(role: .tracker, host: host, port: tracker.port) { connection in
                        try await body(TrackerClient(connection: connection))
                    })
                    break
                } catch {
                    outcome = .failure(error)
                    if !(error is ServerUnavailableError) { break }
                }
            }
            results.append((tracker, outcome))
        }
        return results
    }

    /// Runs `body` against the storage at `endpoint`.
    /// `http://host:port` where the storage at `endpoint` serves its files, nil when it
    /// serves no HTTP, is a C storage (which does not know HTTP_ENDPOINT) or cannot be asked.
    public func httpBaseURL(of endpoint: StorageEndpoint) async -> String? {
        let answer = try? await withStorage(endpoint) { try await $0.httpEndpoint() }
        return answer?.baseURL(storageIP: endpoint.ipAddress)
    }

    public func withStorage<T: Sendable>(_ endpoint: StorageEndpoint, _ body: (StorageClient) async throws -> T) async throws -> T {
        try await pool.withConnection(role: .storage, host: endpoint.ipAddress, port: Int(endpoint.port)) { connection in
            try await body(StorageClient(connection: connection))
        }
    }

    /// Runs `body` against the storages in turn until one answers (is reachable); a status
    /// answer is final.
    func withFirstReachable<T: Sendable>(_ endpoints: [StorageEndpoint], _ body: (StorageClient) async throws -> T) async throws -> T {
        var lastFailure: (any Error)?
        for endpoint in endpoints {
            do {
                return try await withStorage(endpoint, body)
            } catch let unavailable as ServerUnavailableError {
                lastFailure = unavailable
            }
        }
        throw lastFailure ?? FDFSClientError.status(.ENOENT)
    }

    // MARK: Uploads

    /// Uploads `content` to a storage the tracker chooses (in `group` when given) and sets
    /// `metadata` on it when not empty. Returns the new file's id.
    public func upload(_ content: UploadContent, fileExtension: String = "", group: GroupName? = nil, appender: Bool = false,
                       metadata: FDFSMetadata = FDFSMetadata()) async throws -> FileID {
        try StorageClient.checkExtension(fileExtension)
        let target = try await withTracker { try await $0.queryStore(group: group) }
        let storePath = Int8(bitPattern: target.storePathIndex)
        return try await withStorage(target.storage) { storage in
            let response = appender
                ? try await storage.uploadAppenderFile(content, fileExtension: fileExtension, storePathIndex: storePath)
                : try await storage.uploadFile(content, fileExtension: fileExtension, storePathIndex: storePath)
            let id = try response.fileID()
            if !metadata.entries.isEmpty { try await storage.setMetadata(id, metadata) }
            return id
        }
    }

    /// Uploads a slave file of `master` (to the master's source storage).
    public func uploadSlave(_ content: UploadContent, master: FileID, prefix: String, fileExtension: String = "") async throws -> FileID {
        try await onSource(of: master) { try await $0.uploadSlaveFile(content, master: master, prefix: prefix, fileExtension: fileExtension).fileID() }
    }

    public func append(_ file: FileID, _ content: UploadContent) async throws {
        try await onSource(of: file) { try await $0.appendFile(file, content) }
    }

    public func modify(_ file: FileID, at offset: Int64, _ content: UploadContent) async throws {
        try await onSource(of: file) { try await $0.modifyFile(file, at: offset, content) }
    }

    public func truncate(_ file: FileID, to size: Int64) async throws {
        try await onSource(of: file) { try await $0.truncateFile(file, to: size) }
    }

    public func delete(_ file: FileID) async throws {
        try await onSource(of: file) { try await $0.deleteFile(file) }
    }

    public func setMetadata(_ file: FileID, _ metadata: FDFSMetadata, operation: SetMetadataRequest.Operation = .overwrite) async throws {
        try await onSource(of: file) { try await $0.setMetadata(file, metadata, operation: operation) }
    }

    // MARK: Reads

    /// What a storage that has the file says about it (QUERY_FILE_INFO).
    public func fileInfo(_ file: FileID) async throws -> FileInfoResponse {
        try await onReader(of: file) { try await $0.queryFileInfo(file) }
    }

    public func getMetadata(_ file: FileID) async throws -> FDFSMetadata {
        try await onReader(of: file) { try await $0.getMetadata(file) }
    }

    /// Downloads `length` bytes (0: to the end) from `offset` to `consume`, from the first
    /// reachable storage that has the file.
    @discardableResult
    public func download(_ file: FileID, offset: Int64 = 0, length: Int64 = 0,
                         consumingChunks consume: (ByteBuffer) async throws -> Void) async throws -> Int64 {
        try await onReader(of: file) { try await $0.downloadFile(file, offset: offset, length: length, consumingChunks: consume) }
    }

    /// Downloads `length` bytes (0: to the end) from `offset` into the local file at `path`,
    /// replaced only when complete (see `StorageClient.downloadFile(_:offset:length:toPath:)`).
    @discardableResult
    public func download(_ file: FileID, offset: Int64, length: Int64, toPath path: String) async throws -> Int64 {
        try await onReader(of: file) { try await $0.downloadFile(file, offset: offset, length: length, toPath: path) }
    }

    /// The storages that have `file`, per the tracker (QUERY_FETCH_ALL).
    public func storages(having file: FileID) async throws -> [StorageEndpoint] {
        try await withTracker { try await $0.queryFetchAll(file) }.storages
    }

    /// Downloads the whole file to `path` through `path + ".fdfs-part"`, which is renamed to
    /// `path` when complete. With `resume`, a part file left by an interrupted download is
    /// continued from its size instead of starting over. `progress` gets (bytes in the part
    /// file, file size) after every chunk.
    @discardableResult
    public func download(_ file: FileID, toPath path: String, resume: Bool = true,
                         progress: (Int64, Int64) -> Void = { _, _ in }) async throws -> DownloadResult {
        let partPath = path + Self.partSuffix
        return try await onReader(of: file) { storage in
            let size = try await storage.queryFileInfo(file, computeCRC32: false).fileSize
            let part = try await LocalFileAppender.open(partPath, restart: !resume, maxSize: size)
            let resumedFrom = part.size
            var written = part.size
            progress(written, size)
            do {
                if written < size {
                    var pending: [ByteBuffer] = []
                    var pendingBytes = 0
                    try await storage.downloadFile(file, offset: written, length: size - written) { chunk in
                        pending.append(chunk)
                        pendingBytes += chunk.readableBytes
                        if pendingBytes >= StorageClient.fileChunkSize {
                            try await part.write(pending)
                            written += Int64(pendingBytes)
                            pending.removeAll(keepingCapacity: true)
                            pendingBytes = 0
                            progress(written, size)
                        }
                    }
                    try await part.write(pending)
                    written += Int64(pendingBytes)
                    progress(written, size)
                }
                try await part.finish(renamingTo: path, expectedSize: size)
            } catch {
                await part.close()
                throw error
            }
            return DownloadResult(bytes: size, resumedFrom: resumedFrom)
        }
    }

    /// The suffix of an unfinished download's file.
    public static let partSuffix = ".fdfs-part"

    public struct DownloadResult: Sendable, Hashable {
        /// The file's size (what the destination holds now).
        public var bytes: Int64
        /// Bytes that were already in the part file.
        public var resumedFrom: Int64
    }

    // MARK: -

    /// On the storage the tracker names for changes of `file` (QUERY_UPDATE: its source).
    func onSource<T: Sendable>(of file: FileID, _ body: (StorageClient) async throws -> T) async throws -> T {
        let target = try await withTracker { try await $0.queryUpdate(file) }
        return try await withFirstReachable(target.storages, body)
    }

    /// On a storage the tracker says has `file` (QUERY_FETCH_ALL), the first that is reachable.
    func onReader<T: Sendable>(of file: FileID, _ body: (StorageClient) async throws -> T) async throws -> T {
        let target = try await withTracker { try await $0.queryFetchAll(file) }
        return try await withFirstReachable(target.storages, body)
    }
}

/// Runs `body` with a client for the cluster of `configuration`, closing its connections after.
public func withFDFSClient<T: Sendable>(configuration: ClientConfiguration, _ body: (FDFSClient) async throws -> T) async throws -> T {
    let client = FDFSClient(configuration: configuration)
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

/// No configured tracker could be reached (each failure in `tracker_server` order).
public struct NoTrackerAvailableError: Error, Sendable, CustomStringConvertible {
    public var failures: [ServerUnavailableError]
    public init(failures: [ServerUnavailableError]) { self.failures = failures }
    public var description: String {
        failures.isEmpty ? "no tracker could be reached" : failures.map(\.description).joined(separator: "; ")
    }
}

/// The tracker that answered last, tried first next time.
actor TrackerCursor {
    var index = 0
    func set(_ i: Int) { index = i }
}

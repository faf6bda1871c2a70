public import FDFSClient
import FDFSFileSystem
public import FDFSModel
import FDFSProtocol
public import FDFSStorageEngine
public import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state files of one store path's recovery, in `<store_path>/data/` (cluster spec §7.3):
/// `.recovery.flag`, `.binlog.recovery.0` and `.recovery.mark.0`.
public struct RecoveryFiles: Sendable, Hashable {
    public static let flagName = ".recovery.flag"
    public static let binlogName = ".binlog.recovery.0"
    public static let markName = ".recovery.mark.0"

    public let dataPath: String
    public init(storePath: StorePath) { dataPath = storePath.dataPath }

    public var flagPath: String { dataPath + "/" + Self.flagName }
    public var binlogPath: String { dataPath + "/" + Self.binlogName }
    public var markPath: String { dataPath + "/" + Self.markName }

    /// `.recovery.flag`: `saved_storage_status`, `fetch_binlog_done`, `recovery_threads`.
    public struct Flag: Hashable, Sendable {
        public var savedStatus: StorageStatus
        public var fetchBinlogDone: Bool
        public var recoveryThreads: Int

        public init(savedStatus: StorageStatus, fetchBinlogDone: Bool, recoveryThreads: Int = 1) {
            self.savedStatus = savedStatus
            self.fetchBinlogDone = fetchBinlogDone
            self.recoveryThreads = recoveryThreads
        }

        public func format() -> String {
            KeyValueFile.format([("saved_storage_status", "\(savedStatus.rawValue)"), ("fetch_binlog_done", fetchBinlogDone ? "1" : "0"),
                                 ("recovery_threads", "\(recoveryThreads)")])
        }

        public init(parsing text: String, path: String) throws(StateFileError) {
            let file = try KeyValueFile(parsing: text, path: path)
            savedStatus = StorageStatus(rawValue: Int8(truncatingIfNeeded: try file.int64("saved_storage_status", default: 0)))
            fetchBinlogDone = try file.integerFlag("fetch_binlog_done") ?? false
            recoveryThreads = try file.int("recovery_threads", in: 1...256) ?? 1
        }
    }

    /// The flag, or nil when there is no recovery in progress.
    public func loadFlag() throws(StateFileError) -> Flag? {
        guard let text = try StateFileIO.read(path: flagPath) else { return nil }
        return try Flag(parsing: text, path: flagPath)
    }

    public func saveFlag(_ flag: Flag) throws(StateFileError) { try StateFileIO.write(flag.format(), path: flagPath) }

    /// `binlog_offset` of `.recovery.mark.0` (0 when the mark is missing).
    public func loadMark() throws(StateFileError) -> Int64 {
        guard let text = try StateFileIO.read(path: markPath) else { return 0 }
        return try KeyValueFile(parsing: text, path: markPath).int64("binlog_offset", default: 0)
    }

    public func saveMark(_ offset: Int64) throws(StateFileError) {
        try StateFileIO.write(KeyValueFile.format([("binlog_offset", "\(offset)")]), path: markPath)
    }

    /// The binlog fetched from the `n`th peer, merged into ``binlogPath`` once all are in.
    public func peerBinlogPath(_ n: Int) -> String { binlogPath + ".from\(n)" }

    /// Removes the three files and any peer binlog left (the recovery is over).
    public func removeAll() {
        removePeerBinlogs()
        for path in [binlogPath, markPath, flagPath] { _ = unlink(path) }
    }

    /// Removes the peers' binlogs (merged, or left by a start killed while fetching them).
    public func removePeerBinlogs() {
        let prefix = Self.binlogName + ".from"
        for name in FileSystemCalls.entries(of: dataPath) where name.hasPrefix(prefix) { _ = unlink(dataPath + "/" + name) }
    }
}

/// Why disk recovery cannot go on; the message says what to do.
public struct DiskRecoveryError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Disk recovery (cluster spec §7.6): a store path that was wiped (its data directories had to
/// be created at this start) of a storage that is not new (`sync_old_done=1`) gets its files
/// back from an ACTIVE peer of the group before this storage serves or joins.
///
/// Prepare: write `.recovery.flag` and an empty `.binlog.recovery.0`; find the status the
/// trackers had for us (GET_STATUS, nothing to recover when none knows us or the status is
/// INIT, IP_CHANGED or DELETED); choose an ACTIVE readable peer (LIST_ONE_GROUP,
/// LIST_STORAGE); REPORT_STATUS(RECOVERY); fetch the peer's binlog of that store path
/// (FETCH_ONE_PATH_BINLOG, ``BinlogExport``) into `.binlog.recovery.0`; flag
/// `fetch_binlog_done=1` with the saved status.
///
/// Restore: replay `.binlog.recovery.0` from `.recovery.mark.0`: each create is downloaded
/// (DOWNLOAD_FILE into a temporary name, renamed into place, mtime set to the record's time)
/// with its metadata (GET_METADATA into the catalog) and gets a catalog row; a file the peer
/// no longer has is counted and skipped; links become symbolic links. The mark is rewritten
/// every ``markInterval`` records (after the catalog rows of those records are committed) and
/// at the end. Then REPORT_STATUS(saved status) and the recovery files are deleted. A restart
/// resumes from the mark whenever `.recovery.flag` exists.
///
/// The creates of each window of 64 records are downloaded 8 at a time, each on a connection
/// of its own, then the window's links in order; the mark moves past whole windows
/// (`disk_recovery_threads` is not used; the flag records `recovery_threads=1`, the number of
/// recovery binlogs).
public struct DiskRecovery: Sendable {
    public typealias Tracker = (host: String, port: Int)

    /// Records between two rewrites of `.recovery.mark.0`.
    public static let markInterval = 1000
    /// Attempts for one record before the restore gives up (the source is chosen again between).
    static let recordAttempts = 3

    public let group: GroupName
    public let ownIP: String
    public let port: Int
    public let serverID: StorageID?
    /// The source field of names this storage creates: a recovered name with it was uploaded here.
    public let ownSource: FileSource
    public let trackers: [Tracker]
    public let bindAddress: String?
    public let paths: StorePaths
    public let catalogPath: String
    /// `network_timeout`; the binlog fetch may take max(this, 600 s).
    public let networkTimeoutSeconds: Int
    public let logger: Logger
    /// Pause between two rounds of questions to the trackers.
    public var retryInterval: Duration = .seconds(1)
    /// `cluster_secret`, proven to trackers and to the source peer.
    public var clusterSecrets: ClusterSecrets?

    public init(group: GroupName, ownIP: String, port: Int, serverID: StorageID?, ownSource: FileSource, trackers: [Tracker],
                bindAddress: String?, paths: StorePaths, catalogPath: String, networkTimeoutSeconds: Int, logger: Logger) {
        self.group = group
        self.ownIP = ownIP
        self.port = port
        self.serverID = serverID
        self.ownSource = ownSource
        self.trackers = trackers
        self.bindAddress = bindAddress
        self.paths = paths
        self.catalogPath = catalogPath
        self.networkTimeoutSeconds = networkTimeoutSeconds
        self.logger = logger
    }

    /// A peer to copy from.
    struct Source: Sendable, CustomStringConvertible {
        var id: String
        var ip: String
        var port: Int
        var description: String { "\(id) (\(ip):\(port))" }
    }

    /// Counts of one restore, for the log.
    struct RestoreCounts: CustomStringConvertible {
        var records = 0
        var downloaded = 0
        var skippedMissing = 0
        /// Files the slot's first source lacked, downloaded from another.
        var fromOtherPeer = 0
        var links = 0
        var bytes: Int64 = 0
        var description: String {
            "\(records) records, \(downloaded) files downloaded (\(fromOtherPeer) from another source than the first), \(skippedMissing) skipped (gone at every source), "
                + "\(links) links, \(bytes) bytes"
        }
    }

    /// Recovers every store path that needs it: `justCreated` are the paths whose directories
    /// were created at this start, `syncOldDone` is `.data_init_flag`'s. Paths with a
    /// `.recovery.flag` resume. Throws when a restore cannot finish (the flag stays; the next
    /// start resumes).
    public func run(justCreated: [Int], syncOldDone: Bool) async throws {
        for index in paths.paths.indices {
            let files = RecoveryFiles(storePath: paths.paths[index])
            var flag = try files.loadFlag()
            if flag == nil {
                guard justCreated.contains(index), syncOldDone else { continue }
                logger.info("store path was wiped: recovering its files from a peer", metadata: ["fdfs.store_path": "\(index)"])
            } else {
                logger.info("resuming the disk recovery of the store path", metadata: ["fdfs.store_path": "\(index)"])
            }
            if flag?.fetchBinlogDone != true {
                flag = try await prepare(index, files)
            }
            guard let flag else { continue }
            try await restore(index, files, flag)
        }
    }

    // MARK: Prepare

    /// Prepare steps 1-6; nil when there is nothing to recover (the files are removed).
    func prepare(_ index: Int, _ files: RecoveryFiles) async throws -> RecoveryFiles.Flag? {
        try files.saveFlag(RecoveryFiles.Flag(savedStatus: .initial, fetchBinlogDone: false))
        try StateFileIO.write("", path: files.binlogPath)
        guard let saved = try await previousStatus(), ![StorageStatus.initial, .ipChanged, .deleted].contains(saved) else {
            logger.info("no tracker knows this storage as a member with data: nothing to recover", metadata: ["fdfs.store_path": "\(index)"])
            files.removeAll()
            return nil
        }
        guard let sources = try await chooseSources(index) else {
            files.removeAll()
            return nil
        }
        try await reportStatus(.recovery)
        let started = ContinuousClock.now
        // Every ACTIVE peer's list: a file this storage had pushed to one peer only (or an
        // appender whose last appends reached one peer only) is recovered all the same.
        var fetched: [String] = []
        var bytes: Int64 = 0
        files.removePeerBinlogs()
        for (n, source) in sources.enumerated() {
            do {
                bytes += try await fetchBinlog(index, from: source, into: files.peerBinlogPath(n))
                fetched.append(files.peerBinlogPath(n))
            } catch {
                logger.warning("disk recovery: the binlog of \(source) could not be fetched; its files that no other peer has are not recovered (after the recovery, `fdfs resync \(group) <this storage> --from <that peer>` copies them)",
                               metadata: ["fdfs.store_path": "\(index)", "fdfs.error": "\(error)"])
            }
        }
        guard !fetched.isEmpty else {
            throw DiskRecoveryError("no peer sent the binlog of store_path\(index) (tried \(sources.map(\.description).joined(separator: ", "))); "
                                    + "start the storage again to retry")
        }
        let merged = try RecoveryBinlogMerge.merge(fetched, into: files.binlogPath)
        files.removePeerBinlogs()
        try files.saveMark(0)
        let flag = RecoveryFiles.Flag(savedStatus: saved, fetchBinlogDone: true)
        try files.saveFlag(flag)
        logger.info("disk recovery: binlogs fetched", metadata: [
            "fdfs.store_path": "\(index)", "fdfs.sources": "\(sources.map(\.description).joined(separator: ", "))",
            "fdfs.fetched": "\(fetched.count)", "fdfs.saved_status": "\(saved)", "fdfs.bytes": "\(bytes)",
            "fdfs.records": "\(merged.records)", "fdfs.duplicates": "\(merged.duplicates)", "fdfs.seconds": "\(ContinuousClock.now - started)",
        ])
        return flag
    }

    /// The highest status any tracker has for this storage (GET_STATUS), nil when none knows
    /// it; asked again every second until at least one tracker answers.
    func previousStatus() async throws -> StorageStatus? {
        let address = IPPort(ip: ownIP, port: port)
        while true {
            var answered = 0
            var highest: StorageStatus? = nil
            for t in trackers {
                do {
                    let status = try await ask(t) { try await $0.request(GetStorageStatusRequest(group: group, address: address)).brief.status }
                    answered += 1
                    if status != .none { highest = max(highest ?? status, status) }
                } catch let error as FDFSClientError where error.status == .ENOENT {
                    answered += 1
                } catch {
                    logger.warning("disk recovery: tracker did not answer GET_STATUS; retrying",
                                   metadata: ["fdfs.tracker": "\(t.host):\(t.port)", "fdfs.error": "\(error)"])
                }
            }
            if answered > 0 { return highest }
            try await Task.sleep(for: retryInterval)
        }
    }

    /// The other ACTIVE readable members of the group, rotated by `rotation` plus the number of
    /// rounds asked (so that connections spread over the peers, and a retry starts at another
    /// one), from the first tracker that lists one; waits (every second) while there is none.
    /// Nil when the group has no other member or fewer store paths than this storage (nothing
    /// to recover from).
    func chooseSources(_ index: Int, rotation: Int = 0) async throws -> [Source]? {
        var round = 0
        while true {
            for t in trackers {
                do {
                    let (groupStat, storages) = try await ask(t) { link in
                        (try await link.request(ListOneGroupRequest(group: group)).groups.first,
                         try await link.request(ListStorageRequest(group: group)).storages)
                    }
                    guard let groupStat else { continue }
                    if groupStat.storageCount <= 1 {
                        logger.info("disk recovery: this storage is the only member of its group: nothing to recover from",
                                    metadata: ["fdfs.store_path": "\(index)", "fdfs.group": "\(group)"])
                        return nil
                    }
                    if groupStat.storePathCount > 0 && groupStat.storePathCount < Int64(paths.paths.count) {
                        logger.info("disk recovery: the group has fewer store paths than this storage: nothing to recover from",
                                    metadata: ["fdfs.store_path": "\(index)", "fdfs.group_store_paths": "\(groupStat.storePathCount)"])
                        return nil
                    }
                    let candidates = storages.filter { s in
                        s.status == .active && s.rwMode.canRead && !isSelf(s)
                    }
                    if !candidates.isEmpty {
                        let first = (rotation + round) % candidates.count
                        return (candidates[first...] + candidates[..<first]).map { Source(id: $0.id, ip: $0.ipAddress, port: Int($0.storagePort)) }
                    }
                } catch {
                    logger.warning("disk recovery: tracker did not list the group; retrying",
                                   metadata: ["fdfs.tracker": "\(t.host):\(t.port)", "fdfs.error": "\(error)"])
                }
            }
            round += 1
            logger.warning("no ACTIVE peer to recover store_path\(index) from; retrying (start another member of \(group) or wait for one to become ACTIVE)")
            try await Task.sleep(for: retryInterval)
        }
    }

    func isSelf(_ s: StorageStat) -> Bool {
        if let serverID, s.id == serverID.rawValue { return true }
        return s.ipAddress == ownIP && Int(s.storagePort) == port
    }

    /// REPORT_STATUS (76) of this storage to every tracker, again every second until at least
    /// one accepts.
    func reportStatus(_ status: StorageStatus) async throws {
        let brief = StorageBrief(status: status, port: Int32(port), id: serverID?.rawValue ?? ownIP, ipAddress: ownIP)
        while true {
            var accepted = 0
            for t in trackers {
                do {
                    _ = try await ask(t) { try await $0.request(ReportStatusRequest(group: group, brief: brief)) }
                    accepted += 1
                } catch {
                    logger.warning("disk recovery: tracker refused REPORT_STATUS",
                                   metadata: ["fdfs.tracker": "\(t.host):\(t.port)", "fdfs.status": "\(status)", "fdfs.error": "\(error)"])
                }
            }
            if accepted > 0 {
                logger.info("disk recovery: status reported", metadata: ["fdfs.status": "\(status)", "fdfs.trackers": "\(accepted)"])
                return
            }
            logger.warning("no tracker accepted REPORT_STATUS(\(status.name)); retrying (check that a tracker of \(group) is running)")
            try await Task.sleep(for: retryInterval)
        }
    }

    /// One question to one tracker on a fresh connection.
    func ask<T: Sendable>(_ t: Tracker, _ body: @Sendable (FDFSClientConnection) async throws -> T) async throws -> T {
        let link = try await FDFSClientConnection.connect(host: t.host, port: t.port, bindAddress: bindAddress, connectTimeout: .seconds(5),
                                                          clusterSecrets: clusterSecrets)
        do {
            let answer = try await body(link)
            await link.close()
            return answer
        } catch {
            await link.close()
            throw error
        }
    }

    /// FETCH_ONE_PATH_BINLOG (26) into `path`: the reply runs until the peer closes; its last
    /// 8 bytes count the text before them, and are cut off once checked. Returns the text size.
    func fetchBinlog(_ index: Int, from source: Source, into path: String) async throws -> Int64 {
        let timeout = Duration.seconds(max(networkTimeoutSeconds, 600))
        let fd = try FileSystemCalls.open(path, O_RDWR | O_CREAT | O_TRUNC, mode: 0o644)
        defer { try? FileSystemCalls.close(fd, path: path) }
        let link = try await FDFSClientConnection.connect(host: source.ip, port: source.port, bindAddress: bindAddress, connectTimeout: .seconds(10),
                                                          clusterSecrets: clusterSecrets)
        let received: Int64
        do {
            received = try await withDeadline(timeout, what: "the binlog of store_path\(index) from \(source)", onTimeout: { await link.close() }) {
                var total: Int64 = 0
                let packet = FetchOnePathBinlogRequest(group: group, storePathIndex: UInt8(index)).requestPacket(allocator: link.channel.allocator)
                let header = try await link.send(packet) { part in
                    try part.withUnsafeReadableBytes { bytes throws(FileSystemError) in try FileSystemCalls.writeAll(fd, bytes, path: path) }
                    total += Int64(part.readableBytes)
                }
                guard header.status == 0 else { throw FDFSClientError.status(FDFSStatus(header.status)) }
                return total
            }
            await link.close()
        } catch {
            await link.close()
            throw DiskRecoveryError("cannot fetch the binlog of store_path\(index) from \(source): \(error); start the storage again to retry")
        }
        guard received >= 8 else {
            throw DiskRecoveryError("\(source) sent \(received) bytes for the binlog of store_path\(index), less than the 8-byte trailer; start again to retry")
        }
        let trailer = try FileSystemCalls.readRange(fd, path: path, offset: received - 8, count: 8)
        let count = trailer.reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard count == received - 8 else {
            throw DiskRecoveryError("the binlog of store_path\(index) from \(source) is cut (trailer says \(count) bytes, \(received - 8) received); start again to retry")
        }
        guard ftruncate(fd, off_t(count)) == 0 else { throw FileSystemCalls.error("ftruncate", path) }
        try FileSystemCalls.sync(fd, path: path)
        return count
    }

    // MARK: Restore

    /// Replays `.binlog.recovery.0` from the mark, reports the saved status, removes the files.
    func restore(_ index: Int, _ files: RecoveryFiles, _ flag: RecoveryFiles.Flag) async throws {
        let started = ContinuousClock.now
        let catalog = try FileCatalog(path: catalogPath)
        var slots: [PeerSessions?] = Array(repeating: nil, count: Self.parallelDownloads)
        do {
            try await replayAll(index, files, catalog: catalog, slots: &slots, started: started)
        } catch {
            for case let s? in slots { await s.reset() }
            try? catalog.close()
            throw error
        }
        for case let s? in slots { await s.reset() }
        try catalog.close()
        try await reportStatus(flag.savedStatus)
        files.removeAll()
        logger.info("disk recovery of the store path done", metadata: ["fdfs.store_path": "\(index)"])
    }

    func replayAll(_ index: Int, _ files: RecoveryFiles, catalog: FileCatalog, slots: inout [PeerSessions?], started: ContinuousClock.Instant) async throws {
        var offset = try files.loadMark()
        var counts = RestoreCounts()
        var pendingChanges: [CatalogChange] = []
        var sinceMark = 0
        let fd = try FileSystemCalls.open(files.binlogPath, O_RDONLY)
        defer { try? FileSystemCalls.close(fd, path: files.binlogPath) }
        logger.info("disk recovery: restoring", metadata: ["fdfs.store_path": "\(index)", "fdfs.from_offset": "\(offset)"])
        var lines = LineReader(fd: fd, path: files.binlogPath, offset: offset)
        // Downloads run `parallelDownloads` at once, each slot with connections of its own, over
        // a window of records; the mark moves only past whole windows.
        var window: [BinlogRecord] = []
        var windowEnd = offset
        var opened = 0
        while true {
            let next = try lines.next()
            if let (line, end) = next {
                do { window.append(try BinlogRecord(lineBytes: line[...])) } catch {
                    throw DiskRecoveryError("\(files.binlogPath) offset \(offset): \(error); delete \(files.flagPath) and the store path's data directory to recover again from scratch")
                }
                windowEnd = end
                if window.count < Self.windowRecords { continue }
            }
            if !window.isEmpty {
                pendingChanges += try await replayWindow(window, index, catalog: catalog, slots: &slots, opened: &opened, counts: &counts)
                counts.records += window.count
                sinceMark += window.count
                offset = windowEnd
                window.removeAll(keepingCapacity: true)
            }
            if sinceMark >= Self.markInterval || (next == nil && sinceMark > 0) {
                // The rows first: a resume from the mark must not miss any.
                try catalog.applyNow(pendingChanges)
                pendingChanges.removeAll(keepingCapacity: true)
                try files.saveMark(offset)
                sinceMark = 0
                if next != nil { logger.info("disk recovery: progress", metadata: ["fdfs.store_path": "\(index)", "fdfs.counts": "\(counts)"]) }
            }
            if next == nil { break }
        }
        try catalog.applyNow(pendingChanges)
        try files.saveMark(offset)
        logger.info("disk recovery: files restored", metadata: [
            "fdfs.store_path": "\(index)", "fdfs.counts": "\(counts)", "fdfs.seconds": "\(ContinuousClock.now - started)",
        ])
    }

    /// Files downloaded at once by a recovery (a slot of connections each).
    static let parallelDownloads = 8
    /// Records restored between two checks of the mark (a window's creates run in parallel).
    static let windowRecords = 64

    /// Restores a window of records: its creates `parallelDownloads` at a time, then its links
    /// in order (their targets are earlier creates). Each create is tried `recordAttempts`
    /// times, on new connections (to sources chosen again) after a failure. Returns the
    /// window's catalog changes.
    func replayWindow(_ window: [BinlogRecord], _ index: Int, catalog: FileCatalog, slots: inout [PeerSessions?], opened: inout Int,
                      counts: inout RestoreCounts) async throws -> [CatalogChange] {
        var changes: [[CatalogChange]] = Array(repeating: [], count: window.count)
        var attempts = Array(repeating: 0, count: window.count)
        var todo = window.indices.filter { window[$0].operation.kind == .create }
        let links = window.indices.filter { window[$0].operation.kind != .create }
        while !todo.isEmpty {
            var failed: [(Int, any Error)] = []
            var free = Array(slots.indices)
            var queue = todo[...]
            try await withThrowingTaskGroup(of: (Int, Int, Result<([CatalogChange], RestoreCounts), any Error>).self) { tasks in
                func launch() async throws {
                    guard let r = queue.popFirst(), let slot = free.popLast() else { return }
                    if slots[slot] == nil {
                        guard let sources = try await chooseSources(index, rotation: slot + opened) else {
                            throw DiskRecoveryError("no peer left to recover store_path\(index) from; start again to resume")
                        }
                        opened += 1
                        slots[slot] = PeerSessions(sources.map { SourceSession(source: $0, bindAddress: bindAddress) })
                    }
                    let peers = slots[slot]!
                    let record = window[r]
                    tasks.addTask {
                        var own = RestoreCounts()
                        do {
                            let made = try await self.replayCreate(record, index, peers, &own, catalog: catalog)
                            return (r, slot, .success((made, own)))
                        } catch let error as DiskRecoveryError {
                            throw error
                        } catch {
                            return (r, slot, .failure(error))
                        }
                    }
                }
                for _ in 0..<Self.parallelDownloads { try await launch() }
                while let (r, slot, result) = try await tasks.next() {
                    switch result {
                    case .success(let (made, own)):
                        changes[r] = made
                        counts.downloaded += own.downloaded
                        counts.skippedMissing += own.skippedMissing
                        counts.fromOtherPeer += own.fromOtherPeer
                        counts.bytes += own.bytes
                    case .failure(let error):
                        await slots[slot]?.reset()
                        slots[slot] = nil
                        failed.append((r, error))
                    }
                    free.append(slot)
                    try await launch()
                }
            }
            todo = []
            for (r, error) in failed {
                attempts[r] += 1
                guard attempts[r] < Self.recordAttempts else {
                    throw DiskRecoveryError("disk recovery of store_path\(index) stopped at \(window[r]) after \(attempts[r]) attempts: \(error); "
                                            + "start the storage again to resume from its mark")
                }
                logger.warning("disk recovery: \(window[r]): \(error); retrying with a new connection")
                todo.append(r)
            }
        }
        for r in links { changes[r] = try replayLink(window[r], index, &counts) }
        return changes.flatMap { $0 }
    }

    /// The connections of one download slot: one per source, the slot's first source first.
    struct PeerSessions: Sendable {
        let sessions: [SourceSession]
        init(_ sessions: [SourceSession]) {
            precondition(!sessions.isEmpty, "a slot needs a source")
            self.sessions = sessions
        }

        func reset() async { for s in sessions { await s.reset() } }
    }

    /// The connection to one source, opened when first needed and again after `reset`.
    actor SourceSession {
        let source: Source
        let bindAddress: String?
        var current: StorageClient? = nil

        init(source: Source, bindAddress: String?) {
            self.source = source
            self.bindAddress = bindAddress
        }

        func client() async throws -> StorageClient {
            if let current { return current }
            let client = try await StorageClient.connect(host: source.ip, port: source.port, bindAddress: bindAddress)
            current = client
            return client
        }

        func reset() async {
            await current?.close()
            current = nil
        }
    }

    /// The name of a record of store path `index`.
    func recordName(_ record: BinlogRecord, _ index: Int) throws -> RemoteFilename {
        let name: RemoteFilename
        do { name = try RemoteFilename(parsing: record.filename, storePathCount: paths.paths.count, subdirCount: paths.subdirCount) } catch {
            throw DiskRecoveryError("\(record): not a file name of this storage (\(error)); check that the peer's subdir_count_per_path equals ours")
        }
        guard name.storePathIndex == index else { throw DiskRecoveryError("\(record) is not a file of store_path\(index)") }
        return name
    }

    /// Restores one create; returns its catalog changes.
    ///
    /// The slot's first source is asked first, the others when it lacks the file (ENOENT).
    /// An appender file is taken from the source with the largest copy (QUERY_FILE_INFO of
    /// each): appends only make a file longer, and the peer that received the most of them
    /// has the newest bytes. A failure of the first source fails the record (it is retried on
    /// new connections); a failure of another source only leaves that source out.
    func replayCreate(_ record: BinlogRecord, _ index: Int, _ peers: PeerSessions, _ counts: inout RestoreCounts,
                      catalog: FileCatalog) async throws -> [CatalogChange] {
        let name = try recordName(record, index)
        let path = paths.paths[index].absolutePath(name)
        // Deleted here after this create (the peer had not seen the delete yet): not restored.
        if let deleted = try catalog.tombstone(name.text), deleted >= record.timestampSeconds {
            counts.skippedMissing += 1
            return []
        }
        let id = FileID(group: group, remoteFilename: name)
        var order = peers.sessions
        if name.kind == .appender && order.count > 1 {
            var sizes: [Int64?] = []
            for (n, peer) in order.enumerated() {
                do {
                    sizes.append(try await peer.client().queryFileInfo(id, computeCRC32: false).fileSize)
                } catch FDFSClientError.status(.ENOENT) {
                    sizes.append(nil)
                } catch {
                    if n == 0 { throw error }
                    await peer.reset()
                    sizes.append(nil)
                }
            }
            // Largest first; a source that did not answer last (its download is tried all the same).
            order = order.indices.sorted { (sizes[$0] ?? -1, -$0) > (sizes[$1] ?? -1, -$1) }.map { order[$0] }
        }
        var got: (size: Int64, from: SourceSession)? = nil
        for peer in order {
            do {
                got = (try await download(id, to: path, peer), peer)
                if peer !== peers.sessions[0] { counts.fromOtherPeer += 1 }
                break
            } catch FDFSClientError.status(.ENOENT) {
                continue
            } catch {
                if peer === peers.sessions[0] { throw error }
                await peer.reset()
                logger.warning("disk recovery: \(id) could not be downloaded from \(peer.source): \(error); trying the next source")
            }
        }
        guard let (size, source) = got else {
            counts.skippedMissing += 1
            return []
        }
        var times = [timespec(tv_sec: time_t(record.timestampSeconds), tv_nsec: 0), timespec(tv_sec: time_t(record.timestampSeconds), tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path, &times, 0) == 0 else { throw FileSystemCalls.error("utimensat", path) }
        let items: [CatalogMetadataItem]
        do {
            items = try await source.client().getMetadata(id).entries.map { CatalogMetadataItem($0.name, $0.value) }
        } catch FDFSClientError.status(.ENOENT) {
            items = []  // a C source answers ENOENT for a file without metadata
        }
        counts.downloaded += 1
        counts.bytes += size
        let entry = try catalogEntry(name, path: path, size: size, created: record.timestampSeconds)
        return [.upsert(entry), .setMetadata(file: entry, items: items, merge: false)]
    }

    /// Restores one link (a symbolic link to its target's path); returns its catalog changes.
    func replayLink(_ record: BinlogRecord, _ index: Int, _ counts: inout RestoreCounts) throws -> [CatalogChange] {
        let name = try recordName(record, index)
        let path = paths.paths[index].absolutePath(name)
        guard record.operation.kind == .link else {
            throw DiskRecoveryError("\(record): a recovery binlog holds only creates and links; delete \(RecoveryFiles.flagName) in "
                                    + "\(paths.paths[index].dataPath) and the path's data directory to recover again from scratch")
        }
        guard case .linkTarget(let targetText) = record.extra,
              let target = try? RemoteFilename(parsing: targetText, storePathCount: paths.paths.count, subdirCount: paths.subdirCount)
        else { throw DiskRecoveryError("\(record): the link target is not a file name of this storage") }
        let targetPath = paths.paths[target.storePathIndex].absolutePath(target)
        if symlink(targetPath, path) != 0 && errno != EEXIST && errno != ENOENT { throw FileSystemCalls.error("symlink", path) }
        counts.links += 1
        guard let (size, _) = try? regularFileStatus(path) else { return [] }
        return [.upsert(try catalogEntry(name, path: path, size: size, created: record.timestampSeconds))]
    }

    /// DOWNLOAD_FILE into place (a temporary file renamed when complete). An empty file is
    /// created without asking (a C source refuses to send one); a name that may be empty and
    /// is refused with EINVAL is checked with QUERY_FILE_INFO on a new connection (the source
    /// closes after EINVAL).
    func download(_ id: FileID, to path: String, _ session: SourceSession) async throws -> Int64 {
        if id.remoteFilename.sizeFromName == 0 {
            try StateFileIO.write("", path: path)
            return 0
        }
        do {
            return try await session.client().downloadFile(id, toPath: path)
        } catch FDFSClientError.status(.EINVAL) where id.remoteFilename.sizeFromName == nil {
            await session.reset()
            guard try await session.client().queryFileInfo(id, computeCRC32: false).fileSize == 0 else { throw FDFSClientError.status(.EINVAL) }
            try StateFileIO.write("", path: path)
            return 0
        }
    }

    /// The catalog row of a recovered file. A file uploaded to this storage (its name carries
    /// our source) is a source file here, any other a replica; created is the record's time.
    func catalogEntry(_ name: RemoteFilename, path: String, size: Int64, created: Int64) throws -> CatalogEntry {
        let crc: UInt32? = switch name.kind {
        case .appender: nil
        case .slave: try CRC32.checksum(ofFileAt: path)
        case .normal, .trunk: name.block.crc32
        }
        return CatalogEntry(fileID: name.text, group: group.rawValue, size: size, crc32: crc, created: created,
                            isSource: name.block.source == ownSource, kind: name.kind)
    }
}

/// Reads the lines of a file from an offset, a chunk at a time.
struct LineReader {
    let fd: Int32
    let path: String
    var offset: Int64
    var buffer: [UInt8] = []
    var bufferStart: Int64
    var atEnd = false

    init(fd: Int32, path: String, offset: Int64) {
        self.fd = fd
        self.path = path
        self.offset = offset
        self.bufferStart = offset
    }

    /// The next line without its newline and the offset after it; nil at the end. A last line
    /// without a newline is returned too.
    mutating func next() throws(FileSystemError) -> ([UInt8], Int64)? {
        while true {
            let start = Int(offset - bufferStart)
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                offset = bufferStart + Int64(newline + 1)
                return (line, offset)
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                offset = bufferStart + Int64(buffer.count)
                return (line, offset)
            }
            let more = try FileSystemCalls.readRange(fd, path: path, offset: bufferStart + Int64(buffer.count), count: 64 * 1024)
            if more.isEmpty { atEnd = true }
            buffer = Array(buffer[start...]) + more
            bufferStart = offset
        }
    }
}

/// Merges the recovery binlogs fetched from several peers into one: the records of all of them
/// in timestamp order (on equal timestamps the earlier input first, each input's order kept),
/// every name once (its first record), so that a file any peer has is restored once.
public enum RecoveryBinlogMerge {
    public struct Counts: Hashable, Sendable {
        /// Records written.
        public var records = 0
        /// Records left out because an earlier one named the same file.
        public var duplicates = 0
    }

    /// Writes the merge of `inputs` (files of binlog lines) to `output`, synced.
    public static func merge(_ inputs: [String], into output: String) throws -> Counts {
        var readers: [LineReader] = []
        var fds: [Int32] = []
        defer { for (fd, path) in zip(fds, inputs) { try? FileSystemCalls.close(fd, path: path) } }
        for path in inputs {
            let fd = try FileSystemCalls.open(path, O_RDONLY)
            fds.append(fd)
            readers.append(LineReader(fd: fd, path: path, offset: 0))
        }
        let out = try FileSystemCalls.open(output, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        defer { try? FileSystemCalls.close(out, path: output) }
        func head(_ i: Int) throws -> BinlogRecord? {
            guard let (line, _) = try readers[i].next() else { return nil }
            do { return try BinlogRecord(lineBytes: line[...]) } catch {
                throw DiskRecoveryError("\(inputs[i]): \(error) in a line the peer sent; start the storage again to fetch it again")
            }
        }
        var heads: [BinlogRecord?] = try inputs.indices.map { try head($0) }
        var seen = Set<String>()
        var counts = Counts()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(BinlogExport.chunkBytes + BinlogRecord.maxLineBytes)
        while true {
            var pick: Int? = nil
            for i in heads.indices {
                guard let h = heads[i] else { continue }
                if let p = pick, heads[p]!.timestampSeconds <= h.timestampSeconds { continue }
                pick = i
            }
            guard let i = pick, let record = heads[i] else { break }
            if seen.insert(record.filename).inserted {
                buffer += record.encodedBytes
                counts.records += 1
                if buffer.count >= BinlogExport.chunkBytes {
                    try FileSystemCalls.writeAll(out, buffer, path: output)
                    buffer.removeAll(keepingCapacity: true)
                }
            } else {
                counts.duplicates += 1
            }
            heads[i] = try head(i)
        }
        try FileSystemCalls.writeAll(out, buffer, path: output)
        try FileSystemCalls.sync(out, path: output)
        return counts
    }
}

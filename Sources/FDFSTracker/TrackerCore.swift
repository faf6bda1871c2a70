public import FDFSClient
public import FDFSConfig
public import FDFSModel
public import FDFSProtocol
public import Logging
public import NIOCore
public import FDFSFileSystem
import NIOConcurrencyHelpers

/// The cluster state behind a lock, so that the event loops can answer the clients' queries
/// at once (`TrackerCore.respondImmediately`) while the actor keeps serving everything else.
final class SharedClusterState: @unchecked Sendable {  // safe: `value` is only touched with `lock` held
    let lock = NIOLock()
    var value: ClusterState
    init(_ value: ClusterState) { self.value = value }
}

/// The one owner of the tracker's mutable state (DESIGN.md: one owner per piece of mutable
/// state): the cluster state machine, its data files and its changelog. Every connection
/// calls in; every state change that must survive a restart is written before the reply
/// goes out.
public actor TrackerCore {
    nonisolated let shared: SharedClusterState
    /// The state, each access under the shared lock (the actor's accesses never overlap: they
    /// were exclusive accesses of a stored property before the lock).
    var state: ClusterState {
        _read {
            shared.lock.lock()
            defer { shared.lock.unlock() }
            yield shared.value
        }
        _modify {
            shared.lock.lock()
            defer { shared.lock.unlock() }
            yield &shared.value
        }
    }
    let directory: TrackerDataDirectory
    var changelog: Changelog
    let useStorageID: Bool
    let logger: Logger
    let now: @Sendable () -> Int64
    /// The data files as they were when a peer tracker started copying them (61), served by
    /// GET_ONE_SYS_FILE (63) until GET_SYS_FILES_END (62) or the connection ends.
    var systemFilesCopy: (owner: UInt64, files: [[UInt8]])? = nil
    var nextCopyOwner: UInt64 = 1
    /// Whether the first-JOIN bootstrap from peer trackers (cluster spec §3.5) is settled.
    var bootstrap = BootstrapState.pending
    /// Set when `.tracker_status` showed this tracker was stopped for more than 600 s.
    var wasStoppedLong = false
    let policy: TrackerPolicy
    /// Set with `cluster_secret`: cluster commands need a connection that proved it, and this
    /// tracker proves it when it dials its peers.
    public nonisolated let clusterGate: ClusterGate?
    nonisolated var clusterSecrets: ClusterSecrets? { clusterGate?.secrets }

    /// Loads the data files of `base_path/data` (tolerating torn or corrupt files: what can be
    /// read is kept, the rest is logged with file and line) and opens the changelog.
    public init(policy: TrackerPolicy, basePath: String, logger: Logger, now: @escaping @Sendable () -> Int64,
                clusterSecrets: ClusterSecrets? = nil) throws(TrackerIOError) {
        self.clusterGate = clusterSecrets.map { ClusterGate(secrets: $0, role: .tracker) }
        self.directory = try TrackerDataDirectory(basePath: basePath)
        // A kill between writing a data file's replacement and renaming it leaves `<file>.tmp`.
        let leftovers = FileSystemCalls.removeStaleReplacements(in: directory.dataPath)
        if !leftovers.isEmpty {
            logger.notice("removed temporary files a killed tracker left (the data files they were to replace are intact)",
                          metadata: ["fdfs.files": "\(leftovers.sorted().joined(separator: ", "))"])
        }
        self.useStorageID = policy.useStorageID
        self.policy = policy
        self.logger = logger
        self.now = now
        let ids = policy.storageIDs
        let resolve: StorageIDResolver = { group, ip, port in ids?.entry(groupName: group, ipAddress: ip, port: port)?.id }
        let (snapshot, problems) = try directory.load(useStorageID: policy.useStorageID, resolveID: resolve)
        for p in problems { logger.warning("data file problem, kept what could be read", metadata: ["fdfs.problem": "\(p)"]) }
        var state = ClusterState(policy: policy, snapshot: snapshot)
        self.changelog = try directory.openChangelog()
        for p in changelog.openProblems { logger.warning("changelog problem", metadata: ["fdfs.problem": "\(p)"]) }
        state.changelogSize = try changelog.size()
        let started = now()
        state.processStartTime = started
        if let (status, _) = try directory.readTrackerStatus() {
            state.restartIntervalSeconds = max(0, started - status.lastCheckTime)
            wasStoppedLong = started - status.lastCheckTime > 600
        }
        self.shared = SharedClusterState(state)
        logger.info("tracker state loaded", metadata: [
            "fdfs.groups": "\(snapshot.groups.count)", "fdfs.storages": "\(snapshot.storages.count)", "fdfs.problems": "\(problems.count)",
        ])
    }

    /// Answers one decoded request on a connection (`session` is that connection's state).
    public func handle(_ request: any FDFSRequest, session: inout TrackerSession) async -> TrackerReply {
        if let join = request as? StorageJoinRequest, bootstrap != .settled {
            if let refusal = await bootstrapFromPeers(join, session: session) { return .error(refusal) }
        }
        let reply: TrackerReply
        // Storage commands may move statuses: each change is logged and saved.
        let before = StorageToTrackerCommand(rawValue: type(of: request).command) != nil ? statuses() : nil
        if let r = request as? ChangelogRequest {
            reply = changelogPiece(r, session: session)
        } else if request is GetSysFilesStartRequest || request is GetSysFilesEndRequest || request is GetOneSysFileRequest {
            reply = systemFiles(request, session: &session)
        } else {
            reply = state.handle(request, session: &session, now: now())
        }
        var actions = state.takeActions()
        // Every status change reaches the storages file before the reply: a tracker killed
        // later must not bring back a status the cluster has left (a member ACTIVE for long
        // coming back as WAIT_SYNC kept it there).
        if let before {
            let after = statuses()
            if after != before {
                logStatusChanges(from: before, to: after)
                if !actions.contains(.saveStorages) { actions.append(.saveStorages) }
            }
        }
        perform(actions)
        if case .error(let e) = reply {
            logger.info("request refused", metadata: ["fdfs.command": "\(type(of: request).command)", "fdfs.peer": "\(session.peerIP)", "fdfs.error": "\(e)"])
        }
        return reply
    }

    /// The clients' queries and lists, answered on the event loop: they only read the state
    /// (and move the read and write cursors), write no file and wait for nothing.
    static let immediateCommands: Set<UInt8> = Set([
        TrackerCommand.queryStoreWithoutGroupOne, .queryFetchOne, .queryUpdate, .queryStoreWithGroupOne, .queryFetchAll,
        .queryStoreWithoutGroupAll, .queryStoreWithGroupAll, .listOneGroup, .listAllGroups, .listStorage, .activeTest,
    ].map(\.rawValue))

    /// The response packet to one of `immediateCommands` (nil for any other command); the
    /// same reply `handle` gives, computed under the state's lock.
    public nonisolated func respondImmediately(to header: FDFSHeader, body: ByteBuffer, peerIP: String, localIP: String,
                                               allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard Self.immediateCommands.contains(header.command) else { return nil }
        let request: any FDFSRequest
        do {
            request = try CommandRegistry.decodeRequest(header: header, body: body, role: .tracker)
        } catch {
            return nil  // the connection handler answers and logs a malformed request
        }
        var session = TrackerSession(peerIP: peerIP, localIP: localIP)
        let time = now()
        let reply = shared.lock.withLock { shared.value.handle(request, session: &session, now: time) }
        switch reply {
        case .body(let body):
            return body.responsePacket(allocator: allocator)
        case .error(let e):
            logger.info("request refused", metadata: ["fdfs.command": "\(header.command)", "fdfs.peer": "\(peerIP)", "fdfs.error": "\(e)"])
            var packet = allocator.buffer(capacity: FDFSHeader.size)
            FDFSHeader.response(bodyLength: 0, status: e.status).encode(into: &packet)
            return packet
        case .close:
            return nil
        }
    }

    /// Every storage's status, by group and id.
    func statuses() -> [String: StorageStatus] {
        var out: [String: StorageStatus] = [:]
        for (name, g) in state.groups {
            for s in g.storages { out[name.rawValue + "/" + s.id.rawValue] = s.status }
        }
        return out
    }

    /// One info line per storage whose status differs from `before`.
    func logStatusChanges(from before: [String: StorageStatus], to after: [String: StorageStatus]? = nil) {
        for (key, status) in (after ?? statuses()).sorted(by: { $0.key < $1.key }) where before[key] != status {
            logger.info("storage status changed", metadata: [
                "fdfs.storage": "\(key)", "fdfs.from": "\(before[key].map { $0.name } ?? "(new)")", "fdfs.to": "\(status.name)",
            ])
        }
    }

    /// STORAGE_CHANGELOG_REQ (77): the piece of the changelog after the requester's offset.
    func changelogPiece(_ r: ChangelogRequest, session: TrackerSession) -> TrackerReply {
        do {
            let (key, offset) = try state.changelogRequester(r, session: session)
            let (bytes, next) = try changelog.read(from: offset)
            state.advanceChangelog(key, to: next)
            return .body(RawBody(bytes))
        } catch let error as TrackerError {
            return .error(error)
        } catch {
            logger.error("cannot read the changelog", metadata: ["fdfs.error": "\(error)"])
            return .error(TrackerError(.EIO, "cannot read the changelog"))
        }
    }

    /// The system-file copy of cluster spec §3.5, source side: a peer tracker that starts empty
    /// copies the groups, storages, sync-timestamp and changelog files of this one.
    func systemFiles(_ request: any FDFSRequest, session: inout TrackerSession) -> TrackerReply {
        switch request {
        case is GetSysFilesStartRequest:
            guard !state.groupNames.isEmpty else { return .error(TrackerError(.ENOENT, "this tracker knows no groups")) }
            guard systemFilesCopy == nil || systemFilesCopy?.owner == session.copyOwner else {
                return .error(TrackerError(.EBUSY, "another tracker is copying the data files"))
            }
            perform([.saveGroups, .saveStorages, .saveSyncTimestamps])
            var files: [[UInt8]] = []
            for index in 0...3 {
                guard let path = directory.systemFilePath(index: index) else { continue }
                files.append((try? TrackerDataDirectory.SystemCalls.readFile(path)) ?? [])
            }
            let owner = nextCopyOwner
            nextCopyOwner += 1
            session.copyOwner = owner
            systemFilesCopy = (owner, files)
            return .body(EmptyBody())
        case let r as GetOneSysFileRequest:
            guard let copy = systemFilesCopy, copy.owner == session.copyOwner else {
                return .error(TrackerError(.EINVAL, "TRACKER_GET_SYS_FILES_START first"))
            }
            let file = copy.files[Int(r.fileIndex)]
            guard r.offset <= Int64(file.count) else { return .error(TrackerError(.EINVAL, "offset \(r.offset) beyond the file's \(file.count) bytes")) }
            let start = Int(r.offset)
            let end = min(file.count, start + SysFilePiece.maxContentBytes)
            return .body(SysFilePiece(fileSize: Int64(file.count), content: Array(file[start..<end])))
        default:
            if systemFilesCopy?.owner == session.copyOwner { systemFilesCopy = nil }
            session.copyOwner = nil
            return .body(EmptyBody())
        }
    }

    /// A connection ended: a storage joined on it is OFFLINE at once; a copy it held ends.
    public func disconnect(_ session: TrackerSession) {
        if let owner = session.copyOwner, systemFilesCopy?.owner == owner { systemFilesCopy = nil }
        guard let key = session.storage else { return }
        let before = statuses()
        state.disconnect(session: session)
        logStatusChanges(from: before)
        logger.info("storage disconnected", metadata: ["fdfs.storage": "\(key)"])
        perform(state.takeActions())
    }

    /// The periodic liveness check.
    public func checkLiveness() {
        let before = statuses()
        defer { logStatusChanges(from: before) }
        for key in state.checkLiveness(now: now()) {
            logger.warning("storage stopped beating, now OFFLINE", metadata: ["fdfs.storage": "\(key)"])
        }
        perform(state.takeActions())
    }

    /// Rewrites every data file and `.tracker_status` (at shutdown and periodically).
    public func saveAll() {
        perform([.saveGroups, .saveStorages, .saveSyncTimestamps])
        do {
            try directory.writeTrackerStatus(TrackerStatusRecord(upTime: state.processStartTime, lastCheckTime: now()))
        } catch {
            logger.error("cannot write .tracker_status", metadata: ["fdfs.error": "\(error)"])
        }
    }

    /// The port the server actually listens on.
    public func listening(onPort port: Int) { state.policy.port = port }

    /// A copy of the state, for tests and tools.
    public var clusterState: ClusterState { state }

    func perform(_ actions: [TrackerAction]) {
        var files = Set<TrackerDataFile>()
        for action in actions {
            switch action {
            case .saveGroups: files.insert(.groups)
            case .saveStorages: files.insert(.storages)
            case .saveSyncTimestamps: files.insert(.syncTimestamps)
            case .appendChangelog(let line):
                do {
                    try changelog.append(line: line)
                    state.changelogSize = try changelog.size()
                } catch {
                    logger.error("cannot append to the changelog", metadata: ["fdfs.error": "\(error)"])
                }
            }
        }
        guard !files.isEmpty else { return }
        do {
            try directory.save(state.snapshot, useStorageID: useStorageID, which: files)
        } catch {
            logger.error("cannot save tracker data files; the previous files are kept", metadata: ["fdfs.error": "\(error)"])
        }
    }
}

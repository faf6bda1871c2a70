import FDFSClient
import FDFSModel
import FDFSProtocol

enum BootstrapState: Sendable, Equatable {
    case pending
    case running
    case settled
}

extension TrackerCore {
    /// Cluster spec §3.5: at the first JOIN after start, a tracker that has no groups (or that
    /// was stopped for more than 600 s and finds a better-informed peer) copies the data files
    /// of the best peer tracker named in the JOIN, then reloads. Returns the error the JOIN gets
    /// when the decision could not be taken (EAGAIN: the storage retries later).
    func bootstrapFromPeers(_ join: StorageJoinRequest, session: TrackerSession) async -> TrackerError? {
        guard bootstrap == .pending else {
            return bootstrap == .running ? TrackerError(.EAGAIN, "this tracker is copying its state from a peer; retry") : nil
        }
        let long = wasStoppedLong
        guard long || state.groupNames.isEmpty else {
            bootstrap = .settled
            return nil
        }
        let mine = Set([session.localIP, join.currentTrackerIP])
        let peers = join.trackers.compactMap(TrackerEndpoint.init(line:)).filter {
            !($0.port == state.policy.port && !mine.isDisjoint(with: $0.ipAddresses))
        }
        guard !peers.isEmpty else {
            bootstrap = .settled
            return nil
        }
        bootstrap = .running
        var candidates: [TrackerCandidate] = []
        var otherFailure = false
        for peer in peers {
            do {
                let link = try await FDFSClientConnection.connect(host: peer.ipAddresses[0], port: peer.port, connectTimeout: .seconds(5),
                                                                 clusterSecrets: clusterSecrets)
                do {
                    candidates.append(TrackerCandidate(endpoint: peer, status: try await link.request(TrackerGetStatusRequest())))
                } catch let error as FDFSClientError where error.status == .ENOENT {
                    // a peer without groups has nothing to give
                } catch {
                    otherFailure = true
                }
                await link.close()
            } catch {
                otherFailure = true
            }
        }
        guard let best = TrackerCandidate.choose(candidates) else {
            // Nobody answered. The C tracker refuses JOINs (EAGAIN) while a listed peer is
            // unreachable (§10.13), which keeps a cluster down while one tracker is; we proceed
            // and learn the cluster from the storages instead (docs/compatibility.md).
            if otherFailure {
                logger.info("no peer tracker answered; learning the cluster from the storages")
            }
            bootstrap = .settled
            return nil
        }
        if long && !state.groupNames.isEmpty {
            let own = TrackerCandidate(endpoint: TrackerEndpoint(ipAddresses: [session.localIP], port: state.policy.port), status: state.ownStatus(now: now()))
            if !TrackerCandidate.ranksBelow(own, best) {
                bootstrap = .settled
                return nil
            }
        }
        do {
            try await copySystemFiles(from: best.endpoint)
            bootstrap = .settled
            logger.info("copied the data files of a peer tracker", metadata: ["fdfs.peer": "\(best.endpoint)", "fdfs.groups": "\(state.groupNames.count)"])
            return nil
        } catch {
            logger.warning("cannot copy the data files of a peer tracker", metadata: ["fdfs.peer": "\(best.endpoint)", "fdfs.error": "\(error)"])
            bootstrap = long ? .pending : (state.groupNames.isEmpty ? .pending : .settled)
            return TrackerError(.EAGAIN, "copying the state of \(best.endpoint) failed; retry")
        }
    }

    /// GET_SYS_FILES_START, every file piece by piece, GET_SYS_FILES_END; then the files replace
    /// ours and the state is reloaded as at startup.
    func copySystemFiles(from peer: TrackerEndpoint) async throws {
        let link = try await FDFSClientConnection.connect(host: peer.ipAddresses[0], port: peer.port, connectTimeout: .seconds(5),
                                                                 clusterSecrets: clusterSecrets)
        var files: [[UInt8]] = []
        do {
            _ = try await link.request(GetSysFilesStartRequest())
            for index in UInt8(0)...3 {
                var bytes: [UInt8] = []
                while true {
                    let piece = try await link.request(GetOneSysFileRequest(fileIndex: index, offset: Int64(bytes.count)))
                    bytes += piece.content
                    if Int64(bytes.count) >= piece.fileSize || piece.content.isEmpty { break }
                }
                files.append(bytes)
            }
            _ = try await link.request(GetSysFilesEndRequest())
        } catch {
            await link.close()
            throw error
        }
        await link.close()
        for (index, bytes) in files.enumerated() {
            guard let path = directory.systemFilePath(index: index) else { continue }
            try TrackerDataDirectory.SystemCalls.replaceFile(path, with: bytes, directory: directory.dataPath)
        }
        let ids = policy.storageIDs
        let (snapshot, problems) = try directory.load(useStorageID: policy.useStorageID, resolveID: { g, ip, port in
            ids?.entry(groupName: g, ipAddress: ip, port: port)?.id
        })
        for p in problems { logger.warning("copied data file problem", metadata: ["fdfs.problem": "\(p)"]) }
        var reloaded = ClusterState(policy: state.policy, snapshot: snapshot)
        reloaded.processStartTime = state.processStartTime
        reloaded.restartIntervalSeconds = state.restartIntervalSeconds
        changelog = try directory.openChangelog()
        reloaded.changelogSize = try changelog.size()
        state = reloaded
        try directory.writeTrackerStatus(TrackerStatusRecord(upTime: state.processStartTime, lastCheckTime: now()))
    }
}

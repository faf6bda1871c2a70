import FDFSModel
import FDFSClient
import FDFSFileSystem
import FDFSProtocol
public import FDFSStorageEngine
import Foundation
public import Logging
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// What the scrubber has done, for SCRUB (255) and the logs.
public struct ScrubProgress: Sendable, Hashable {
    public var running = false
    public var passes: Int64 = 0
    public var checked: Int64 = 0
    public var damaged: Int64 = 0
    public var repaired: Int64 = 0
    public var unrepaired: Int64 = 0
    /// Files on disk the catalog did not know: recorded (their name checks out) or moved
    /// to `data/.quarantine`.
    public var adopted: Int64 = 0
    public var quarantined: Int64 = 0
}

/// Shared by the connection handler (SCRUB requests, progress) and the scrubber.
public final class ScrubControl: Sendable {
    private let state = Mutex<(requested: Bool, progress: ScrubProgress)>((false, ScrubProgress()))
    public init() {}
    public func request() { state.withLock { $0.requested = true } }
    func takeRequest() -> Bool { state.withLock { s in defer { s.requested = false }; return s.requested } }
    public var progress: ScrubProgress { state.withLock { $0.progress } }
    func update(_ body: (inout ScrubProgress) -> Void) { state.withLock { body(&$0.progress) } }
}

/// The scrubber's place in its pass, `<base_path>/data/scrub.dat` (key=value): a pass
/// interrupted by a restart resumes after the last file it checked.
struct ScrubState: Equatable {
    var cursor: String? = nil
    var lastPassEnded: Int64 = 0

    static func load(_ path: String) -> ScrubState {
        // A file that cannot be read starts a new pass: nothing is lost but time.
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let file = try? KeyValueFile(parsing: text, path: path) else {
            return ScrubState()
        }
        let cursor = file["cursor"] ?? ""
        return ScrubState(cursor: cursor.isEmpty ? nil : cursor, lastPassEnded: (try? file.int64("last_pass_ended")) ?? 0)
    }

    func save(_ path: String, directory: String) throws {
        let text = "cursor=\(cursor ?? "")\nlast_pass_ended=\(lastPassEnded)\n"
        try FileSystemCalls.replaceFile(path, with: Array(text.utf8), directory: directory)
    }
}

/// Background scrub (docs/operations.md): every file of the catalog is checked against its
/// name and its catalog row (present, size, CRC32 when known), at most `bytesPerSecond`; a
/// damaged or missing file is downloaded again from an ACTIVE peer that has a good copy.
/// A pass runs every `interval` (nil: only when asked with SCRUB) and resumes after a restart.
public struct Scrubber: Service {
    let store: StorageStore
    let catalog: FileCatalog
    let node: StorageNode
    let control: ScrubControl
    let bytesPerSecond: Int64
    let interval: Int64?
    let paths: StorePaths
    /// Unknown files younger than this (inode change time) are left alone: a file just
    /// renamed into place may wait a moment for its catalog row.
    let unknownFileMinimumAge: Int64
    let basePath: String
    let bindAddress: String?
    let logger: Logger

    public init(store: StorageStore, catalog: FileCatalog, node: StorageNode, control: ScrubControl, bytesPerSecond: Int64, interval: Int64?,
                paths: StorePaths, unknownFileMinimumAge: Int64, basePath: String, bindAddress: String?, logger: Logger) {
        self.paths = paths
        self.unknownFileMinimumAge = unknownFileMinimumAge
        self.store = store
        self.catalog = catalog
        self.node = node
        self.control = control
        self.bytesPerSecond = bytesPerSecond
        self.interval = interval
        self.basePath = basePath
        self.bindAddress = bindAddress
        self.logger = logger
    }

    var statePath: String { basePath + "/data/scrub.dat" }

    public func run() async {
        // A storage's first pass comes one interval after its first start.
        if (try? FileSystemCalls.fileSize(statePath)) == nil {
            try? ScrubState(lastPassEnded: Int64(Date().timeIntervalSince1970)).save(statePath, directory: basePath + "/data")
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let state = ScrubState.load(statePath)
                let now = Int64(Date().timeIntervalSince1970)
                let due = state.cursor != nil || control.takeRequest() || interval.map { now - state.lastPassEnded >= $0 } ?? false
                if due {
                    do { try await pass(from: state) } catch is CancellationError { return } catch {
                        logger.error("scrub pass stopped; retried in a minute", metadata: ["fdfs.error": "\(error)"])
                        try? await Task.sleep(for: .seconds(60))
                    }
                } else {
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        }
    }

    func pass(from saved: ScrubState) async throws {
        var state = saved
        control.update { $0 = ScrubProgress(running: true, passes: $0.passes) }
        defer { control.update { $0.running = false } }
        logger.info("scrub pass started", metadata: ["fdfs.resume_after": "\(state.cursor ?? "(start)")"])
        let group = store.group
        let catalog = self.catalog
        var lastSave = ContinuousClock.now
        while true {
            try Task.checkCancellation()
            let after = state.cursor ?? ""
            let page = try await NIOThreadPool.singleton.runIfActive { try catalog.files(group: group.description, after: after, limit: 200) }
            if page.isEmpty { break }
            for entry in page {
                try Task.checkCancellation()
                let (problem, bytes) = try await NIOThreadPool.singleton.runIfActive { self.check(entry) }
                control.update { $0.checked += 1 }
                if let problem {
                    control.update { $0.damaged += 1 }
                    logger.warning("scrub: damaged file", metadata: ["fdfs.file": "\(entry.fileID)", "fdfs.problem": "\(problem)"])
                    if await repair(entry) {
                        control.update { $0.repaired += 1 }
                        logger.notice("scrub: file repaired from a peer", metadata: ["fdfs.file": "\(entry.fileID)"])
                    } else {
                        control.update { $0.unrepaired += 1 }
                        logger.error("scrub: no peer has a good copy; the file stays damaged", metadata: ["fdfs.file": "\(entry.fileID)"])
                    }
                }
                state.cursor = entry.fileID
                if bytes > 0, bytesPerSecond > 0 {
                    try await Task.sleep(for: .nanoseconds(bytes * 1_000_000_000 / bytesPerSecond))
                }
                if ContinuousClock.now - lastSave > .seconds(5) {
                    try state.save(statePath, directory: basePath + "/data")
                    lastSave = .now
                }
            }
        }
        try await sweepUnknownFiles()
        state.cursor = nil
        state.lastPassEnded = Int64(Date().timeIntervalSince1970)
        try state.save(statePath, directory: basePath + "/data")
        control.update { $0.passes += 1 }
        let p = control.progress
        logger.info("scrub pass done", metadata: ["fdfs.checked": "\(p.checked)", "fdfs.damaged": "\(p.damaged)",
                                                  "fdfs.repaired": "\(p.repaired)", "fdfs.unrepaired": "\(p.unrepaired)",
                                                  "fdfs.adopted": "\(p.adopted)", "fdfs.quarantined": "\(p.quarantined)"])
    }

    /// What is wrong with the file of `entry` (nil: nothing), and the bytes read to tell.
    func check(_ entry: CatalogEntry) -> (String?, Int64) {
        guard let (_, path) = try? store.resolve(group: store.group, filename: entry.fileID, storePaths: store.storePaths) else {
            return ("the name does not resolve to a store path", 0)
        }
        var st = stat()
        guard stat(path, &st) == 0 else { return ("missing", 0) }
        guard Int64(st.st_size) == entry.size else { return ("\(st.st_size) bytes instead of \(entry.size)", 0) }
        guard let crc = entry.crc32 else { return (nil, 0) }
        guard let actual = try? CRC32.checksum(ofFileAt: path) else { return ("unreadable", entry.size) }
        return actual == crc ? (nil, entry.size) : (String(format: "CRC32 %08x instead of %08x", actual, crc), entry.size)
    }

    /// Downloads the file from the first peer whose copy has the right size and CRC32,
    /// into a temporary file beside it, renamed over it.
    func repair(_ entry: CatalogEntry) async -> Bool {
        guard let name = try? RemoteFilename(parsing: entry.fileID),
              let (_, path) = try? store.resolve(group: store.group, filename: entry.fileID, storePaths: store.storePaths),
              let table = await node.peers else { return false }
        let temporary = String(path[..<path.lastIndex(of: "/")!]) + "/." + store.temporaryTag("scrub") + ".tmp"
        // ACTIVE ones first; any other may have it too (a copy is checked before it is used).
        let candidates = table.peers.filter { ![StorageStatus.none, .deleted, .ipChanged].contains($0.status) }
            .sorted { ($0.status == .active ? 0 : 1) < ($1.status == .active ? 0 : 1) }
        for peer in candidates {
            do {
                let link = try await FDFSClientConnection.connect(host: peer.ipAddress, port: peer.port, bindAddress: bindAddress, connectTimeout: .seconds(5))
                let client = StorageClient(connection: link)
                defer { Task { await client.close() } }
                let size = try await client.downloadFile(FileID(group: store.group, remoteFilename: name), toPath: temporary)
                guard size == entry.size, entry.crc32 == nil || (try? CRC32.checksum(ofFileAt: temporary)) == entry.crc32 else {
                    _ = unlink(temporary)
                    continue
                }
                guard rename(temporary, path) == 0 else {
                    _ = unlink(temporary)
                    return false
                }
                return true
            } catch {
                _ = unlink(temporary)
                logger.info("scrub: peer could not supply the file", metadata: ["fdfs.peer": "\(peer.id)", "fdfs.error": "\(error)"])
            }
        }
        return false
    }

    /// Files in the data subdirectories that the catalog does not know, at least
    /// `unknownFileMinimumAge` old: a normal name whose size and CRC32 check out is adopted
    /// (recorded in the catalog), anything else moved to `<store path>/data/.quarantine`.
    /// Temporary files (`.*`), FastDFS metadata files (`*-m`) and non-regular files are left.
    func sweepUnknownFiles() async throws {
        let catalog = self.catalog, paths = self.paths, minimumAge = unknownFileMinimumAge, group = store.group, own = store.source
        // A read error counts as known: nothing is moved on a doubt.
        let known: @Sendable (String) -> Bool = { fileID in
            do { return try catalog.file(fileID) != nil } catch { return true }
        }
        for (index, path) in paths.paths.enumerated() {
            for high in 0..<paths.subdirCount {
                try Task.checkCancellation()
                let now = Int64(Date().timeIntervalSince1970)
                let unknown: [(fileID: String, path: String)] = try await NIOThreadPool.singleton.runIfActive {
                    var found: [(String, String)] = []
                    for low in 0..<paths.subdirCount {
                        let sub = String(format: "%02X/%02X", high, low)
                        let directory = path.dataPath + "/" + sub
                        for name in FileSystemCalls.entries(of: directory) where !name.hasPrefix(".") && !name.hasSuffix("-m") {
                            let fileID = String(format: "M%02X/", index) + sub + "/" + name
                            if known(fileID) { continue }
                            var st = stat()
                            guard lstat(directory + "/" + name, &st) == 0, st.st_mode & S_IFMT == S_IFREG,
                                  now - Int64(st.st_ctim.tv_sec) >= minimumAge else { continue }
                            found.append((fileID, directory + "/" + name))
                        }
                    }
                    return found
                }
                for file in unknown {
                    let entry: CatalogEntry? = try await NIOThreadPool.singleton.runIfActive {
                        guard let name = try? RemoteFilename(parsing: file.fileID), name.kind == .normal else { return nil }
                        var st = stat()
                        guard stat(file.path, &st) == 0, Int64(st.st_size) == name.block.sizeField.size,
                              (try? CRC32.checksum(ofFileAt: file.path)) == name.block.crc32 else { return nil }
                        return CatalogEntry(fileID: file.fileID, group: group.rawValue, size: Int64(st.st_size), crc32: name.block.crc32,
                                            created: Int64(st.st_mtim.tv_sec), isSource: name.block.source == own, kind: .normal)
                    }
                    if let entry {
                        // Checked again at the last moment: a row may have arrived meanwhile.
                        if known(file.fileID) { continue }
                        try await catalog.apply([.upsert(entry)])
                        control.update { $0.adopted += 1 }
                        logger.notice("scrub: adopted a file the catalog did not know (its name checks out)", metadata: ["fdfs.file": "\(file.fileID)"])
                    } else {
                        if known(file.fileID) { continue }
                        let quarantine = path.dataPath + "/.quarantine"
                        _ = mkdir(quarantine, 0o755)
                        let target = quarantine + "/" + file.fileID.replacingOccurrences(of: "/", with: "_")
                        guard rename(file.path, target) == 0 else {
                            logger.error("scrub: cannot move an unknown file to quarantine", metadata: ["fdfs.file": "\(file.path)", "fdfs.errno": "\(errno)"])
                            continue
                        }
                        control.update { $0.quarantined += 1 }
                        logger.warning("scrub: moved a file the catalog does not know, and whose name does not check out, to quarantine",
                                       metadata: ["fdfs.file": "\(file.fileID)", "fdfs.to": "\(target)"])
                    }
                }
            }
        }
    }
}

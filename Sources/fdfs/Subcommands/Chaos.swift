import ArgumentParser
import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import Foundation
import NIOCore
import Synchronization

/// `fdfs chaos`: the parts of `tools/chaos` that speak the protocol. Hidden from `fdfs --help`:
/// tools/chaos runs them inside its network namespaces.
struct Chaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parts of tools/chaos: configuration, a load that records every acknowledged operation, and its verification.",
        shouldDisplay: false,
        subcommands: [ChaosConfigure.self, ChaosLoad.self, ChaosWaitActive.self, ChaosVerify.self, ChaosReads.self])
}

// MARK: - Configuration

/// Writes the per-host configuration of a chaos cluster: trackers and storages at the given
/// addresses (one host each, as tools/chaos puts each daemon in a network namespace of its own).
struct ChaosConfigure: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "configure",
                                                    abstract: "Write tracker<i>.conf, storage<i>.conf, storage_ids.conf and client.conf under --dir.")

    @Option(help: "Where configuration and data go.") var dir: String
    @Option(name: .customLong("tracker-ip"), help: "A tracker host's address; repeat.") var trackerIPs: [String] = []
    @Option(name: .customLong("storage-ip"), help: "A storage host's address (group1); repeat.") var storageIPs: [String] = []
    @Option(help: "Directory of the sample configuration files.") var confDir = "conf"
    @Option(help: "The tracker's check_active_interval: seconds without a heartbeat before a storage is OFFLINE.") var checkActiveInterval = 10

    func run() throws {
        guard !trackerIPs.isEmpty, !storageIPs.isEmpty else { throw ValidationError("give --tracker-ip and --storage-ip") }
        let fm = FileManager.default
        func write(_ text: String, _ name: String) throws { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        for d in trackerIPs.indices.map({ "data/tracker\($0)" }) + storageIPs.indices.flatMap({ ["data/storage\($0)", "data/store\($0)"] }) + ["logs"] {
            try fm.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true)
        }
        let trackerLines = trackerIPs.map { "\($0):22122" }
        try write(storageIPs.enumerated().map { "\(100_001 + $0.offset) group1 \($0.element)" }.joined(separator: "\n") + "\n", "storage_ids.conf")
        let tracker = try String(contentsOfFile: confDir + "/tracker.conf", encoding: .utf8)
        for (i, ip) in trackerIPs.enumerated() {
            try write(SandboxLayout.override(tracker, [
                "bind_addr": [ip], "port": ["22122"], "base_path": [dir + "/data/tracker\(i)"], "reserved_storage_space": ["1%"],
                "use_storage_id": ["true"], "storage_ids_filename": [dir + "/storage_ids.conf"], "id_type_in_filename": ["id"],
                "check_active_interval": ["\(checkActiveInterval)"], "connect_timeout": ["2"], "network_timeout": ["10"],
                "http.server_port": ["0"],
            ]), "tracker\(i).conf")
        }
        let storage = try String(contentsOfFile: confDir + "/storage.conf", encoding: .utf8)
        for (i, ip) in storageIPs.enumerated() {
            try write(SandboxLayout.override(storage, [
                "group_name": ["group1"], "bind_addr": [ip], "port": ["23000"], "base_path": [dir + "/data/storage\(i)"],
                "store_path_count": ["1"], "store_path0": [dir + "/data/store\(i)"], "tracker_server": trackerLines,
                "heart_beat_interval": ["1"], "stat_report_interval": ["5"], "sync_binlog_buff_interval": ["1"],
                "subdir_count_per_path": ["4"], "connect_timeout": ["2"], "network_timeout": ["10"], "http.server_port": ["0"],
            ]), "storage\(i).conf")
        }
        let client = try String(contentsOfFile: confDir + "/client.conf", encoding: .utf8)
        try write(SandboxLayout.override(client, [
            "base_path": [dir + "/data"], "tracker_server": trackerLines, "connect_timeout": ["2"], "network_timeout": ["10"],
        ]), "client.conf")
    }
}

// MARK: - Contents

/// The bytes of an upload or an append, made again from their seed: the ledger records seeds,
/// not bytes.
struct ChaosPiece: Codable, Hashable, Sendable {
    var seed: UInt64
    var size: Int

    var bytes: [UInt8] {
        var random = ChaosRandom(seed: seed)
        var out = [UInt8](repeating: 0, count: size)
        var i = 0
        while i < size {
            let z = random.next()
            for b in 0..<8 where i < size {
                out[i] = UInt8(truncatingIfNeeded: z >> (8 * UInt64(b)))
                i += 1
            }
        }
        return out
    }
}

/// One file the load created (its upload was acknowledged), and what became of it.
struct ChaosFile: Codable, Sendable {
    enum State: String, Codable, Sendable {
        /// Every operation on it was acknowledged: it must be on every member with these bytes.
        case live
        /// A delete was acknowledged: it must be on no member.
        case deleted
        /// A delete was not acknowledged: it may or may not be there.
        case uncertain
    }

    var id: String
    var appender: Bool
    /// The upload, then every acknowledged append.
    var pieces: [ChaosPiece]
    /// An append that was not acknowledged: the file holds `pieces` with or without it, and takes
    /// no more appends.
    var pending: ChaosPiece?
    var state: State

    var size: Int { pieces.reduce(0) { $0 + $1.size } }

    /// The contents it may have (two when an append is pending).
    var acceptable: [[UInt8]] {
        let base = pieces.flatMap(\.bytes)
        return pending.map { [base, base + $0.bytes] } ?? [base]
    }
}

struct ChaosLedger: Codable, Sendable {
    static func load(_ path: String) throws -> ChaosLedger {
        guard let data = FileManager.default.contents(atPath: path), let ledger = try? JSONDecoder().decode(ChaosLedger.self, from: data) else {
            throw CLIFailure(.usage, "cannot read the ledger \(path)")
        }
        return ledger
    }

    var seed: UInt64
    var seconds: Double
    var operations: [String: Int]
    var errors: [String: Int]
    var files: [ChaosFile]
    /// Files a download returned other bytes of than were given.
    var corruptReads: [String]
    /// Files a tracker routed a read of to a storage that answered ENOENT.
    var misroutedReads: [String]
    /// Files a tracker routed a delete of to a storage that answered ENOENT.
    var misroutedDeletes: [String]
}

// MARK: - Load

/// A steady mixed load through the trackers, recording every acknowledged operation.
struct ChaosLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Upload, append, download and delete for --seconds at --concurrency; write the ledger of acknowledged operations.",
        discussion: """
            Mix: 30 % uploads, 5 % appender uploads, 12 % appends, 33 % downloads (each checked against the bytes \
            given), 20 % deletes; with --max-live-files live, uploads give way to deletes. Sizes: 85 % up to 16 KiB, \
            14 % up to 256 KiB, 1 % up to 2 MiB. A download that returns \
            other bytes than were given is recorded in the ledger as a corrupt read (chaos verify judges it).
            """)

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "How long to run.") var seconds: Double = 60
    @Option(help: "Concurrent workers.") var concurrency = 8
    @Option(help: "Where the ledger (JSON) goes.") var ledger: String
    @Option(help: "Seed of the operation mix and the contents (default: random).") var seed: UInt64?
    @Option(help: "Stop early once this file exists.") var stopFile: String?
    @Option(help: "Live files at most: beyond them uploads give way to deletes, so a long run's data stays bounded.") var maxLiveFiles = 20_000

    func run() async throws {
        let configuration = try cluster.loadConfiguration()
        let seed = self.seed ?? UInt64.random(in: 1...UInt64.max / 2)
        let state = ChaosLoadState()
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let stopFile = self.stopFile
        let maxLive = maxLiveFiles
        let start = ContinuousClock.now
        let client = FDFSClient(configuration: configuration)
        await withTaskGroup(of: Void.self) { tasks in
            for worker in 0..<concurrency {
                tasks.addTask {
                    var rng = ChaosRandom(seed: seed &+ UInt64(worker) &* 0x1000_0001)
                    while ContinuousClock.now < deadline && !(stopFile.map { FileManager.default.fileExists(atPath: $0) } ?? false) {
                        await ChaosLoad.step(client, state, &rng, maxLive: maxLive)
                    }
                }
            }
        }
        await client.close()
        let result = state.snapshot(seed: seed, seconds: BenchRun.seconds(ContinuousClock.now - start))
        let data = try JSONEncoder().encode(result)
        do { try data.write(to: URL(fileURLWithPath: ledger)) } catch {
            throw CLIFailure(.usage, "cannot write the ledger \(ledger): \(error.localizedDescription)")
        }
        let ops = result.operations.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let errors = result.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("load: \(result.operations.values.reduce(0, +)) operations acknowledged in \(String(format: "%.0f", result.seconds)) s (\(ops))")
        print("load: not acknowledged: \(errors.isEmpty ? "none" : errors)")
    }

    static func step(_ client: FDFSClient, _ state: ChaosLoadState, _ rng: inout ChaosRandom, maxLive: Int) async {
        var roll = rng.below(100)
        // Full: an upload becomes a delete (the mix then shrinks the set again).
        if roll < 35 && state.liveCount >= maxLive { roll = 80 + roll % 20 }
        switch roll {
        case 0..<35:
            let appender = roll >= 30
            let piece = ChaosPiece(seed: rng.next(), size: rng.size())
            do {
                let id = try await client.upload(.bytes(piece.bytes), fileExtension: appender ? "" : "bin", appender: appender)
                state.created(ChaosFile(id: id.description, appender: appender, pieces: [piece], state: .live))
            } catch {
                state.failed(appender ? "upload-appender" : "upload", error)
            }
        case 35..<47:
            guard let (index, file) = state.take(rng: &rng, where: { $0.appender && $0.pending == nil }) else { return }
            let piece = ChaosPiece(seed: rng.next(), size: 1 + rng.below(32 * 1024))
            do {
                try await client.append(try FileID(parsing: file.id), .bytes(piece.bytes))
                state.release(index) { $0.pieces.append(piece) }
                state.count("append")
            } catch {
                state.release(index) { $0.pending = piece }
                state.failed("append", error)
            }
        case 47..<80:
            guard let (index, file) = state.take(rng: &rng, where: { _ in true }) else { return }
            defer { state.release(index) { _ in } }
            // Asked in two steps, to tell a file the trackers cannot route yet (their ENOENT:
            // "not readable yet") from a read routed to a storage that lacks it.
            let id: FileID
            let storages: [StorageEndpoint]
            do {
                id = try FileID(parsing: file.id)
                storages = try await client.withTracker { try await $0.queryFetch(id) }.storages
            } catch {
                return state.failed("route", error)
            }
            do {
                guard let storage = storages.first else { return state.error("route none") }
                let got = try await client.withStorage(storage) { try await $0.downloadFile(id) }
                if file.acceptable.contains(got) { state.count("download") } else { state.corrupt(file.id) }
            } catch FDFSClientError.status(.ENOENT) {
                state.misrouted(file.id)
            } catch {
                state.failed("download", error)
            }
        default:
            guard let (index, file) = state.take(rng: &rng, where: { _ in true }) else { return }
            // In two steps too: the trackers' ENOENT ("no writable member has it yet": nothing
            // was done, the file stays live) apart from a storage named that lacks the file.
            let id: FileID
            let storage: StorageEndpoint
            do {
                id = try FileID(parsing: file.id)
                guard let first = try await client.withTracker({ try await $0.queryUpdate(id) }).storages.first else {
                    state.release(index) { _ in }
                    return state.error("delete route none")
                }
                storage = first
            } catch {
                state.release(index) { _ in }
                return state.failed("delete route", error)
            }
            do {
                try await client.withStorage(storage) { try await $0.deleteFile(id) }
                state.release(index, gone: .deleted)
                state.count("delete")
            } catch FDFSClientError.status(.ENOENT) {
                state.release(index, gone: .uncertain)
                state.misroutedDelete(file.id)
            } catch {
                state.release(index, gone: .uncertain)
                state.failed("delete", error)
            }
        }
    }
}

/// Seeded randomness for the mix (SplitMix64).
struct ChaosRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// Mostly small files (the image stores FastDFS serves), some medium, one in a hundred of
    /// up to 2 MiB (streamed, not buffered): about 36 KB on average.
    mutating func size() -> Int {
        switch below(100) {
        case 0..<85: 1 + below(16 * 1024)
        case 85..<99: 16 * 1024 + below(240 * 1024)
        default: 256 * 1024 + below(1792 * 1024)
        }
    }
}

/// What the workers share: the live files (one operation on a file at a time) and counters.
final class ChaosLoadState: Sendable {
    struct Inner {
        /// Live files by key; `keys` lists them for a random pick, `position` is each key's index there.
        var live: [Int: ChaosFile] = [:]
        var keys: [Int] = []
        var position: [Int: Int] = [:]
        var nextKey = 0
        var busy: Set<Int> = []
        var done: [ChaosFile] = []
        var operations: [String: Int] = [:]
        var errors: [String: Int] = [:]
        var corruptReads: [String] = []
        var misroutedReads: [String] = []
        var misroutedDeletes: [String] = []
    }

    let inner = Mutex(Inner())

    func created(_ file: ChaosFile) {
        inner.withLock { s in
            let key = s.nextKey
            s.nextKey += 1
            s.live[key] = file
            s.position[key] = s.keys.count
            s.keys.append(key)
            s.operations[file.appender ? "upload-appender" : "upload", default: 0] += 1
        }
    }

    func count(_ op: String) { inner.withLock { $0.operations[op, default: 0] += 1 } }
    var liveCount: Int { inner.withLock { $0.keys.count } }
    func misrouted(_ id: String) {
        inner.withLock {
            $0.errors["download misrouted", default: 0] += 1
            $0.misroutedReads.append(id)
        }
    }
    func misroutedDelete(_ id: String) {
        inner.withLock {
            $0.errors["delete misrouted", default: 0] += 1
            $0.misroutedDeletes.append(id)
        }
    }
    func corrupt(_ id: String) {
        inner.withLock {
            $0.errors["download corrupt", default: 0] += 1
            $0.corruptReads.append(id)
        }
    }
    func error(_ what: String) { inner.withLock { $0.errors[what, default: 0] += 1 } }

    func failed(_ op: String, _ error: any Error) {
        let kind: String
        switch error {
        case FDFSClientError.status(let status): kind = status.name
        case is ServerUnavailableError, is NoTrackerAvailableError: kind = "unavailable"
        case FDFSClientError.connectionClosed: kind = "connection closed"
        default: kind = String("\(error)".prefix(40))
        }
        self.error("\(op) \(kind)")
    }

    /// A random live file that fits and no other worker is using, marked busy: its key and state.
    func take(rng: inout ChaosRandom, where fits: (ChaosFile) -> Bool) -> (Int, ChaosFile)? {
        var r = rng
        defer { rng = r }
        return inner.withLock { s in
            guard !s.keys.isEmpty else { return nil }
            for _ in 0..<8 {
                let key = s.keys[r.below(s.keys.count)]
                if !s.busy.contains(key), let file = s.live[key], fits(file) {
                    s.busy.insert(key)
                    return (key, file)
                }
            }
            return nil
        }
    }

    /// Ends a worker's use of live file `key`, changed by `change`.
    func release(_ key: Int, change: (inout ChaosFile) -> Void) {
        inner.withLock { s in
            if var file = s.live[key] {
                change(&file)
                s.live[key] = file
            }
            s.busy.remove(key)
        }
    }

    /// Ends a worker's use of live file `key`, which leaves the live set in `state`.
    func release(_ key: Int, gone state: ChaosFile.State) {
        inner.withLock { s in
            s.busy.remove(key)
            guard var file = s.live.removeValue(forKey: key), let at = s.position.removeValue(forKey: key) else { return }
            file.state = state
            s.done.append(file)
            let last = s.keys.removeLast()
            if last != key {
                s.keys[at] = last
                s.position[last] = at
            }
        }
    }

    func snapshot(seed: UInt64, seconds: Double) -> ChaosLedger {
        inner.withLock { s in
            ChaosLedger(seed: seed, seconds: seconds, operations: s.operations, errors: s.errors,
                        files: s.done + s.keys.compactMap { s.live[$0] }, corruptReads: s.corruptReads,
                        misroutedReads: s.misroutedReads, misroutedDeletes: s.misroutedDeletes)
        }
    }
}

// MARK: - Convergence

/// Waits until every tracker lists the group's storages, all ACTIVE.
struct ChaosWaitActive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait-active",
        abstract: "Wait until every tracker lists --storages storages of --group, all ACTIVE; print the seconds it took.")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "The group.") var group = "group1"
    @Option(help: "How many storages the group has.") var storages = 3
    @Option(help: "Seconds to wait before giving up (exit 1).") var timeout: Double = 180

    func run() async throws {
        let configuration = try cluster.loadConfiguration()
        let group = try parseGroup(self.group)
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int64(timeout * 1000))
        var last = ""
        while true {
            // A fresh client each round: a pooled connection to a tracker that was cut may hang.
            let client = FDFSClient(configuration: configuration)
            let answers = await client.onEveryTracker { try await $0.listStorages(group: group) }
            await client.close()
            var ready = true
            last = answers.map { answer in
                switch answer.result {
                case .success(let list):
                    if list.count != storages || list.contains(where: { $0.status != .active }) { ready = false }
                    return "\(answer.tracker): " + list.map { "\($0.ipAddress) \($0.status.name)" }.joined(separator: ", ")
                case .failure(let error):
                    ready = false
                    return "\(answer.tracker): \(error)"
                }
            }.joined(separator: "; ")
            if ready {
                print(String(format: "%.1f", BenchRun.seconds(ContinuousClock.now - start)))
                return
            }
            if ContinuousClock.now >= deadline {
                throw CLIFailure(.unavailable, "not every storage ACTIVE on every tracker after \(Int(timeout)) s: \(last)")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

// MARK: - Verification

/// Checks a ledger against every member of the group.
struct ChaosVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every file of a ledger on every --storage; exit 1 on a lost, missing or resurrected file.",
        discussion: """
            A live file (every operation on it acknowledged) must be on every member with the bytes given, and a normal \
            file with the size and CRC32 its ID carries (asked of the first --storage with QUERY_FILE_INFO, which \
            computes the CRC32 from its disk; the bytes are compared on every member). A deleted file (its delete acknowledged) must be on no member. Files whose last operation was not \
            acknowledged are skipped, except that an appender file must hold its acknowledged bytes, with or without \
            the unacknowledged append. Replication may still be catching up: each check is repeated until it passes \
            or --timeout runs out (files of --lost-with-disk alone: five more rounds, since no member has them to send).
            """)

    @Option(help: "The ledger chaos load wrote.") var ledger: String
    @Option(help: "A member, host:port; repeat for each.") var storage: [String] = []
    @Option(help: "Seconds to let replication converge.") var timeout: Double = 180
    @Option(help: "Concurrent checks.") var concurrency = 8
    @Option(help: ArgumentHelp("File IDs (one per line) that were only on a disk when it was wiped: lost with it, as on a failed disk.",
                               valueName: "path"))
    var lostWithDisk: String?

    enum Finding: Sendable, Equatable {
        case good
        case missing
        case wrong(String)
        case unreachable(String)
        case present
        case absent
    }

    func run() async throws {
        let book = try ChaosLedger.load(ledger)
        let members = try storage.map { text -> StorageEndpoint in
            let address = try ServerAddress.parse(text, defaultPort: 23000)
            return StorageEndpoint(ipAddress: address.hosts[0], port: Int64(address.port))
        }
        guard !members.isEmpty else { throw ValidationError("give every member with --storage") }
        let checked = book.files.filter { $0.state == .deleted || ($0.state == .live) }
        // (file index, member index) pairs still to pass.
        var pending = checked.indices.flatMap { f in members.indices.map { (f, $0) } }
        var last: [Int: [Int: Finding]] = [:]
        var wiped: Set<String> = []
        if let lostWithDisk {
            guard let text = try? String(contentsOfFile: lostWithDisk, encoding: .utf8) else {
                throw CLIFailure(.usage, "cannot read --lost-with-disk \(lostWithDisk)")
            }
            wiped = Set(text.split(separator: "\n").map(String.init))
        }
        // Rounds left once only files of a wiped disk are pending: no member has them to send.
        var wipedOnlyRounds = 5
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int64(timeout * 1000))
        var settings = ConnectionSettings()
        settings.connectTimeout = .seconds(3)
        settings.networkTimeout = .seconds(20)
        let client = FDFSClient(trackers: [ServerAddress(hosts: ["127.0.0.1"], port: 1)], settings: settings)
        defer { Task { await client.close() } }
        while !pending.isEmpty {
            let results = await withTaskGroup(of: (Int, Int, Finding).self) { tasks in
                var next = 0
                var out: [(Int, Int, Finding)] = []
                func add() {
                    guard next < pending.count else { return }
                    let (f, m) = pending[next]
                    next += 1
                    let file = checked[f], member = members[m]
                    tasks.addTask { (f, m, await Self.check(file, on: member, client, checkID: m == 0)) }
                }
                for _ in 0..<concurrency { add() }
                for await result in tasks {
                    out.append(result)
                    add()
                }
                return out
            }
            pending = []
            for (f, m, finding) in results {
                last[f, default: [:]][m] = finding
                if finding != .good && finding != .absent { pending.append((f, m)) }
            }
            if pending.isEmpty || ContinuousClock.now >= deadline { break }
            if pending.allSatisfy({ wiped.contains(checked[$0.0].id) }) {
                wipedOnlyRounds -= 1
                if wipedOnlyRounds == 0 { break }
            }
            try await Task.sleep(for: .seconds(1))
        }
        let liveFiles = checked.indices.filter { checked[$0].state == .live }
        let deletedFiles = checked.indices.filter { checked[$0].state == .deleted }
        let gone = liveFiles.filter { f in members.indices.allSatisfy { last[f]?[$0] != .good } }
        let lostWithTheDisk = gone.filter { wiped.contains(checked[$0].id) }
        let lost = gone.filter { !wiped.contains(checked[$0].id) }
        let incomplete = liveFiles.filter { f in !gone.contains(f) && members.indices.contains { last[f]?[$0] != .good } }
        let resurrected = deletedFiles.filter { f in members.indices.contains { last[f]?[$0] != .absent } }
        let corrupt = book.corruptReads.filter { !wiped.contains($0) }
        let misrouted = book.misroutedReads.filter { !wiped.contains($0) }
        let misroutedDeletes = book.misroutedDeletes.filter { !wiped.contains($0) }
        let uncertain = book.files.count - checked.count
        let seconds = BenchRun.seconds(ContinuousClock.now - start)
        print("verify: \(liveFiles.count - gone.count) files verified on \(members.count) members, \(deletedFiles.count) deletes verified, "
              + "\(uncertain) not acknowledged (skipped), converged in \(String(format: "%.1f", seconds)) s")
        print("verify: files lost \(lost.count), copies missing \(incomplete.count), files resurrected \(resurrected.count), "
              + "corrupt reads \(corrupt.count), reads routed to a storage without the file \(misrouted.count), "
              + "deletes routed to a storage without the file \(misroutedDeletes.count)")
        if !wiped.isEmpty {
            print("verify: \(wiped.count) files were only on a disk when it was wiped (not replicated yet): \(lostWithTheDisk.count) of them "
                  + "acknowledged and lost with it, \(book.corruptReads.count - corrupt.count) reads of them returned older bytes")
        }
        for f in (lost + incomplete + resurrected).prefix(20) {
            let detail = members.indices.map { "\(members[$0].ipAddress): \(last[f]?[$0].map { "\($0)" } ?? "?")" }.joined(separator: ", ")
            print("verify: \(checked[f].state) \(checked[f].id) (\(checked[f].size) bytes): \(detail)")
        }
        for id in Set(corrupt).sorted().prefix(20) { print("verify: a download of \(id) returned other bytes than were given") }
        for id in Set(misrouted).sorted().prefix(20) { print("verify: a read of \(id) was routed to a storage that did not have it") }
        for id in Set(misroutedDeletes).sorted().prefix(20) { print("verify: a delete of \(id) was routed to a storage that did not have it") }
        if !lost.isEmpty || !incomplete.isEmpty || !resurrected.isEmpty || !corrupt.isEmpty {
            throw CLIFailure(.server, "the cluster lost, missed or resurrected files, or served wrong bytes (above)")
        }
    }

    /// One member's copy: the bytes given (every member), and (`checkID`, one member per file:
    /// the bytes are the same everywhere) the size and CRC32 the ID carries against the file.
    static func check(_ file: ChaosFile, on member: StorageEndpoint, _ client: FDFSClient, checkID: Bool) async -> Finding {
        do {
            let id = try FileID(parsing: file.id)
            return try await client.withStorage(member) { storage in
                if file.state == .deleted {
                    return try await storage.fileExists(id) ? .present : .absent
                }
                let bytes = try await storage.downloadFile(id)
                guard file.acceptable.contains(bytes) else { return .wrong("\(bytes.count) bytes, not the bytes given") }
                if checkID && !file.appender {
                    let info = try await storage.queryFileInfo(id)
                    let name = id.remoteFilename
                    guard info.fileSize == name.block.sizeField.size, info.crc32 == name.block.crc32 else {
                        return .wrong("size \(info.fileSize) CRC32 \(info.crc32), the ID says \(name.block.sizeField.size) \(name.block.crc32)")
                    }
                }
                return .good
            }
        } catch FDFSClientError.status(.ENOENT) {
            return file.state == .deleted ? .absent : .missing
        } catch {
            return .unreachable("\(error)")
        }
    }
}

// MARK: - Read routing

/// Asks every tracker where each live file of a ledger can be read, and checks that every
/// storage named has it: a read routed to a member that lacks the file is what FastDFS users
/// see as a 404 for a fresh upload.
struct ChaosReads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reads",
        abstract: "For each live file of --ledger, ask every tracker (QUERY_FETCH_ONE and QUERY_FETCH_ALL) and check each storage named has it; exit 1 if one lacks it.")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "The ledger chaos load wrote.") var ledger: String
    @Option(help: "Count the reads routed to this storage address separately.") var watch: String?
    @Option(help: "Concurrent checks.") var concurrency = 8

    struct Tally: Sendable {
        var asked = 0
        var named = 0
        var namedWatched = 0
        var misrouted: [String] = []
        var errors = 0

        mutating func add(_ other: Tally) {
            asked += other.asked
            named += other.named
            namedWatched += other.namedWatched
            misrouted += other.misrouted
            errors += other.errors
        }
    }

    func run() async throws {
        let book = try ChaosLedger.load(ledger)
        let configuration = try cluster.loadConfiguration()
        let files = book.files.filter { $0.state == .live }.compactMap { try? FileID(parsing: $0.id) }
        let watch = self.watch
        let client = FDFSClient(configuration: configuration)
        var total = Tally()
        await withTaskGroup(of: Tally.self) { tasks in
            var next = 0
            func add() {
                guard next < files.count else { return }
                let file = files[next]
                next += 1
                tasks.addTask { await Self.check(file, client, watch: watch) }
            }
            for _ in 0..<concurrency { add() }
            for await part in tasks {
                total.add(part)
                add()
            }
        }
        await client.close()
        print("reads: \(files.count) files, \(total.asked) tracker answers, \(total.named) storages named"
              + (watch.map { ", \(total.namedWatched) of them \($0)" } ?? "")
              + ", \(total.misrouted.count) named a storage that lacked the file, \(total.errors) questions failed")
        for line in total.misrouted.prefix(20) { print("reads: misrouted: \(line)") }
        if !total.misrouted.isEmpty { throw CLIFailure(.server, "reads were routed to storages that lacked the file") }
        if total.asked == 0 && !files.isEmpty { throw CLIFailure(.unavailable, "no tracker answered") }
    }

    static func check(_ file: FileID, _ client: FDFSClient, watch: String?) async -> Tally {
        var tally = Tally()
        let answers = await client.onEveryTracker { tracker in
            (try await tracker.queryFetch(file).storages, try await tracker.queryFetchAll(file).storages)
        }
        for answer in answers {
            guard case .success(let (one, all)) = answer.result else {
                tally.errors += 1
                continue
            }
            tally.asked += 2
            for storage in one + all {
                tally.named += 1
                if storage.ipAddress == watch { tally.namedWatched += 1 }
                do {
                    if try await !client.withStorage(storage, { try await $0.fileExists(file) }) {
                        tally.misrouted.append("\(answer.tracker) named \(storage.ipAddress):\(storage.port) for \(file)")
                    }
                } catch {
                    tally.errors += 1
                }
            }
        }
        return tally
    }
}

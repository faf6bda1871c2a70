import ArgumentParser
import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import FDFSServerCore
import Foundation
import Histogram
import NIOCore
import NIOPosix
import Synchronization

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a cluster (swift-fdfs or C FastDFS) with uploads, downloads or deletes and print rates and latencies.",
        discussion: """
            One operation is what a FastDFS client tool does: ask the tracker, then the storage it names, so two \
            round trips:
              upload    QUERY_STORE (101, or 104 with --group), then UPLOAD_FILE (11) of --size random bytes
              download  QUERY_FETCH_ONE (102), then DOWNLOAD_FILE (14) of the whole file
              delete    QUERY_UPDATE (103), then DELETE_FILE (12)
              mixed     1 upload : 8 downloads : 1 delete of a file this run uploaded
            --concurrency workers each run one operation at a time; with --connection pooled every worker keeps \
            its tracker and storage connections, with --connection new it opens both for every operation.
            Downloads and deletes use the file IDs of --ids (one per line, as an upload run with --ids writes \
            them); without --ids the files are uploaded first, unmeasured.
            Prints operations/s, MB/s (10^6 bytes of content), latency percentiles (HdrHistogram, 3 significant \
            digits), errors by status, and this process's CPU time per operation; --json prints one object.
            Examples:
              fdfs bench --op upload --size 4K --count 10000 --ids /tmp/ids
              fdfs bench --op download --ids /tmp/ids --count 20000 --json
              fdfs bench --op mixed --size 4K,100K --duration 30 --tracker 127.0.0.1:22122
            """)

    enum Operation: String, ExpressibleByArgument, CaseIterable, Codable { case upload, download, delete, mixed }
    enum ConnectionMode: String, ExpressibleByArgument, CaseIterable, Codable { case pooled, new }

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "upload, download, delete or mixed.") var op: Operation = .upload
    @Option(help: ArgumentHelp("Bytes per uploaded file: a number with an optional K, KiB, M, MiB, G suffix; a comma-separated list is cycled.",
                               valueName: "size[,size...]"))
    var size = "4K"
    @Option(help: "Operations to measure (default 1000 unless --duration).") var count: Int?
    @Option(help: "Measure for this many seconds instead of a count.") var duration: Double?
    @Option(help: "Concurrent workers.") var concurrency = 8
    @Option(help: "pooled: each worker keeps its connections; new: new connections for every operation.") var connection: ConnectionMode = .pooled
    @Option(help: "File of file IDs: read by download/delete, written by upload and mixed (the files left).") var ids: String?
    @Option(help: "Upload into this group (QUERY_STORE with group).") var group: String?
    @Option(help: "Operations run before measuring, not counted.") var warmup = 0

    func validate() throws {
        _ = try Self.parseSizes(size)
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be positive") }
        if count != nil && duration != nil { throw ValidationError("give --count or --duration, not both") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be 1...1024") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        if let group { _ = try parseGroup(group) }
    }

    /// "4K,100KiB,1M" -> [4096, 102400, 1048576].
    static func parseSizes(_ text: String) throws -> [Int] {
        let units: [(String, Int)] = [("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1), ("", 1)]
        return try text.split(separator: ",").map { item in
            let upper = item.trimmingCharacters(in: .whitespaces).uppercased()
            for (suffix, factor) in units where upper.hasSuffix(suffix) {
                if let n = Int(upper.dropLast(suffix.count)), n >= 0, n <= (1 << 40) / factor { return n * factor }
            }
            throw ValidationError("--size \(item): a byte count such as 4096, 4K, 100KiB or 256M")
        }
    }

    func run() async throws {
        let configuration = try cluster.loadConfiguration()
        let sizes = try Self.parseSizes(size)
        let groupName = try group.map(parseGroup)
        let settings = BenchSettings(trackers: configuration.trackerServers, connectTimeout: .seconds(Int64(configuration.connectTimeoutSeconds)),
                                     networkTimeout: .seconds(Int64(configuration.networkTimeoutSeconds)), group: groupName,
                                     newConnections: connection == .new)
        let contents = BenchContents(sizes: sizes)
        var files: [FileID] = []
        if let ids, op != .upload {
            files = try Self.readIDs(ids)
        }
        let measured = count ?? (duration == nil ? 1000 : Int.max)
        if op != .upload && files.isEmpty {
            let needed = op == .delete ? measured + warmup : min(measured + warmup, op == .mixed ? 1000 : 10_000)
            guard needed != Int.max else { throw CLIFailure(.usage, "--op \(op) with --duration needs --ids") }
            printError("fdfs bench: uploading \(needed) files of \(sizes.map(String.init).joined(separator: ",")) bytes first (not measured)")
            let prepared = try await BenchRun(kind: .upload, settings: settings, contents: contents, files: [], concurrency: concurrency,
                                              count: needed, deadline: nil, progress: false).execute()
            guard prepared.errors.isEmpty else {
                throw CLIFailure(.server, "uploading the files to \(op) failed: \(prepared.errorSummary)")
            }
            files = prepared.uploaded
        }
        if warmup > 0 {
            let w = try await BenchRun(kind: op == .delete ? .download : op, settings: settings, contents: contents, files: files,
                                       concurrency: concurrency, count: warmup, deadline: nil, progress: false).execute()
            if op == .upload || op == .mixed { files += w.uploaded }
        }
        let deadline = duration.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
        // A file is deleted once: a delete run ends with the files.
        let result = try await BenchRun(kind: op, settings: settings, contents: contents, files: files, concurrency: concurrency,
                                        count: op == .delete ? min(measured, files.count) : measured, deadline: deadline,
                                        progress: isatty(2) != 0).execute()
        if let ids, op == .upload || op == .mixed {
            let kept = op == .mixed ? result.remaining : result.uploaded
            do {
                try kept.map(\.description).joined(separator: "\n").appending(kept.isEmpty ? "" : "\n").write(toFile: ids, atomically: true, encoding: .utf8)
            } catch {
                throw CLIFailure(.usage, "cannot write --ids \(ids): \(error.localizedDescription)")
            }
        }
        if result.operations == 0 && !result.errors.isEmpty {
            throw CLIFailure(result.unavailable ? .unavailable : .server, "every operation failed: \(result.errorSummary)")
        }
        let report = BenchReport(op: op, sizes: sizes, concurrency: concurrency, connection: connection, result: result)
        if output.json {
            try printJSON(report)
        } else {
            print(report.render())
        }
    }

    static func readIDs(_ path: String) throws -> [FileID] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIFailure(.usage, "cannot read --ids \(path)")
        }
        var files: [FileID] = []
        for (n, line) in text.split(separator: "\n").enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do { files.append(try FileID(parsing: line.trimmingCharacters(in: .whitespaces))) } catch {
                throw CLIFailure(.usage, "\(path) line \(n + 1): not a file ID: \(line)")
            }
        }
        guard !files.isEmpty else { throw CLIFailure(.usage, "\(path) holds no file IDs") }
        return files
    }
}

/// Where and how the workers connect.
struct BenchSettings: Sendable {
    var trackers: [ServerAddress]
    var connectTimeout: TimeAmount
    var networkTimeout: TimeAmount
    var group: GroupName?
    var newConnections: Bool
}

/// The upload contents: random bytes made once per size, reused by every upload.
struct BenchContents: Sendable {
    let buffers: [ByteBuffer]

    init(sizes: [Int]) {
        var rng = SystemRandomNumberGenerator()
        buffers = sizes.map { size in
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            var left = size
            while left >= 8 {
                buffer.writeInteger(rng.next() as UInt64)
                left -= 8
            }
            for _ in 0..<left { buffer.writeInteger(UInt8.random(in: 0...255, using: &rng)) }
            return buffer
        }
    }

    func content(for operation: Int) -> ByteBuffer { buffers[operation % buffers.count] }
}

/// What one run measured.
struct BenchResult: Sendable {
    var operations = 0
    var bytes: Int64 = 0
    var seconds = 0.0
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    var errors: [String: Int] = [:]
    var unavailable = false
    var cpuSeconds = 0.0
    /// Files uploaded by the run, in order.
    var uploaded: [FileID] = []
    /// For mixed runs: the files left (given and uploaded, minus deleted).
    var remaining: [FileID] = []

    var errorSummary: String { errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") }

    mutating func merge(_ other: BenchResult) {
        operations += other.operations
        bytes += other.bytes
        latency.add(other.latency)
        errors.merge(other.errors, uniquingKeysWith: +)
        unavailable = unavailable || other.unavailable
        uploaded += other.uploaded
        remaining += other.remaining
    }
}

/// One measured run: `concurrency` workers share the operation counter until `count` or the
/// deadline; each worker's task runs on one event loop, where its connections live.
struct BenchRun {
    let kind: Bench.Operation
    let settings: BenchSettings
    let contents: BenchContents
    let files: [FileID]
    let concurrency: Int
    let count: Int
    let deadline: ContinuousClock.Instant?
    let progress: Bool

    func execute() async throws -> BenchResult {
        let counters = BenchCounters()
        let cpuBefore = Self.processCPUSeconds()
        let start = ContinuousClock.now
        let files = self.files
        var result = BenchResult()
        await withTaskGroup(of: BenchResult.self) { tasks in
            let loops = MultiThreadedEventLoopGroup.singleton
            for index in 0..<concurrency {
                let loop = loops.next()
                let worker = BenchWorker(kind: kind, settings: settings, contents: contents, eventLoop: loop, files: files)
                tasks.addTask(executorPreference: EventLoopTaskExecutor(loop)) {
                    await worker.run(counters, count: count, deadline: deadline)
                }
            }
            if progress {
                tasks.addTask {
                    await Self.showProgress(counters, start: start, count: count, deadline: deadline)
                    return BenchResult()
                }
            }
            for await part in tasks { result.merge(part) }
        }
        result.seconds = Self.seconds(ContinuousClock.now - start)
        result.cpuSeconds = Self.processCPUSeconds() - cpuBefore
        return result
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// A progress line on standard error (a terminal only), at most 4 times a second, for runs
    /// longer than 2 seconds.
    static func showProgress(_ counters: BenchCounters, start: ContinuousClock.Instant, count: Int, deadline: ContinuousClock.Instant?) async {
        var shown = false
        var last = (time: start, done: 0)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let now = ContinuousClock.now
            let finished = counters.done.load(ordering: .relaxed)
            if finished >= count || (deadline.map { now >= $0 } ?? false) { break }
            guard now - start > .seconds(2) else { continue }
            let rate = Double(finished - last.done) / max(0.001, seconds(now - last.time))
            last = (now, finished)
            let total = count == Int.max ? "" : " / \(count)"
            FileHandle.standardError.write(Data("\r\u{1B}[K\(finished)\(total) operations, \(Int(rate)) /s".utf8))
            shown = true
        }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// The operation counter the workers share, and how many finished (for the progress line).
final class BenchCounters: Sendable {
    let next = Atomic<Int>(0)
    let done = Atomic<Int>(0)
}

/// One worker: operations one after the other on its own connections.
final class BenchWorker: Sendable {
    let kind: Bench.Operation
    let settings: BenchSettings
    let contents: BenchContents
    let eventLoop: any EventLoop
    let files: [FileID]

    init(kind: Bench.Operation, settings: BenchSettings, contents: BenchContents, eventLoop: any EventLoop, files: [FileID]) {
        self.kind = kind
        self.settings = settings
        self.contents = contents
        self.eventLoop = eventLoop
        self.files = files
    }

    /// The worker's connections: one to the tracker, one per storage.
    struct Connections {
        var tracker: FDFSClientConnection?
        var storages: [StorageEndpoint: FDFSClientConnection] = [:]

        mutating func closeAll() async {
            if let tracker { try? await tracker.channel.close() }
            for (_, c) in storages { try? await c.channel.close() }
            tracker = nil
            storages = [:]
        }
    }

    func run(_ counters: BenchCounters, count: Int, deadline: ContinuousClock.Instant?) async -> BenchResult {
        var result = BenchResult()
        var connections = Connections()
        var own: [FileID] = []
        var rng = SystemRandomNumberGenerator()
        while true {
            if let deadline, ContinuousClock.now >= deadline { break }
            let index = counters.next.add(1, ordering: .relaxed).oldValue
            if index >= count { break }
            let operation: Bench.Operation
            switch kind {
            case .mixed:
                switch index % 10 {
                case 0: operation = .upload
                case 9: operation = own.isEmpty ? .download : .delete
                default: operation = .download
                }
            default: operation = kind
            }
            let started = ContinuousClock.now
            do {
                switch operation {
                case .upload:
                    let content = contents.content(for: index)
                    own.append(try await upload(content, &connections))
                    result.bytes += Int64(content.readableBytes)
                case .download:
                    // Every file in turn (mixed: at random, with the run's own uploads).
                    let pool = kind == .mixed && !own.isEmpty && Bool.random(using: &rng) ? own : files
                    guard !pool.isEmpty else { throw BenchError.noFiles }
                    let pick = kind == .mixed ? Int.random(in: 0..<pool.count, using: &rng) : index % pool.count
                    result.bytes += try await download(pool[pick], &connections)
                case .delete:
                    if kind == .mixed {
                        try await delete(own.removeFirst(), &connections)
                    } else {
                        // Each operation index deletes its own file: every file once.
                        guard index < files.count else { throw BenchError.noFiles }
                        try await delete(files[index], &connections)
                    }
                case .mixed:
                    preconditionFailure("mixed is resolved above")
                }
                let elapsed = ContinuousClock.now - started
                result.latency.record(UInt64(max(1, elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)))
                result.operations += 1
            } catch {
                result.errors[Self.label(error), default: 0] += 1
                if error is ServerUnavailableError || error is FDFSClientError && !Self.isStatus(error) { result.unavailable = true }
                if !Self.isStatus(error) { await connections.closeAll() }
                if case BenchError.noFiles = error, kind != .mixed { break }
            }
            counters.done.add(1, ordering: .relaxed)
            if settings.newConnections { await connections.closeAll() }
        }
        await connections.closeAll()
        result.uploaded = kind == .mixed ? [] : own
        result.remaining = kind == .mixed ? own : []
        return result
    }

    enum BenchError: Error { case noFiles }

    /// Files up to this size (read from their name) are downloaded as one buffered response.
    static let bufferedDownloadBytes: Int64 = 16 << 20

    static func isStatus(_ error: any Error) -> Bool {
        if case FDFSClientError.status = error { return true }
        return false
    }

    /// "ENOENT (2)", "connection refused", "timeout"... for the error table.
    static func label(_ error: any Error) -> String {
        switch error {
        case FDFSClientError.status(let s): "\(s.name) (\(s.rawValue))"
        case FDFSClientError.timedOut: "timeout"
        case FDFSClientError.connectionClosed: "connection closed"
        case let u as ServerUnavailableError: "\(u.role) unavailable (\(u.reason))"
        case BenchError.noFiles: "no file left"
        default: "\(type(of: error))"
        }
    }

    func connect(_ host: String, _ port: Int, role: ServerRole) async throws -> FDFSClientConnection {
        do {
            return try await FDFSClientConnection.connect(host: host, port: port, connectTimeout: settings.connectTimeout,
                                                          networkTimeout: settings.networkTimeout, maxResponseBytes: Int(Self.bufferedDownloadBytes) + 1024,
                                                          group: eventLoop)
        } catch {
            throw ServerUnavailableError.classify(error, role: role, address: "\(host):\(port)") ?? error
        }
    }

    func tracker(_ connections: inout Connections) async throws -> TrackerClient {
        if let t = connections.tracker { return TrackerClient(connection: t) }
        var lastError: (any Error)?
        for server in settings.trackers {
            for host in server.hosts {
                do {
                    let c = try await connect(host, server.port, role: .tracker)
                    connections.tracker = c
                    return TrackerClient(connection: c)
                } catch {
                    lastError = error
                }
            }
        }
        throw lastError ?? BenchError.noFiles
    }

    func storage(_ endpoint: StorageEndpoint, _ connections: inout Connections) async throws -> FDFSClientConnection {
        if let c = connections.storages[endpoint] { return c }
        let c = try await connect(endpoint.ipAddress, Int(endpoint.port), role: .storage)
        connections.storages[endpoint] = c
        return c
    }

    func upload(_ content: ByteBuffer, _ connections: inout Connections) async throws -> FileID {
        let target = try await tracker(&connections).queryStore(group: settings.group)
        let link = try await storage(target.storage, &connections)
        let response = try await StorageClient(connection: link)
            .uploadFile(.buffer(content), fileExtension: "bin", storePathIndex: Int8(bitPattern: target.storePathIndex))
        return try FileID(parsing: "\(response.group)/\(response.remoteFilename)")
    }

    func download(_ file: FileID, _ connections: inout Connections) async throws -> Int64 {
        let source = try await tracker(&connections).queryFetch(file)
        guard let endpoint = source.storages.first else { throw FDFSClientError.status(.ENOENT) }
        let link = try await storage(endpoint, &connections)
        if let size = file.remoteFilename.sizeFromName, size <= Self.bufferedDownloadBytes {
            // One buffered response: cheaper than a stream of parts for a small file.
            let response = try await link.send(DownloadFileRequest(group: file.group, filename: file.remoteFilename.text).requestPacket(allocator: link.channel.allocator))
            guard response.header.status == 0 else { throw FDFSClientError.status(FDFSStatus(response.header.status)) }
            return Int64(response.body.readableBytes)
        }
        return try await StorageClient(connection: link).downloadFile(file) { _ in }
    }

    func delete(_ file: FileID, _ connections: inout Connections) async throws {
        let target = try await tracker(&connections).queryUpdate(file)
        guard let endpoint = target.storages.first else { throw FDFSClientError.status(.ENOENT) }
        try await StorageClient(connection: try await storage(endpoint, &connections)).deleteFile(file)
    }
}

/// The printed and `--json` form of a run.
struct BenchReport: Encodable {
    struct Latency: Encodable {
        var p50: UInt64
        var p99: UInt64
        var p999: UInt64
        var max: UInt64
        var mean: Double
    }

    var op: Bench.Operation
    var sizes: [Int]
    var concurrency: Int
    var connection: Bench.ConnectionMode
    var count: Int
    var errors: [String: Int]
    var seconds: Double
    var opsPerS: Double
    var mbPerS: Double
    var latencyUs: Latency
    var clientCPUUsPerOp: Double

    enum CodingKeys: String, CodingKey {
        case op, sizes, concurrency, connection, count, errors, seconds
        case opsPerS = "ops_per_s", mbPerS = "mb_per_s", latencyUs = "latency_us", clientCPUUsPerOp = "client_cpu_us_per_op"
    }

    init(op: Bench.Operation, sizes: [Int], concurrency: Int, connection: Bench.ConnectionMode, result: BenchResult) {
        self.op = op
        self.sizes = sizes
        self.concurrency = concurrency
        self.connection = connection
        count = result.operations
        errors = result.errors
        seconds = result.seconds
        opsPerS = result.seconds > 0 ? Double(result.operations) / result.seconds : 0
        mbPerS = result.seconds > 0 ? Double(result.bytes) / result.seconds / 1e6 : 0
        let h = result.latency
        latencyUs = result.operations == 0
            ? Latency(p50: 0, p99: 0, p999: 0, max: 0, mean: 0)
            : Latency(p50: h.valueAtPercentile(50), p99: h.valueAtPercentile(99), p999: h.valueAtPercentile(99.9), max: h.max, mean: h.mean)
        let attempts = result.operations + result.errors.values.reduce(0, +)
        clientCPUUsPerOp = attempts > 0 ? result.cpuSeconds * 1e6 / Double(attempts) : 0
    }

    func render() -> String {
        func ms(_ us: UInt64) -> String { String(format: "%.3f ms", Double(us) / 1000) }
        var lines = [
            "operation     \(op.rawValue), \(sizes.map { Self.bytes($0) }.joined(separator: ",")), \(concurrency) workers, \(connection.rawValue) connections",
            "operations    \(count) in \(String(format: "%.3f", seconds)) s",
            "rate          \(String(format: "%.0f", opsPerS)) ops/s   \(String(format: "%.1f", mbPerS)) MB/s",
            "latency       p50 \(ms(latencyUs.p50))   p99 \(ms(latencyUs.p99))   p99.9 \(ms(latencyUs.p999))   max \(ms(latencyUs.max))",
            "client CPU    \(String(format: "%.1f", clientCPUUsPerOp)) µs per operation",
        ]
        lines.append(errors.isEmpty ? "errors        none" : "errors        " + errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    static func bytes(_ n: Int) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) B"
    }
}

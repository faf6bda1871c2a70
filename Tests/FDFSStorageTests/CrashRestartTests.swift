import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Synchronization
import Testing

/// What a load acknowledged: uploads (name -> size, CRC32), deletes, and deletes sent but not
/// acknowledged (their files may or may not be gone).
final class AckLedger: Sendable {
    struct State {
        var files: [String: (size: Int64, crc: UInt32)] = [:]
        var deleted: Set<String> = []
        var uncertain: Set<String> = []
        var acknowledged = 0
    }
    let state = Mutex(State())

    func uploaded(_ name: String, _ size: Int64, _ crc: UInt32) {
        state.withLock { $0.files[name] = (size, crc); $0.acknowledged += 1 }
    }
    func deleting(_ name: String) { state.withLock { _ = $0.files.removeValue(forKey: name); $0.uncertain.insert(name) } }
    func deleted(_ name: String) { state.withLock { $0.uncertain.remove(name); $0.deleted.insert(name); $0.acknowledged += 1 } }
    var acknowledged: Int { state.withLock { $0.acknowledged } }
}

/// Both daemons SIGKILLed at random points under load and restarted each time (issue: crash-safe
/// state): each restart succeeds, every acknowledged upload is served whole, every
/// acknowledged delete stays deleted, and no temporary file of a killed process is left.
@Suite(.serialized) struct CrashRestartTests {
    static let group = GroupCluster.group
    static let rounds = 8

    /// Uploads (every fourth one then deleted) on 4 connections to storage `i` until cancelled;
    /// a connection that fails is opened again.
    static func load(_ cluster: GroupCluster, on i: Int, _ ledger: AckLedger, seed: UInt64) async {
        await withTaskGroup(of: Void.self) { workers in
            for w in 0..<4 {
                workers.addTask {
                    var rng = SeededRandomNumberGenerator(seed: seed &* 31 &+ UInt64(w))
                    while !Task.isCancelled {
                        guard let client = try? await cluster.client(i) else {
                            try? await Task.sleep(for: .milliseconds(50))
                            continue
                        }
                        while !Task.isCancelled {
                            // Mostly small files (answered on the event loop), some streamed ones.
                            let size = Int.random(in: 0..<10, using: &rng) == 0 ? Int.random(in: 130_000...400_000, using: &rng)
                                                                                 : Int.random(in: 1...60_000, using: &rng)
                            let fill = UInt8.random(in: 0...255, using: &rng)
                            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ Int(fill)) }
                            do {
                                let id = try await client.uploadFile(.bytes(bytes), fileExtension: "bin").fileID()
                                ledger.uploaded(id.remoteFilename.text, Int64(size), CRC32.checksum(bytes))
                                if Int.random(in: 0..<4, using: &rng) == 0 {
                                    ledger.deleting(id.remoteFilename.text)
                                    try await client.deleteFile(id)
                                    ledger.deleted(id.remoteFilename.text)
                                }
                            } catch {
                                break
                            }
                        }
                        await client.close()
                    }
                }
            }
        }
    }

    /// Waits until the ledger has `count` more acknowledgements than `base`.
    static func waitForAcknowledgements(_ ledger: AckLedger, beyond base: Int, _ count: Int, _ cluster: GroupCluster) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ledger.acknowledged < base + count {
            guard ContinuousClock.now < deadline else { throw DaemonError("the load stalled at \(ledger.acknowledged - base) of \(count)\n" + cluster.logs()) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Temporary files (`.*.tmp`) anywhere under a store path's data directory.
    static func temporaryFiles(_ storePath: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: storePath + "/data") else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.split(separator: "/").last.map { $0.hasPrefix(".") && $0.hasSuffix(".tmp") } ?? false }
    }

    @Test("a storage SIGKILLed at random points under uploads and deletes restarts every time and loses nothing acknowledged")
    func storageKilledUnderLoad() async throws {
        try await ReplicationTests.withCluster(1) { cluster in
            try cluster.start(0)
            try await cluster.waitUntilActive([0])
            let ledger = AckLedger()
            var rng = SeededRandomNumberGenerator(seed: 0xC0FFEE)
            var killedAfter: [Int] = []
            for round in 0..<Self.rounds {
                let load = Task { await Self.load(cluster, on: 0, ledger, seed: UInt64(round)) }
                // The kill point: after a random number of acknowledgements in this round.
                let count = Int.random(in: 1...80, using: &rng)
                try await Self.waitForAcknowledgements(ledger, beyond: ledger.acknowledged, count, cluster)
                cluster.kill(0)
                killedAfter.append(count)
                load.cancel()
                await load.value
                try cluster.start(0)
                try await cluster.waitUntilActive([0])
            }
            let s = ledger.state.withLock { $0 }
            // Every acknowledged upload that was not deleted: its size and CRC32.
            try await cluster.waitForFiles(s.files, on: 0, timeout: .seconds(60))
            // Every acknowledged delete: gone.
            let client = try await cluster.client(0)
            for name in s.deleted {
                await #expect(throws: FDFSClientError.status(.ENOENT), "\(name) came back") {
                    _ = try await client.queryFileInfo(FileID(group: Self.group, remoteFilename: try RemoteFilename(parsing: name)))
                }
            }
            await client.close()
            // Every start swept what the killed process left.
            let deadline = ContinuousClock.now + .seconds(30)
            while cluster.log(0).components(separatedBy: "temporary file sweep done").count - 1 < Self.rounds + 1 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(Self.temporaryFiles(cluster.storePath(0)).isEmpty, "\(Self.temporaryFiles(cluster.storePath(0)))")
            let swept = cluster.log(0).components(separatedBy: "removed files a killed storage was still receiving").count - 1
            print("crash-restart: storage killed \(Self.rounds) times (after \(killedAfter) acknowledgements): \(s.files.count) files "
                  + "verified, \(s.deleted.count) deletes stay deleted, \(s.uncertain.count) deletes unacknowledged; "
                  + "\(swept) starts removed leftovers of the killed process")
        }
    }

    @Test("a tracker SIGKILLed at random points while storages join, beat and sync restarts every time")
    func trackerKilledUnderLoad() async throws {
        try await ReplicationTests.withCluster(2) { cluster in
            try cluster.start(0)
            try cluster.start(1)
            try await cluster.waitUntilActive([0, 1])
            let ledger = AckLedger()
            var rng = SeededRandomNumberGenerator(seed: 0xBEEF)
            let load = Task { await Self.load(cluster, on: 0, ledger, seed: 99) }
            for _ in 0..<Self.rounds {
                // Uploads move the sync timestamps and statistics the tracker saves.
                try await Self.waitForAcknowledgements(ledger, beyond: ledger.acknowledged, Int.random(in: 1...60, using: &rng), cluster)
                cluster.killTracker()
                try cluster.startTracker()
                try await cluster.waitUntilActive([0, 1])
            }
            load.cancel()
            await load.value
            let trackerLog = (try? String(contentsOfFile: cluster.directory + "/tracker.log", encoding: .utf8)) ?? ""
            #expect(!trackerLog.contains("data file problem"), "a data file was torn:\n\(trackerLog)")
            // Both members hold every acknowledged file.
            let files = ledger.state.withLock { $0.files }
            try await cluster.waitForFiles(files, on: 1, timeout: .seconds(60))
            print("crash-restart: tracker killed \(Self.rounds) times; \(files.count) files on both members")
        }
    }
}

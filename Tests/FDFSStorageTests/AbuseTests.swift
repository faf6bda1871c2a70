import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSTesting
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Counts the bytes a probe connection receives.
final class ReceivedBytes: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let count = Atomic<Int>(0)
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count.add(unwrapInboundIn(data).readableBytes, ordering: .relaxed)
    }
}

/// One raw connection of an attack: its channel, what it received, when the server closed it.
struct Probe: Sendable {
    let channel: any Channel
    let received: ReceivedBytes
    let closedAt = ClosedAt()

    final class ClosedAt: Sendable {
        private let value = Mutex<ContinuousClock.Instant?>(nil)
        func withLock<T>(_ body: (inout ContinuousClock.Instant?) -> T) -> T { value.withLock { body(&$0) } }
    }

    var isOpen: Bool { channel.isActive }

    static func connect(_ port: Int, from source: String? = nil) async throws -> Probe {
        let received = ReceivedBytes()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel = try await bootstrap
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(received) } }
            .connect(host: "127.0.0.1", port: port).get()
        return Probe(channel: channel, received: received)
    }

    init(channel: any Channel, received: ReceivedBytes) {
        self.channel = channel
        self.received = received
    }
}

/// Abuse of both daemons on loopback, each bounded in count and time (docs/security.md,
/// "Hostile input"): connection floods against `max_connections`, slowloris, absurd declared
/// lengths, random packets, a 1 KiB/s download. After each, a normal client is served.
@Suite(.serialized) struct AbuseTests {
    static let group = GroupCluster.group
    static let maxConnections = 1000
    static let networkTimeout = 10
    static let limits = ["max_connections": "\(maxConnections)", "network_timeout": "\(networkTimeout)", "allow_hosts": "127.0.0.[1-2]"]

    @Test("floods, slowloris, absurd lengths and random packets against both daemons; a slow reader pins no memory; normal use goes on")
    func abuse() async throws {
        try await ReplicationTests.withCluster(1, trackerSettings: Self.limits, storageSettings: { _ in Self.limits }) { cluster in
            try cluster.start(0)
            try await cluster.waitUntilActive([0])
            try await run(cluster)
        }
    }

    func run(_ cluster: GroupCluster) async throws {
        let ports = [("tracker", cluster.trackerPort), ("storage", cluster.storagePorts[0])]
        try await normalUse(cluster)

        // allow_hosts = 127.0.0.[1-2]: 127.0.0.9 is closed at accept with no byte; 127.0.0.2 is served.
        for (name, port) in ports {
            let outsider = try await Probe.connect(port, from: "127.0.0.9")
            let deadline = ContinuousClock.now + .seconds(3)
            while outsider.isOpen && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!outsider.isOpen && outsider.received.count.load(ordering: .relaxed) == 0, "\(name): 127.0.0.9 was not refused")
            let insider = try await FDFSClientConnection.connect(host: "127.0.0.1", port: port, bindAddress: "127.0.0.2")
            _ = try await insider.request(ActiveTestRequest())
            await insider.close()
        }

        // 2,000 idle connections per daemon (both at once).
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (name, port) in ports { tasks.addTask { try await Self.idleFlood(name, port) } }
            try await tasks.waitForAll()
        }
        try cluster.checkRunning()
        try await normalUse(cluster)

        // 500 slowloris connections per daemon: client queries of 26 and 60 bytes, a byte a second.
        var trackerQuery = QueryStoreWithGroupOneRequest(group: Self.group).requestPacket()
        var storageQuery = QueryFileInfoRequest(group: Self.group, filename: "M00/00/00/fwAAAWsUWASAJMphAAAQAZyGz6M5850205").requestPacket()
        let packets = [trackerQuery.readBytes(length: trackerQuery.readableBytes)!, storageQuery.readBytes(length: storageQuery.readableBytes)!]
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (i, (name, port)) in ports.enumerated() { tasks.addTask { try await Self.slowloris(name, port, packet: packets[i]) } }
            try await tasks.waitForAll()
        }
        try cluster.checkRunning()
        try await normalUse(cluster)

        // Declared lengths of 2^62 and below zero, on a buffered command and on an upload.
        let storagePID = try #require(cluster.storages[0]?.processIdentifier)
        let before = DaemonCluster.rssMiB(storagePID)
        for (name, port) in ports {
            for length in [Int64(1) << 62, -1, Int64.min, Int64.max] {
                try await Self.expectClosed("\(name): ACTIVE_TEST declaring \(length) bytes", port,
                                            Self.header(length: length, command: ActiveTestRequest.command))
            }
        }
        var upload = UploadFileRequest(storePathIndex: 0, fileSize: 1 << 62, fileExtension: "bin").requestPacket()
        try await Self.expectClosed("storage: UPLOAD_FILE of 2^62 bytes", cluster.storagePorts[0], upload.readBytes(length: upload.readableBytes)!,
                                    sendMore: 64 * 1024)
        let after = DaemonCluster.rssMiB(storagePID)
        #expect(after - before < 20, "storage RSS \(before) -> \(after) MiB after the absurd lengths")
        try cluster.checkRunning()
        try await normalUse(cluster)

        // 10,000 random packets per daemon.
        for (i, (name, port)) in ports.enumerated() {
            let sent = try await Self.randomPackets(port, count: 10_000, seed: 0xF00D + UInt64(i))
            print("abuse: \(name): \(sent.packets) random packets on \(sent.connections) connections")
            try cluster.checkRunning()
        }
        try await normalUse(cluster)

        // A 64 MiB download read at 1 KiB/s: the storage's memory stays flat.
        try await slowReader(cluster, pid: storagePID)
        try cluster.checkRunning()
        try await normalUse(cluster)
    }

    /// An upload and its download on the storage, and a routing answer and a list from the tracker.
    func normalUse(_ cluster: GroupCluster) async throws {
        var rng = SystemRandomNumberGenerator()
        let content = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let client = try await cluster.client(0)
        let id = try await client.uploadFile(.bytes(content), fileExtension: "txt").fileID()
        #expect(try await client.downloadFile(id) == content)
        await client.close()
        let tracker = try await FDFSClientConnection.connect(host: "127.0.0.1", port: cluster.trackerPort, connectTimeout: .seconds(5))
        #expect(try await tracker.request(QueryStoreWithGroupOneRequest(group: Self.group)).storage.port == cluster.storagePorts[0])
        #expect(try await tracker.request(ListAllGroupsRequest()).groups.map(\.groupName) == ["group1"])
        await tracker.close()
    }

    static func header(length: Int64, command: UInt8) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(length, endianness: .big)
        b.writeInteger(command)
        b.writeInteger(UInt8(0))
        return Array(b.readableBytesView)
    }

    /// 2,000 connections, each of which sends one ACTIVE_TEST and then idles (a connection
    /// that completed a request may idle as long as it likes): those beyond `max_connections`
    /// are closed at accept with no byte, the others are answered and kept; one more is
    /// refused while they are held; once they close, new connections are served.
    static func idleFlood(_ name: String, _ port: Int) async throws {
        let started = ContinuousClock.now
        let activeTest = ByteBuffer(bytes: header(length: 0, command: ActiveTestRequest.command))
        var probes: [Probe] = []
        for _ in 0..<40 {
            probes += try await withThrowingTaskGroup(of: Probe.self) { batch in
                for _ in 0..<50 {
                    batch.addTask {
                        let p = try await Probe.connect(port)
                        p.channel.writeAndFlush(activeTest, promise: nil)
                        return p
                    }
                }
                return try await batch.reduce(into: []) { $0.append($1) }
            }
        }
        let opened = ContinuousClock.now - started
        func answered(_ p: Probe) -> Bool { p.received.count.load(ordering: .relaxed) >= FDFSHeader.size }
        let settle = ContinuousClock.now + .seconds(30)
        while probes.contains(where: { $0.isOpen && !answered($0) }) && ContinuousClock.now < settle { try await Task.sleep(for: .milliseconds(50)) }
        let admitted = probes.count(where: answered)
        let refused = probes.count { !$0.isOpen && $0.received.count.load(ordering: .relaxed) == 0 }
        // The storage's own connection to the tracker counts against the tracker's limit.
        #expect(admitted <= maxConnections && admitted >= maxConnections - 5, "\(name): \(admitted) of 2,000 connections admitted")
        #expect(admitted + refused == 2000, "\(name): \(admitted) admitted, \(refused) refused with no byte, of 2,000")
        let dropped = probes.count { answered($0) && !$0.isOpen }
        #expect(dropped == 0, "\(name): \(dropped) admitted idle connections were closed")
        let extra = try await Probe.connect(port)
        let extraDeadline = ContinuousClock.now + .seconds(5)
        while extra.isOpen && ContinuousClock.now < extraDeadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!extra.isOpen && extra.received.count.load(ordering: .relaxed) == 0, "\(name): the 2,001st connection was not refused")
        for p in probes { try? await p.channel.close() }
        // The server sees the closes in a moment; then a new connection is served.
        let deadline = ContinuousClock.now + .seconds(10)
        var served = false
        while !served && ContinuousClock.now < deadline {
            let link = try? await FDFSClientConnection.connect(host: "127.0.0.1", port: port, connectTimeout: .seconds(2))
            served = (try? await link?.request(ActiveTestRequest())) != nil
            await link?.close()
            if !served { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(served, "\(name): no connection served after the flood closed")
        print("abuse: \(name): 2,000 connections opened in \(opened), \(admitted) admitted and held, \(refused) refused at accept")
    }

    /// 500 connections sending `packet` a byte a second: each is closed within the network
    /// timeout of its first byte, unanswered.
    static func slowloris(_ name: String, _ port: Int, packet: [UInt8]) async throws {
        var probes: [Probe] = []
        for _ in 0..<500 {
            let p = try await Probe.connect(port)
            p.channel.closeFuture.whenComplete { _ in p.closedAt.withLock { $0 = .now } }
            probes.append(p)
        }
        let started = ContinuousClock.now
        var index = 0
        while probes.contains(where: \.isOpen) && index < packet.count && ContinuousClock.now - started < .seconds(networkTimeout + 10) {
            for p in probes where p.isOpen { p.channel.writeAndFlush(ByteBuffer(bytes: [packet[index]]), promise: nil) }
            index += 1
            try await Task.sleep(for: .seconds(1))
        }
        let open = probes.count(where: \.isOpen)
        let longest = probes.compactMap { $0.closedAt.withLock { $0 } }.map { $0 - started }.max() ?? .zero
        #expect(open == 0, "\(name): \(open) slowloris connections still open after \(index) bytes")
        #expect(longest < .seconds(networkTimeout + 5), "\(name): a slowloris connection lived \(longest)")
        #expect(probes.allSatisfy { $0.received.count.load(ordering: .relaxed) == 0 }, "\(name): a slowloris packet was answered")
        print("abuse: \(name): 500 slowloris connections closed after \(index) of \(packet.count) bytes, the last after \(longest)")
        for p in probes { try? await p.channel.close() }
    }

    /// Sends `bytes` (then `sendMore` zero bytes) and expects the server to close the
    /// connection within the network timeout and a margin.
    static func expectClosed(_ what: String, _ port: Int, _ bytes: [UInt8], sendMore: Int = 0) async throws {
        let p = try await Probe.connect(port)
        try await p.channel.writeAndFlush(ByteBuffer(bytes: bytes))
        if sendMore > 0 { try? await p.channel.writeAndFlush(ByteBuffer(repeating: 0, count: sendMore)) }
        let deadline = ContinuousClock.now + .seconds(networkTimeout + 5)
        while p.isOpen && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!p.isOpen, "\(what): the connection stayed open")
        try? await p.channel.close()
    }

    /// `count` packets: half random bytes, half a header for a random command of the daemon
    /// with a random body of the declared length; 20 connections, reopened when closed.
    static func randomPackets(_ port: Int, count: Int, seed: UInt64) async throws -> (packets: Int, connections: Int) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var probes: [Probe] = []
        for _ in 0..<20 { probes.append(try await Probe.connect(port)) }
        var connections = 20
        let codes = CommandRegistry.commands(for: .tracker).map(\.code) + CommandRegistry.commands(for: .storage).map(\.code)
        for i in 0..<count {
            let slot = i % probes.count
            if !probes[slot].isOpen {
                try? await probes[slot].channel.close()
                probes[slot] = try await Probe.connect(port)
                connections += 1
            }
            var packet: [UInt8]
            if Bool.random(using: &rng) {
                packet = (0..<Int.random(in: 1...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                let body = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                packet = header(length: Int64(body.count), command: codes.randomElement(using: &rng)!) + body
            }
            // Wait for each write: a server that stopped reading must not make us buffer.
            try? await probes[slot].channel.writeAndFlush(ByteBuffer(bytes: packet))
        }
        for p in probes { try? await p.channel.close() }
        return (count, connections)
    }

    /// A 64 MiB file downloaded by a reader that takes 1 KiB a second for 8 s.
    func slowReader(_ cluster: GroupCluster, pid: Int32) async throws {
        let content = [UInt8](repeating: 0x5A, count: 64 << 20)
        let client = try await cluster.client(0)
        let id = try await client.uploadFile(.bytes(content), fileExtension: "bin").fileID()
        await client.close()
        let before = DaemonCluster.rssMiB(pid)
        let reader = try await HTTPTestConnection.open(port: cluster.storagePorts[0])
        var request = DownloadFileRequest(group: id.group, filename: id.remoteFilename.text).requestPacket()
        let bytes = request.readBytes(length: request.readableBytes)!
        try await onOwnThread { try reader.send(bytes: bytes) }
        var peak = before
        var read = 0
        for _ in 0..<8 {
            read += try await reader.readSomeAsync(1024).count
            try await Task.sleep(for: .seconds(1))
            peak = max(peak, DaemonCluster.rssMiB(pid))
        }
        #expect(peak - before < 20, "storage RSS \(before) -> \(peak) MiB while a reader takes 1 KiB/s")
        print("abuse: 64 MiB download read at 1 KiB/s for 8 s (\(read) bytes): storage RSS \(before) -> peak \(peak) MiB")
    }
}

extension DaemonCluster {
    /// VmRSS of a process in MiB (0 when it cannot be read).
    static func rssMiB(_ pid: Int32) -> Int { Int(((try? rss(pid: pid)) ?? 0) / (1 << 20)) }
}

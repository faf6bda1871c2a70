import FDFSClient
import FDFSModel
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// The storages' HTTP port in a live group of two: both URL forms, ranges and validators,
/// clients we did not write (curl, Python's urllib), a 302 to the member that has a file, and
/// /healthz.
@Suite struct StorageHTTPTests {
    @Test func filesOverHTTPFromALiveGroup() async throws {
        try await ReplicationTests.withCluster(2, httpPortOffset: 4000) { try await serve($0) }
    }

    func serve(_ cluster: GroupCluster) async throws {
        try cluster.start(0)
        try cluster.start(1)
        try await cluster.waitUntilActive([0, 1])
        for port in cluster.httpPorts + [cluster.trackerHTTPPort!] { try await waitForHealth(port, cluster) }
        try await metricsMoveExactly(cluster)
        let trackerFile = try await HTTPTestConnection.open(port: cluster.trackerHTTPPort!).fetch("GET", "/group1/M00/00/00/x.txt")
        #expect(trackerFile.status == 404)  // a tracker serves no files

        var rng = SeededRandomNumberGenerator(seed: 81)
        let bytes = rng.bytes(300_000)
        let client = try await cluster.client(0)
        let name = try await client.uploadFile(.bytes(bytes), fileExtension: "txt").remoteFilename
        await client.close()
        try await cluster.waitForFiles([name: (Int64(bytes.count), CRC32.checksum(bytes))], on: 1)

        let http0 = cluster.httpPorts[0], http1 = cluster.httpPorts[1]
        let c = try await HTTPTestConnection.open(port: http0)
        let whole = try await c.fetch("GET", "/group1/" + name)
        #expect(whole.status == 200 && whole.body == bytes)
        #expect(whole.header("ETag") != nil && whole.header("Last-Modified") != nil && whole.header("Accept-Ranges") == "bytes")
        #expect(try await c.fetch("GET", "/" + name).body == bytes)
        #expect(try await c.fetch("HEAD", "/group1/" + name).header("Content-Length") == "300000")
        let part = try await c.fetch("GET", "/group1/" + name, headers: [("Range", "bytes=1000-1999")])
        #expect(part.status == 206 && part.body == Array(bytes[1000...1999]))
        #expect(try await c.fetch("GET", "/group1/" + name, headers: [("If-None-Match", whole.header("ETag")!)]).status == 304)
        #expect(try await HTTPTestConnection.open(port: http1).fetch("GET", "/group1/" + name).body == bytes)  // the replica serves too

        // Clients we did not write.
        let url = "http://127.0.0.1:\(http0)/group1/\(name)"
        let curl = try await run("curl", ["-s", "-f", "-o", "-", url])
        #expect(curl.status == 0 && Array(curl.output) == bytes)
        let curlRange = try await run("curl", ["-s", "-f", "-r", "-100", "-o", "-", url])
        #expect(Array(curlRange.output) == Array(bytes.suffix(100)))
        let python = try await run("python3", ["-c", """
            import sys, urllib.request, zlib
            r = urllib.request.urlopen(sys.argv[1])
            body = r.read()
            print(r.status, r.headers["Content-Length"], r.headers.get_content_type(), len(body), zlib.crc32(body))
            """, url])
        #expect(String(decoding: python.output, as: UTF8.self) == "200 300000 application/octet-stream 300000 \(CRC32.checksum(bytes))\n")

        // A member that does not have the file (its copy removed, as before it arrives):
        // a 302 to the one that has it, and following it gives the bytes.
        let rf = try RemoteFilename(parsing: name)
        try FileManager.default.removeItem(atPath: cluster.storePath(1) + "/" + rf.relativePath)
        let moved = try await HTTPTestConnection.open(port: http1).fetch("GET", "/group1/" + name + "?filename=a.txt")
        #expect(moved.status == 302)
        #expect(moved.header("Location") == "http://127.0.0.1:\(http0)/group1/\(name)?filename=a.txt&redirect=1")
        let followed = try await run("curl", ["-s", "-f", "-L", "-o", "-", "http://127.0.0.1:\(http1)/\(name)"])
        #expect(followed.status == 0 && Array(followed.output) == bytes)
        #expect(try await HTTPTestConnection.open(port: http1).fetch("GET", "/group1/" + name + "?redirect=1").status == 404)

        try await bigFileKeepsMemoryFlat(cluster, near: name)
        try await redirectBeforeThePeerHasTheFile(cluster)
    }

    /// Storage 0 holds its pushes (restarted with a sync window that excludes now): a file
    /// uploaded to it never reaches storage 1, whose HTTP port answers with a 302 to storage 0
    /// (the tracker names only the member that has it); following the redirect gives the bytes.
    func redirectBeforeThePeerHasTheFile(_ cluster: GroupCluster) async throws {
        await cluster.stop(0)
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        let hour = Int(parts.tm_hour)
        let text = try String(contentsOfFile: cluster.configPath(0), encoding: .utf8)
        try DaemonCluster.override(text, [
            "sync_start_time": String(format: "%02d:00", (hour + 2) % 24), "sync_end_time": String(format: "%02d:00", (hour + 3) % 24),
        ]).write(toFile: cluster.configPath(0), atomically: true, encoding: .utf8)
        try cluster.start(0)
        try await cluster.waitUntilActive([0, 1])
        try await waitForHealth(cluster.httpPorts[0], cluster)

        var rng = SeededRandomNumberGenerator(seed: 82)
        let bytes = rng.bytes(50_000)
        let client = try await cluster.client(0)
        let name = try await client.uploadFile(.bytes(bytes), fileExtension: "txt").remoteFilename
        await client.close()
        let peer = try await cluster.client(1)
        #expect(try await peer.fileExists(ReplicationTests.fileID(name)) == false)
        await peer.close()
        let http0 = cluster.httpPorts[0], http1 = cluster.httpPorts[1]
        let moved = try await HTTPTestConnection.open(port: http1).fetch("GET", "/group1/" + name)
        #expect(moved.status == 302)
        #expect(moved.header("Location") == "http://127.0.0.1:\(http0)/group1/\(name)?redirect=1")
        let followed = try await run("curl", ["-s", "-f", "-L", "-o", "-", "http://127.0.0.1:\(http1)/group1/\(name)"])
        #expect(followed.status == 0 && Array(followed.output) == bytes)
    }

    /// A 1 GiB file (sparse, put straight into the store path) read whole, and by a reader
    /// that takes 1 KiB a second: the storage's resident memory stays under 100 MiB.
    func bigFileKeepsMemoryFlat(_ cluster: GroupCluster, near name: String) async throws {
        var rf = try RemoteFilename(parsing: name)
        let bigName = rf.text.replacingOccurrences(of: ".txt", with: ".bin")
        rf = try RemoteFilename(parsing: bigName)
        let path = cluster.storePath(0) + "/" + rf.relativePath
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 1 << 30)
        try handle.close()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pid = cluster.storages[0]!.processIdentifier
        let c = try await HTTPTestConnection.open(port: cluster.httpPorts[0])
        try await c.sendAsync("GET /group1/\(bigName) HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try await c.readResponseAsync(discardBody: true)
        #expect(r.status == 200 && r.header("Content-Length") == "\(1 << 30)")
        #expect(residentMiB(pid) < 100, "storage RSS \(residentMiB(pid)) MiB after serving 1 GiB")
        // A slow reader: 1 KiB a second for 3 s while the storage holds the rest back.
        let slow = try await HTTPTestConnection.open(port: cluster.httpPorts[0])
        try await slow.sendAsync("GET /group1/\(bigName) HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in 0..<3 {
            _ = try await slow.readSomeAsync(1024)
            try await Task.sleep(for: .seconds(1))
            #expect(residentMiB(pid) < 100, "storage RSS \(residentMiB(pid)) MiB with a slow reader")
        }
    }

    /// VmRSS of a process, in MiB.
    func residentMiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    func waitForHealth(_ port: Int, _ cluster: GroupCluster) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var last = ""
        // Five more checks after the deadline: a task starved by CPU-bound tests may wake up
        // past it, and its first call may time out.
        var lateChecks = 0
        while true {
            if let r = try? await HTTPTestConnection.open(port: port).fetch("GET", "/healthz") {
                if r.status == 200 { return }
                last = "\(r.status) " + String(decoding: r.body, as: UTF8.self)
            }
            if ContinuousClock.now >= deadline { lateChecks += 1; if lateChecks >= 5 { break } }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DaemonError("/healthz on port \(port) not 200 within 30 s (last: \(last))\n" + cluster.logs())
    }

    /// Runs a program found on PATH (on a thread of its own); its standard output and exit status.
    func run(_ program: String, _ arguments: [String]) async throws -> (status: Int32, output: Data) {
        try await onOwnThread { try Self.runBlocking(program, arguments) }
    }

    static func runBlocking(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}

import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSServerCore
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import FDFSStorage

/// A storage server (the real handler and store) on 127.0.0.1 port 0.
struct RunningStorage: Sendable {
    let port: Int
    let base: String
    let store: StorageStore

    func client() async throws -> FDFSClientConnection { try await FDFSClientConnection.connect(host: "127.0.0.1", port: port) }

    /// Everything in the store path's data directories that is a file (uploads and leftovers).
    func files() throws -> [String] {
        let root = base + "/store0/data"
        return (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    func binlog() throws -> String { (try? String(contentsOfFile: base + "/data/sync/binlog.000", encoding: .utf8)) ?? "" }
}

func withStorage<T: Sendable>(hasSpace: @escaping @Sendable (PathSpace) -> Bool = { _ in true }, stats: StorageStats = StorageStats(),
                              now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                              networkTimeout: Duration = .seconds(2), catalogCoalesceDelay: Duration = .milliseconds(2),
                              _ body: @Sendable (RunningStorage) async throws -> T) async throws -> T {
    let base = try temporaryDirectory()
    let paths = StorePaths(paths: [StorePath(path: base + "/store0")], subdirCount: 2)
    try paths.createDirectories()
    try FileManager.default.createDirectory(atPath: base + "/data", withIntermediateDirectories: true)
    let catalog = CatalogWriter(catalog: try FileCatalog(path: StorageStore.catalogPath(basePath: base)), coalesceDelay: catalogCoalesceDelay)
    let store = try StorageStore(group: try GroupName("group1"), source: .ipv4(IPv4Address(127, 0, 0, 2)), paths: paths,
                                 cursor: SubdirectoryCursor(subdirCount: 2, rotateCount: 2), basePath: base, catalog: catalog,
                                 hasSpace: hasSpace)
    var logger = Logger(label: "test.storage")
    logger.logLevel = .critical
    let server = FDFSServer(settings: ServerSettings(host: "127.0.0.1", port: 0, networkTimeout: networkTimeout, framingPolicy: .server(.storage)),
                            handler: StorageConnectionHandler(store: store, now: now, stats: stats), logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await server.run() }
        defer { tasks.cancelAll() }
        guard let port = try await server.waitUntilListening().port else { throw CancellationError() }
        return try await body(RunningStorage(port: port, base: base, store: store))
    }
}

func uploadPacket(_ content: [UInt8], ext: String = "txt", appender: Bool = false, storePath: Int8 = -1) -> ByteBuffer {
    var packet = appender
        ? UploadAppenderFileRequest(storePathIndex: storePath, fileSize: Int64(content.count), fileExtension: ext).requestPacket()
        : UploadFileRequest(storePathIndex: storePath, fileSize: Int64(content.count), fileExtension: ext).requestPacket()
    packet.writeBytes(content)
    return packet
}

@Suite(.serialized) struct StorageServingTests {
    static let group = try! GroupName("group1")

    @Test func uploadDownloadInfoDelete() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let hello = Array("hello world".utf8)
            let response = try await client.send(uploadPacket(hello))
            #expect(response.header.status == 0)
            let upload = try UploadResponse.decode(body: response.body, command: 11)
            let name = try RemoteFilename(parsing: upload.remoteFilename)
            #expect(upload.group == Self.group && name.sizeFromName == 11 && name.block.crc32 == 0x0D4A_1185)
            #expect(name.block.source == .ipv4(IPv4Address(127, 0, 0, 2)) && name.fileExtension == "txt")
            // Whole, offset, offset + length.
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == hello)
            #expect(try await client.request(DownloadFileRequest(offset: 6, group: Self.group, filename: name.text)).bytes == Array("world".utf8))
            #expect(try await client.request(DownloadFileRequest(offset: 2, count: 3, group: Self.group, filename: name.text)).bytes == Array("llo".utf8))
            let info = try await client.request(QueryFileInfoRequest(group: Self.group, filename: name.text))
            #expect(info.fileSize == 11 && info.crc32 == 0x0D4A_1185 && info.sourceIPAddress == "127.0.0.2")
            _ = try await client.request(DeleteFileRequest(group: Self.group, filename: name.text))
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)) }
            #expect(try storage.binlog().split(separator: "\n").map { $0.split(separator: " ").dropFirst().joined(separator: " ") }
                    == ["C \(name.text)", "D \(name.text)"])
            await client.close()
        }
    }

    @Test func appenderUploadsAndEmptyFiles() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let response = try await client.send(uploadPacket(Array("log".utf8), ext: "log", appender: true))
            let name = try RemoteFilename(parsing: try UploadResponse.decode(body: response.body, command: 23).remoteFilename)
            #expect(name.kind == .appender)
            let info = try await client.request(QueryFileInfoRequest(group: Self.group, filename: name.text))
            #expect(info.fileSize == 3 && info.crc32 == CRC32.checksum(Array("log".utf8)), "appender CRC is computed")
            let empty = try await client.send(uploadPacket([], ext: ""))
            #expect(empty.header.status == 0)
            let emptyName = try RemoteFilename(parsing: try UploadResponse.decode(body: empty.body, command: 11).remoteFilename)
            #expect(emptyName.sizeFromName == 0)
            // An empty file downloads as an empty body (the C storage answers EINVAL).
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: emptyName.text)).bytes == [])
            #expect(try await client.send(DownloadFileRequest(offset: 1, group: Self.group, filename: emptyName.text).requestPacket()).header.status
                == FDFSStatus.EINVAL.rawValue)
            await client.close()
        }
    }

    @Test func badRequestsGetTheirStatusAndTouchNothing() async throws {
        try await withStorage { storage in
            let good = try await storage.client()
            let name = try RemoteFilename(parsing: try UploadResponse.decode(body: try await good.send(uploadPacket([1, 2, 3])).body, command: 11).remoteFilename)
            let before = try storage.files()
            for (request, status) in [
                (DownloadFileRequest(group: try GroupName("group2"), filename: name.text) as any FDFSRequest, FDFSStatus.EINVAL),
                (DownloadFileRequest(group: Self.group, filename: "M00/00/00/../../../../etc/passwd") as any FDFSRequest, .EINVAL),
                (DownloadFileRequest(offset: 3, group: Self.group, filename: name.text) as any FDFSRequest, .EINVAL),
                (DeleteFileRequest(group: Self.group, filename: "M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg") as any FDFSRequest, .ENOENT),
                // Malformed ids: bad directory, short name, store path out of range, bad base64.
                (DownloadFileRequest(group: Self.group, filename: "M00/ZZ/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg") as any FDFSRequest, .EINVAL),
                (QueryFileInfoRequest(group: Self.group, filename: "M00/00/00/short") as any FDFSRequest, .EINVAL),
                (DeleteFileRequest(group: Self.group, filename: "M05/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg") as any FDFSRequest, .EINVAL),
                (GetMetadataRequest(group: Self.group, filename: "M00/00/00/wKgB*mVT8QCAEjRWAAAACw1KEYU123.jpg") as any FDFSRequest, .EINVAL),
            ] {
                let client = try await storage.client()
                let response = try await client.send(request.requestPacket())
                #expect(response.header.status == status.rawValue, "\(request)")
                await client.close()
            }
            let badExt = try await storage.client()
            #expect(try await badExt.send(uploadPacket([1], ext: "a b")).header.status == FDFSStatus.EINVAL.rawValue)
            await badExt.close()
            #expect(try storage.files() == before, "nothing was written or removed")
            // The server still serves a normal request.
            #expect(try await good.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == [1, 2, 3])
            await good.close()
        }
    }

    @Test func noSpaceMeansENOSPCAndNothingWritten() async throws {
        try await withStorage(hasSpace: { _ in false }) { storage in
            let client = try await storage.client()
            #expect(try await client.send(uploadPacket([1, 2, 3])).header.status == FDFSStatus.ENOSPC.rawValue)
            let (files, binlog) = (try storage.files(), try storage.binlog())
            #expect(files.isEmpty && binlog.isEmpty)
            await client.close()
        }
    }

    @Test func anUploadCutHalfwayLeavesNoTrace() async throws {
        try await withStorage { storage in
            var packet = UploadFileRequest(storePathIndex: -1, fileSize: 100_000, fileExtension: "bin").requestPacket()
            packet.writeBytes([UInt8](repeating: 7, count: 50_000))
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: storage.port).get()
            try await channel.writeAndFlush(packet).get()
            try await Task.sleep(for: .milliseconds(200))
            try await channel.close().get()
            var leftovers = try storage.files()
            for _ in 0..<20 where !leftovers.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                leftovers = try storage.files()
            }
            let binlog = try storage.binlog()
            #expect(leftovers.isEmpty && binlog.isEmpty)
        }
    }

    @Test func appendModifyTruncate() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let upload = try await client.send(uploadPacket(Array("hello".utf8), ext: "log", appender: true))
            let name = try RemoteFilename(parsing: try UploadResponse.decode(body: upload.body, command: 23).remoteFilename)
            var append = AppendFileRequest(filename: name.text, appendSize: 6).requestPacket()
            append.writeBytes(Array(" world".utf8))
            #expect(try await client.send(append).header.status == 0)
            var modify = ModifyFileRequest(filename: name.text, offset: 0, modifySize: 1).requestPacket()
            modify.writeBytes(Array("H".utf8))
            #expect(try await client.send(modify).header.status == 0)
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == Array("Hello world".utf8))
            _ = try await client.request(TruncateFileRequest(filename: name.text, newSize: 5))
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: name.text)).bytes == Array("Hello".utf8))
            let ops = try storage.binlog().split(separator: "\n").map { $0.split(separator: " ").dropFirst().joined(separator: " ") }
            #expect(ops == ["C \(name.text)", "A \(name.text) 5 6", "M \(name.text) 0 1", "T \(name.text) 11 5"])
            await client.close()
            // Errors: a normal file is not an appender (EINVAL), a missing file is ENOENT, an
            // offset past the end is EINVAL.
            let plain = try await storage.client()
            let normal = try RemoteFilename(parsing: try UploadResponse.decode(body: try await plain.send(uploadPacket([1])).body, command: 11).remoteFilename)
            #expect(try await plain.send(TruncateFileRequest(filename: normal.text, newSize: 0).requestPacket()).header.status == FDFSStatus.EINVAL.rawValue)
            await plain.close()
            let missing = try await storage.client()
            let gone = name.text.replacingOccurrences(of: "M00/", with: "M00/").dropLast(3) + "xyz"
            var appendMissing = AppendFileRequest(filename: String(gone), appendSize: 1).requestPacket()
            appendMissing.writeBytes([1])
            #expect(try await missing.send(appendMissing).header.status == FDFSStatus.ENOENT.rawValue)
            await missing.close()
            let past = try await storage.client()
            var modifyPast = ModifyFileRequest(filename: name.text, offset: 99, modifySize: 1).requestPacket()
            modifyPast.writeBytes([1])
            #expect(try await past.send(modifyPast).header.status == FDFSStatus.EINVAL.rawValue)
            await past.close()
        }
    }

    @Test func slaveFiles() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let master = try RemoteFilename(parsing: try UploadResponse.decode(body: try await client.send(uploadPacket(Array("master".utf8), ext: "jpg")).body, command: 11).remoteFilename)
            func slavePacket(_ prefix: String, _ content: [UInt8], master: String) -> ByteBuffer {
                var p = UploadSlaveFileRequest(masterFilename: master, fileSize: Int64(content.count), prefix: prefix, fileExtension: "jpg").requestPacket()
                p.writeBytes(content)
                return p
            }
            let response = try await client.send(slavePacket("_150x150", Array("thumb".utf8), master: master.text))
            #expect(response.header.status == 0)
            let slave = try UploadResponse.decode(body: response.body, command: 21).remoteFilename
            let expected = try master.slaveName(prefix: "_150x150", extension: "jpg").text
            #expect(slave == expected)
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: slave)).bytes == Array("thumb".utf8))
            // The same slave again: EEXIST, the connection stays usable.
            #expect(try await client.send(slavePacket("_150x150", [1], master: master.text)).header.status == FDFSStatus.EEXIST.rawValue)
            _ = try await client.request(ActiveTestRequest())
            await client.close()
            let other = try await storage.client()
            let missingMaster = String(master.text.dropLast(3)) + "png"
            #expect(try await other.send(slavePacket("_s", [1], master: missingMaster)).header.status == FDFSStatus.ENOENT.rawValue)
            await other.close()
        }
    }

    @Test func regenerateAppenderName() async throws {
        try await withStorage { storage in
            let client = try await storage.client()
            let appender = try RemoteFilename(parsing: try UploadResponse.decode(body: try await client.send(uploadPacket(Array("abc".utf8), ext: "", appender: true)).body, command: 23).remoteFilename)
            let regenerated = try RemoteFilename(parsing: try await client.request(RegenerateAppenderFilenameRequest(filename: appender.text)).remoteFilename)
            #expect(regenerated.kind == .normal && regenerated.sizeFromName == 3 && regenerated.block.crc32 == CRC32.checksum(Array("abc".utf8)))
            #expect(regenerated.name.suffix(7) == appender.name.suffix(7), "same suffix")
            #expect(try await client.request(DownloadFileRequest(group: Self.group, filename: regenerated.text)).bytes == Array("abc".utf8))
            await #expect(throws: FDFSClientError.status(.ENOENT)) { try await client.request(DownloadFileRequest(group: Self.group, filename: appender.text)) }
            #expect(try storage.binlog().contains("R \(regenerated.text) \(appender.text)"))
            await client.close()
        }
    }
}


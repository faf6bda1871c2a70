import FDFSFileSystem
import FDFSTesting
import Foundation
import Testing
@testable import FDFSStorageEngine

@Suite struct UploadFileTests {
    @Test("leftovers of another process are recognised; ours, data files and other names are not")
    func leftoverNames() {
        #expect(UploadFile.isLeftover(".up4242-17.tmp", ownPID: 1))
        #expect(UploadFile.isLeftover(".slave7-1.tmp", ownPID: 1))
        #expect(UploadFile.isLeftover(".cp99-0.tmp", ownPID: 1))
        #expect(!UploadFile.isLeftover(".up1-3.tmp", ownPID: 1))
        for name in ["fwAAAWsUWASAJMphAAAQAZyGz6M5850205.txt", ".up12-3.tmpx", "up12-3.tmp", ".up-3.tmp", ".up12-.tmp", ".fastdfs_vars", ".tmp"] {
            #expect(!UploadFile.isLeftover(name, ownPID: 1), "\(name)")
        }
    }

    @Test("removeLeftovers empties every data subdirectory of other processes' temporary files, and only of those")
    func leftoversAreRemoved() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = StorePaths(paths: [StorePath(path: dir + "/a"), StorePath(path: dir + "/b")], subdirCount: 2)
        _ = try paths.createDirectories()
        let own = getpid()
        let files = [("a", "00/01", ".up1-1.tmp", true), ("a", "01/01", ".slave2-5.tmp", true), ("b", "01/00", ".cp3-9.tmp", true),
                     ("b", "00/00", ".up\(own)-1.tmp", false), ("a", "00/00", "fwAAAWsUWASAJMphAAAQAZyGz6M5850205.txt", false)]
        for (p, sub, name, _) in files { FileManager.default.createFile(atPath: "\(dir)/\(p)/data/\(sub)/\(name)", contents: Data([1])) }
        #expect(UploadFile.removeLeftovers(in: paths, ownPID: own) == [2, 1])
        for (p, sub, name, removed) in files {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(p)/data/\(sub)/\(name)") == !removed, "\(p)/\(sub)/\(name)")
        }
        // replaceFile's temporaries.
        FileManager.default.createFile(atPath: dir + "/storage_stat.dat.tmp", contents: Data([1]))
        FileManager.default.createFile(atPath: dir + "/storage_stat.dat", contents: Data([1]))
        #expect(FileSystemCalls.removeStaleReplacements(in: dir) == ["storage_stat.dat.tmp"])
        #expect(FileManager.default.fileExists(atPath: dir + "/storage_stat.dat"))
    }

    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-upload-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test(arguments: [FileSyncPolicy(), FileSyncPolicy(afterWrittenBytes: 1000), FileSyncPolicy(beforeReply: true)])
    func chunksAreWrittenChecksummedAndCommitted(policy: FileSyncPolicy) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SeededRandomNumberGenerator(seed: 1)
        let content = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let upload = try UploadFile(directory: dir, tag: "u1", policy: policy)
        var offset = 0
        while offset < content.count {
            let n = min(content.count - offset, Int.random(in: 1...700, using: &rng))
            try upload.write(Array(content[offset..<(offset + n)]))
            offset += n
        }
        #expect(upload.writtenBytes == 5000 && upload.crc32 == CRC32.checksum(content))
        #expect(FileManager.default.fileExists(atPath: upload.temporaryPath))
        try upload.commit(as: "final.bin", modificationTime: 1_700_000_000)
        #expect(FileManager.default.contents(atPath: dir + "/final.bin") == Data(content))
        #expect(!FileManager.default.fileExists(atPath: upload.temporaryPath))
        let mtime = try FileManager.default.attributesOfItem(atPath: dir + "/final.bin")[.modificationDate] as? Date
        #expect(mtime?.timeIntervalSince1970 == 1_700_000_000)
    }

    @Test func abortAndDeinitLeaveNothing() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let upload = try UploadFile(directory: dir, tag: "a")
        try upload.write([1, 2, 3])
        upload.abort()
        do {
            let dropped = try UploadFile(directory: dir, tag: "b")
            try dropped.write([4])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "a disconnected upload leaves no trace")
    }

    @Test func anExistingNameIsNeverReplaced() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data([9]).write(to: URL(fileURLWithPath: dir + "/taken"))
        let upload = try UploadFile(directory: dir, tag: "c")
        try upload.write([1, 2])
        #expect(throws: FileSystemError.self) { try upload.commit(as: "taken") }
        #expect(FileManager.default.contents(atPath: dir + "/taken") == Data([9]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["taken"])
    }
}

import FDFSClient
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

/// The scrubber (docs/operations.md): damaged files are found and repaired from a peer.
@Suite(.serialized) struct ScrubTests {
    static let group = GroupCluster.group

    @Test("scrub: a flipped byte, a truncated file and a deleted one are repaired from the peer; unknown files are adopted or quarantined; the catalog agrees with the disk")
    func damagedFilesAreRepaired() async throws {
        try await ReplicationTests.withCluster(2, storageSettings: { _ in ["scrub_unknown_file_age": "0"] }) { cluster in
            try cluster.start(0)
            try cluster.start(1)
            try await cluster.waitUntilActive([0, 1])
            let client = try await cluster.client(0)
            var contents: [String: [UInt8]] = [:]
            for i in 0..<12 {
                let bytes = (0..<(1000 + i * 7919)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
                let id = try await client.uploadFile(.bytes(bytes), fileExtension: "bin").fileID()
                contents[id.remoteFilename.text] = bytes
            }
            await client.close()
            try await cluster.waitForFiles(contents.mapValues { (Int64($0.count), CRC32.checksum($0)) }, on: 1)
            // Behind B's back: one byte flipped, one file truncated, one deleted.
            let names = contents.keys.sorted()
            func path(_ name: String) throws -> String { cluster.storePath(1) + "/" + (try RemoteFilename(parsing: name)).relativePath }
            let flipped = try FileHandle(forUpdatingAtPath: try path(names[0])).unwrap()
            try flipped.seek(toOffset: 500)
            try flipped.write(contentsOf: Data([contents[names[0]]![500] ^ 0xFF]))
            try flipped.close()
            #expect(truncate(try path(names[1]), 100) == 0)
            #expect(unlink(try path(names[2])) == 0)
            // And two files the catalog does not know: a good copy under another directory
            // (its name still checks out), and junk.
            let original = try RemoteFilename(parsing: names[3])
            let otherLow = String(format: "%02X", (Int(original.subdirLow) + 1) % 16)
            let copyID = "M00/" + String(format: "%02X", Int(original.subdirHigh)) + "/" + otherLow + "/" + original.name
            try FileManager.default.copyItem(atPath: try path(names[3]), toPath: try path(copyID))
            let junk = cluster.storePath(1) + "/data/00/00/junk.txt"
            try Data("not a FastDFS file".utf8).write(to: URL(fileURLWithPath: junk))

            let run = try await ResyncTests.fdfs(["scrub", "group1", "--storage", "100002", "--wait", "--tracker", "127.0.0.1:\(cluster.trackerPort)"])
            #expect(run.status == 0 && run.output.contains("checked 12  damaged 3  repaired 3  unrepaired 0  adopted 1  quarantined 1"),
                    "\(run.output)\n\(cluster.log(1))")
            #expect(!FileManager.default.fileExists(atPath: junk))
            #expect(FileManager.default.fileExists(atPath: cluster.storePath(1) + "/data/.quarantine/M00_00_00_junk.txt"))
            #expect(FileManager.default.fileExists(atPath: try path(copyID)))
            // Every file on B is whole again, byte for byte.
            let b = try await cluster.client(1)
            for (name, bytes) in contents {
                let id = FileID(group: Self.group, remoteFilename: try RemoteFilename(parsing: name))
                #expect(try await b.downloadFile(id) == bytes, "\(name)")
            }
            await b.close()
            for problem in ["CRC32", "100 bytes instead of", "missing"] {
                #expect(cluster.log(1).contains(problem), "\(problem)")
            }
            // A second pass finds nothing.
            let again = try await ResyncTests.fdfs(["scrub", "group1", "--storage", "100002", "--wait", "--tracker", "127.0.0.1:\(cluster.trackerPort)"])
            #expect(again.output.contains("checked 13  damaged 0  repaired 0  unrepaired 0  adopted 0  quarantined 0"), "\(again.output)")
        }
    }
}

extension Optional {
    func unwrap() throws -> Wrapped {
        guard let self else { throw DaemonError("nil") }
        return self
    }
}

import ArgumentParser
import FDFSClient
import FDFSConfig
import FDFSHTTP
import FDFSModel
import FDFSProtocol
import Foundation

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a file ID encodes (source server, creation time, size, CRC32), what the storage says about the file, and its HTTP URL when a storage that has it serves HTTP.")

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The file's ID.") var fileID: String

    func validate() throws { _ = try parseFileID(fileID) }

    func run() async throws {
        let id = try parseFileID(fileID)
        let (info, storages, httpBase) = try await cluster.run(about: .file(id)) { client in
            let storages = try await client.storages(having: id)
            var base: String?
            for s in storages where base == nil { base = await client.httpBaseURL(of: s) }
            return (try await client.fileInfo(id), storages, base)
        }
        let name = id.remoteFilename
        let block = name.block
        let kind: String
        if block.sizeField.isAppender { kind = "appender" } else if block.sizeField.isTrunk { kind = "trunk" } else { kind = "\(name.kind)" }
        let out = InfoOutput(
            fileID: id.description, group: id.group.rawValue, storePath: name.storePathIndex, kind: kind,
            source: block.source.description, created: Int64(block.createTimestamp),
            sizeInName: name.sizeFromName, crc32InName: String(format: "%08x", block.crc32),
            size: info.fileSize, modified: info.modificationTime, crc32: String(format: "%08x", info.crc32),
            sourceIP: info.sourceIPAddress, storages: storages.map { "\($0.ipAddress):\($0.port)" },
            httpURL: httpBase.map { $0 + "/" + id.description + Self.tokenQuery(id, try? cluster.loadConfiguration()) })
        if output.json {
            try printJSON(out)
            return
        }
        print("""
            file id          \(out.fileID)
            group            \(out.group)
            store path       M\(String(format: "%02X", out.storePath))
            kind             \(out.kind)
            source server    \(out.source)
            created          \(formatTime(out.created))
            size in name     \(out.sizeInName.map(String.init) ?? "- (changes)")
            crc32 in name    \(out.crc32InName)
            --- storage says
            size             \(out.size)
            modified         \(formatTime(out.modified))
            crc32            \(out.crc32)
            source ip        \(out.sourceIP)
            stored on        \(out.storages.joined(separator: ", "))
            """ + (out.httpURL.map { "\nhttp url         \($0)" } ?? ""))
    }
}

extension Info {
    /// `?token=...&ts=...` when client.conf (or the http.conf it includes) turns the anti-steal
    /// check on, made as FastDFS's fdfs_test makes it: MD5 of the file ID with its group, the
    /// secret key and the time.
    static func tokenQuery(_ id: FileID, _ config: ClientConfiguration?) -> String {
        guard let a = config?.antiSteal, a.checkToken, let key = a.secretKey else { return "" }
        let ts = Int64(Date().timeIntervalSince1970)
        return "?token=" + AntiStealToken.make(fileID: id.description, secretKey: key, timestamp: ts) + "&ts=\(ts)"
    }
}

struct InfoOutput: Encodable {
    var fileID: String
    var group: String
    var storePath: Int
    var kind: String
    var source: String
    var created: Int64
    var sizeInName: Int64?
    var crc32InName: String
    var size: Int64
    var modified: Int64
    var crc32: String
    var sourceIP: String
    var storages: [String]
    /// Where the file is served over HTTP (the first storage that has it and an HTTP port).
    var httpURL: String?
    enum CodingKeys: String, CodingKey {
        case fileID = "file_id", group, storePath = "store_path", kind, source, created, sizeInName = "size_in_name"
        case crc32InName = "crc32_in_name", size, modified, crc32, sourceIP = "source_ip", storages, httpURL = "http_url"
    }
}

struct Meta: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Get or set a file's metadata.", subcommands: [Get.self, Set.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a file's metadata, one name=value per line.")
        @OptionGroup var cluster: ClusterOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The file's ID.") var fileID: String

        func validate() throws { _ = try parseFileID(fileID) }

        func run() async throws {
            let id = try parseFileID(fileID)
            let metadata = try await cluster.run(about: .file(id)) { client in
                do {
                    return try await client.getMetadata(id)
                } catch FDFSClientError.status(.ENOENT) {
                    // A file without metadata is ENOENT too: tell them apart.
                    _ = try await client.fileInfo(id)
                    return FDFSMetadata()
                }
            }
            if output.json {
                try printJSON(Dictionary(metadata.entries.map { ($0.name, $0.value) }, uniquingKeysWith: { _, b in b }))
            } else {
                for e in metadata.entries { print("\(e.name)=\(e.value)") }
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a file's metadata with the given name=value pairs (--merge: change only those names).",
            discussion: "fdfs meta set ID (with no pairs) deletes all metadata.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The file's ID.") var fileID: String
        @Argument(help: ArgumentHelp("The metadata.", valueName: "name=value")) var pairs: [String] = []
        @Flag(help: "Keep names not given.") var merge = false

        func validate() throws {
            _ = try parseFileID(fileID)
            _ = try parseMetadata(pairs)
        }

        func run() async throws {
            let id = try parseFileID(fileID)
            let metadata = try parseMetadata(pairs)
            try await cluster.run(about: .file(id)) { try await $0.setMetadata(id, metadata, operation: merge ? .merge : .overwrite) }
        }
    }
}

import ArgumentParser
import FDFSClient
import FDFSModel
import FDFSProtocol
import Foundation

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the files of a group (from the storages' catalogs), one file ID per line.",
        discussion: """
            Every file once, in name order, merged from all ACTIVE storages of the group, so files still on their way \
            to some members are listed too. --prefix selects names starting with it (e.g. M00/3A). --long adds size, \
            creation time, kind and CRC32. Needs swift-fdfs storages (C FastDFS storages have no listing command).
            """)

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The group.") var group: String
    @Option(help: "Only remote filenames that start with this (M00/, M00/3A/...).") var prefix = ""
    @Option(help: "At most this many files.") var limit: Int?
    @Flag(help: "Size, creation time, kind and CRC32 with each file.") var long = false

    func validate() throws {
        _ = try parseGroup(group)
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        guard prefix.utf8.count <= ListFilesRequest.maxNameBytes else { throw ValidationError("--prefix is too long") }
    }

    func run() async throws {
        let groupName = try parseGroup(group)
        var records: [ListOutput] = []
        let count = try await cluster.run(about: .group(group)) { client in
            try await client.listFiles(group: groupName, prefix: prefix, limit: limit) { files in
                for f in files {
                    let id = "\(group)/\(f.remoteFilename)"
                    if output.json {
                        records.append(ListOutput(fileID: id, size: f.size, created: f.created, kind: f.kind.rawValue,
                                                  crc32: f.crc32.map { String(format: "%08x", $0) }))
                    } else if long {
                        let crc = f.crc32.map { String(format: "%08x", $0) } ?? "-"
                        try writeOutput(Data("\(String(f.size).leftPadding(12))  \(formatTime(f.created))  \(f.kind.rawValue.padding(9)) \(crc)  \(id)\n".utf8))
                    } else {
                        try writeOutput(Data((id + "\n").utf8))
                    }
                }
            }
        }
        if output.json { try printJSON(ListResult(group: group, count: count, files: records)) }
    }
}

struct ListOutput: Encodable, Sendable {
    var fileID: String
    var size: Int64
    var created: Int64
    var kind: String
    var crc32: String?
    enum CodingKeys: String, CodingKey {
        case fileID = "file_id", size, created, kind, crc32
    }
}

struct ListResult: Encodable {
    var group: String
    var count: Int
    var files: [ListOutput]
}

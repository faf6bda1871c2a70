import ArgumentParser
import FDFSClient
import FDFSModel
import Foundation
import NIOCore

struct Download: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a file to DEST (default: its name in the current directory; - for standard output).",
        discussion: """
            A whole-file download goes to DEST.fdfs-part first and is renamed to DEST when complete; if it is \
            interrupted, running the same command again continues from where it stopped (--restart starts over). \
            --offset and --length download a range instead.
            """)

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The file's ID.") var fileID: String
    @Argument(help: "Where to write it; - for standard output.") var dest: String?
    @Option(help: "Start at this byte.") var offset: Int64?
    @Option(help: "Download this many bytes (default: to the end).") var length: Int64?
    @Flag(help: "Ignore a part file left by an interrupted download.") var restart = false

    func validate() throws {
        _ = try parseFileID(fileID)
        if let offset, offset < 0 { throw ValidationError("--offset must not be negative") }
        if let length, length <= 0 { throw ValidationError("--length must be positive") }
    }

    func run() async throws {
        let id = try parseFileID(fileID)
        let target = dest ?? (id.remoteFilename.name as NSString).lastPathComponent
        let ranged = offset != nil || length != nil
        let result: DownloadOutput = try await cluster.run(about: .file(id)) { client in
            if target == "-" {
                let bytes = try await client.download(id, offset: offset ?? 0, length: length ?? 0) { chunk in
                    try writeOutput(Data(chunk.readableBytesView))
                }
                return DownloadOutput(fileID: id.description, path: "-", bytes: bytes, resumedFrom: 0)
            }
            if ranged {
                let bytes = try await client.download(id, offset: offset ?? 0, length: length ?? 0, toPath: target)
                return DownloadOutput(fileID: id.description, path: target, bytes: bytes, resumedFrom: 0)
            }
            var bar: ProgressBar?
            var started = false
            let done = try await client.download(id, toPath: target, resume: !restart) { written, total in
                if !started {
                    started = true
                    bar = ProgressBar(total: total, label: target)
                }
                bar?.set(written)
            }
            bar?.finish()
            return DownloadOutput(fileID: id.description, path: target, bytes: done.bytes, resumedFrom: done.resumedFrom)
        }
        if output.json {
            try printJSON(result)
        } else if target != "-" {
            print("\(target): \(result.bytes) bytes" + (result.resumedFrom > 0 ? " (resumed at byte \(result.resumedFrom))" : ""))
        }
    }
}

struct DownloadOutput: Encodable, Sendable {
    var fileID: String
    var path: String
    var bytes: Int64
    var resumedFrom: Int64
    enum CodingKeys: String, CodingKey {
        case fileID = "file_id", path, bytes, resumedFrom = "resumed_from"
    }
}

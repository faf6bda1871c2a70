import ArgumentParser
import FDFSClient
import FDFSModel
import FDFSProtocol

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload a local file (- for standard input) and print its file ID.",
        discussion: """
            The tracker chooses the group (unless --group) and the storage. The file extension stored in the ID is \
            the local file's (when it has at most 6 letters or digits) unless --ext is given. With --appender the file \
            can later be changed by append, modify and truncate.
            Example: fdfs upload photo.jpg --meta width=1024 height=768
            """)

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The local file, or - to read standard input.") var file: String
    @Option(help: "The extension of the stored file (at most 6 characters).") var ext: String?
    @Option(help: "Upload into this group.") var group: String?
    @Flag(help: "Upload an appender file.") var appender = false
    @Option(parsing: .upToNextOption, help: ArgumentHelp("Metadata to set on the file.", valueName: "name=value"))
    var meta: [String] = []

    func validate() throws {
        if let group { _ = try parseGroup(group) }
        _ = try parseMetadata(meta)
        if let ext, ext.utf8.count > 6 { throw ValidationError("--ext \(ext): at most 6 characters") }
    }

    func run() async throws {
        let groupName = try group.map(parseGroup)
        let metadata = try parseMetadata(meta)
        let input = try await openInput(file)
        let fileExtension = ext ?? LocalInput.fileExtension(of: file)
        let id = try await cluster.run(about: group.map { .group($0) } ?? .none) { client in
            do {
                return try await client.upload(input.content(), fileExtension: fileExtension, group: groupName, appender: appender,
                                               metadata: metadata)
            } catch FDFSClientError.status(.ENOSPC) {
                throw await noSpace(client, group: group)
            }
        }
        if output.json {
            try printJSON(UploadOutput(fileID: id.description, group: id.group.rawValue, size: input.size))
        } else {
            print(id)
        }
    }
}

struct UploadOutput: Encodable {
    var fileID: String
    var group: String
    var size: Int64
    enum CodingKeys: String, CodingKey {
        case fileID = "file_id", group, size
    }
}

/// Opens a local input, turning file errors into usage failures.
func openInput(_ path: String) async throws -> LocalInput {
    do {
        return try await LocalInput.open(path)
    } catch {
        throw CLIFailure.from(error, subject: .none, configPath: "")
    }
}

/// "no space left in group1 (free 51 MB, reserved 25 MB ...)" from the tracker's group list.
func noSpace(_ client: FDFSClient, group: String?) async -> CLIFailure {
    let groups = (try? await client.withTracker { try await $0.listGroups() }) ?? []
    let shown = groups.filter { group == nil || $0.groupName == group }
    guard !shown.isEmpty else { return CLIFailure(.server, "no space left in \(group ?? "any group")") }
    let details = shown.map { g in
        "\(g.groupName): \(g.freeMB) MB free of \(g.totalMB) MB, \(g.reservedMB) MB reserved (reserved_storage_space in tracker.conf)"
    }
    return CLIFailure(.server, "no space left in \(group ?? "any group") (\(details.joined(separator: "; ")))")
}

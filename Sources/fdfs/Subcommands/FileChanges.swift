import ArgumentParser
import FDFSClient
import FDFSModel

struct UploadSlave: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload-slave",
        abstract: "Upload a slave file of a master file (e.g. a thumbnail) and print its file ID.",
        discussion: "The slave's ID is the master's with PREFIX before the extension: fdfs upload-slave group1/M00/00/00/abc.jpg _150x150 thumb.jpg")

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The master file's ID.") var masterID: String
    @Argument(help: "The prefix added to the master's name (at most 16 characters).") var prefix: String
    @Argument(help: "The local file, or - for standard input.") var file: String
    @Option(help: "The slave file's extension (default: the local file's).") var ext: String?

    func validate() throws { _ = try parseFileID(masterID) }

    func run() async throws {
        let master = try parseFileID(masterID)
        let input = try await openInput(file)
        let id = try await cluster.run(about: .file(master)) { client in
            try await client.uploadSlave(input.content(), master: master, prefix: prefix, fileExtension: ext ?? LocalInput.fileExtension(of: file))
        }
        if output.json {
            try printJSON(UploadOutput(fileID: id.description, group: id.group.rawValue, size: input.size))
        } else {
            print(id)
        }
    }
}

struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Append a local file (- for standard input) to an appender file.")

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The appender file's ID.") var fileID: String
    @Argument(help: "The local file, or - for standard input.") var file: String

    func validate() throws { _ = try parseFileID(fileID) }

    func run() async throws {
        let id = try parseFileID(fileID)
        let input = try await openInput(file)
        try await cluster.run(about: .file(id)) { try await $0.append(id, input.content()) }
    }
}

struct Modify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Overwrite part of an appender file, from OFFSET, with a local file's bytes.")

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The appender file's ID.") var fileID: String
    @Argument(help: "Where to write, 0 ... the file's size.") var offset: Int64
    @Argument(help: "The local file, or - for standard input.") var file: String

    func validate() throws {
        _ = try parseFileID(fileID)
        guard offset >= 0 else { throw ValidationError("OFFSET must not be negative") }
    }

    func run() async throws {
        let id = try parseFileID(fileID)
        let input = try await openInput(file)
        try await cluster.run(about: .file(id)) { try await $0.modify(id, at: offset, input.content()) }
    }
}

struct Truncate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Set an appender file's size (a larger size adds zero bytes).")

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The appender file's ID.") var fileID: String
    @Argument(help: "The new size in bytes.") var size: Int64 = 0

    func validate() throws {
        _ = try parseFileID(fileID)
        guard size >= 0 else { throw ValidationError("SIZE must not be negative") }
    }

    func run() async throws {
        let id = try parseFileID(fileID)
        try await cluster.run(about: .file(id)) { try await $0.truncate(id, to: size) }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a file (from every storage of its group, by replication).")

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The file's ID.") var fileID: String

    func validate() throws { _ = try parseFileID(fileID) }

    func run() async throws {
        let id = try parseFileID(fileID)
        try await cluster.run(about: .file(id)) { try await $0.delete(id) }
    }
}

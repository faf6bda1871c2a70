import ArgumentParser
import FDFSClient
import FDFSConfig
import FDFSModel
import FDFSProtocol
import Foundation

/// `--config` and `--tracker`, shared by every subcommand that talks to the cluster.
struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The client.conf to read (default: $FDFS_CLIENT_CONF, else /etc/fdfs/client.conf).",
                                            valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("A tracker to use instead of tracker_server in client.conf; repeat for several "
                                            + "(tried in order when one fails). client.conf is optional with this.",
                                            valueName: "host:port"))
    var tracker: [String] = []

    var configPath: String { config ?? ProcessInfo.processInfo.environment["FDFS_CLIENT_CONF"] ?? "/etc/fdfs/client.conf" }

    func validate() throws {
        for t in tracker {
            do { _ = try ServerAddress.parse(t, defaultPort: 22122) } catch { throw ValidationError("--tracker \(t): \(error)") }
        }
    }

    func loadConfiguration() throws -> ClientConfiguration {
        let path = configPath
        if !tracker.isEmpty && config == nil && !FileManager.default.fileExists(atPath: path) {
            do {
                return try ClientConfiguration.parse(text: tracker.map { "tracker_server = \($0)\n" }.joined(), path: "--tracker")
            } catch {
                throw CLIFailure(.usage, "\(error)")
            }
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CLIFailure(.usage, "cannot read the client configuration \(path) "
                             + "(give --config PATH, set FDFS_CLIENT_CONF, or name a tracker with --tracker host:port)")
        }
        var configuration: ClientConfiguration
        do {
            configuration = try ClientConfiguration.load(path: path)
        } catch {
            throw CLIFailure(.usage, "\(error)")
        }
        for warning in configuration.warnings { printError("warning: \(warning)") }
        if !tracker.isEmpty {
            configuration.trackerServers = ServerAddress.normalizedList(tracker.compactMap { try? ServerAddress.parse($0, defaultPort: 22122) })
        }
        return configuration
    }

    /// Runs `body` with a client of the configured cluster; errors become `CLIFailure`s that
    /// say what went wrong about `subject` and what to do.
    func run<T: Sendable>(about subject: CLIFailure.Subject = .none, _ body: (FDFSClient) async throws -> T) async throws -> T {
        let configuration = try loadConfiguration()
        do {
            return try await withFDFSClient(configuration: configuration, body)
        } catch {
            throw CLIFailure.from(error, subject: subject, configPath: configuration.path)
        }
    }
}

/// `--json`.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false
}

/// Parses a file ID argument.
func parseFileID(_ text: String) throws -> FileID {
    do {
        return try FileID(parsing: text)
    } catch {
        throw ValidationError("not a file ID: \(text) (\(error)); a file ID looks like group1/M00/00/00/wKgBCmVT8Q...AAAACw1KEYU123.jpg")
    }
}

/// Parses `name=value` metadata arguments.
func parseMetadata(_ items: [String]) throws -> FDFSMetadata {
    var entries: [FDFSMetadata.Entry] = []
    for item in items {
        guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
            throw ValidationError("metadata \"\(item)\" is not name=value")
        }
        entries.append(.init(String(item[..<eq]), String(item[item.index(after: eq)...])))
    }
    let metadata = FDFSMetadata(entries)
    guard metadata.isWireSafe else { throw ValidationError("metadata names must not be empty and must not contain bytes 0x00-0x02") }
    for e in entries where e.name.utf8.count > FDFSMetadata.maxNameBytes || e.value.utf8.count > FDFSMetadata.maxValueBytes {
        throw ValidationError("metadata \(e.name): names are at most \(FDFSMetadata.maxNameBytes) bytes, values \(FDFSMetadata.maxValueBytes)")
    }
    return metadata
}

func parseGroup(_ text: String) throws -> GroupName {
    do { return try GroupName(text) } catch { throw ValidationError("group \(text): \(error)") }
}

/// A Unix time as local `yyyy-MM-dd HH:mm:ss` ("-" for 0).
func formatTime(_ seconds: Int64) -> String {
    guard seconds > 0 else { return "-" }
    var t = time_t(seconds)
    var parts = tm()
    localtime_r(&t, &parts)
    return String(format: "%04d-%02d-%02d %02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                  parts.tm_hour, parts.tm_min, parts.tm_sec)
}

import FDFSClient
import FDFSFileSystem
import FDFSModel
import FDFSProtocol
import Foundation

/// A failure of a subcommand: what to tell the operator and the exit code.
struct CLIFailure: Error, CustomStringConvertible {
    enum Code: Int32 {
        case usage = 1
        case notFound = 2
        case unavailable = 3
        case server = 4
    }

    var code: Code
    var message: String
    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }

    /// What the command was about, for "not found" messages.
    enum Subject {
        case none
        case file(FileID)
        case group(String)
        case storage(group: String, id: String)
    }

    /// The message and code for `error`, with hints that say what to do.
    static func from(_ error: any Error, subject: Subject, configPath: String) -> CLIFailure {
        switch error {
        case let failure as CLIFailure:
            return failure
        case let none as NoTrackerAvailableError:
            let what = none.failures.map(\.description).joined(separator: "; ")
            return CLIFailure(.unavailable, "\(what.isEmpty ? "no tracker could be reached" : what) "
                              + "(is fdfs-trackerd running? check tracker_server in \(configPath))")
        case let unavailable as ServerUnavailableError:
            let hint = unavailable.role == .tracker
                ? "is fdfs-trackerd running? check tracker_server in \(configPath)"
                : "is fdfs-storaged running there? `fdfs monitor` shows each storage's status"
            return CLIFailure(.unavailable, "\(unavailable) (\(hint))")
        case FDFSClientError.status(let status):
            return from(status: status, subject: subject)
        case FDFSClientError.timedOut(let seconds):
            return CLIFailure(.unavailable, "no answer within \(seconds) s (network_timeout in \(configPath))")
        case FDFSClientError.connectionClosed:
            return CLIFailure(.unavailable, "the server closed the connection before answering")
        case FDFSClientError.invalidArgument(let why):
            return CLIFailure(.usage, why)
        case FDFSClientError.contentLengthMismatch(let expected, let actual):
            return CLIFailure(.server, "the content had \(actual) bytes instead of the \(expected) expected (did the local file change meanwhile?)")
        case let fs as FileSystemError:
            return CLIFailure(.usage, "cannot \(fs.operation) \(fs.path): \(String(cString: strerror(fs.errno)))")
        case let id as FileIDError:
            return CLIFailure(.usage, "\(id)")
        case let name as FDFSNameError:
            return CLIFailure(.usage, "\(name)")
        case let wire as FDFSProtocolError:
            return CLIFailure(.server, "the server sent a response this client cannot read: \(wire)")
        default:
            return CLIFailure(.server, "\(error)")
        }
    }

    static func from(status: FDFSStatus, subject: Subject) -> CLIFailure {
        switch (status, subject) {
        case (.ENOENT, .file(let id)): return CLIFailure(.notFound, "file not found: \(id)")
        case (.ENOENT, .group(let g)): return CLIFailure(.notFound, "group not found: \(g) (`fdfs monitor` lists the groups)")
        case (.ENOENT, .storage(let g, let id)): return CLIFailure(.notFound, "storage \(id) is not a member of \(g)")
        case (.ENOENT, .none): return CLIFailure(.notFound, "not found")
        case (.ENOSPC, .group(let g)): return CLIFailure(.server, "no space left in \(g)")
        case (.ENOSPC, _): return CLIFailure(.server, "no space left on any storage")
        case (.EEXIST, .file(let id)): return CLIFailure(.server, "already exists: \(id)")
        case (.EBUSY, .storage(_, let id)): return CLIFailure(.server, "storage \(id) is busy (ONLINE or ACTIVE): stop fdfs-storaged on it first")
        case (.EACCES, .storage), (.EACCES, .group):
            return CLIFailure(.server, "refused: this host is not in the tracker's admin_hosts (tracker.conf; loopback only by default), run the command on the tracker's host")
        default: return CLIFailure(.server, "the server answered \(status.name): \(status.meaning)")
        }
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
}

/// Writes `value` as pretty, key-sorted JSON to standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try writeOutput(try encoder.encode(value) + Data("\n".utf8))
}

/// Writes to standard output; a reader that went away (EPIPE: `fdfs ... | head`) is an
/// error the caller sees, not a crash.
func writeOutput(_ data: Data) throws {
    do {
        try FileHandle.standardOutput.write(contentsOf: data)
    } catch {
        throw CLIFailure(.usage, "cannot write to standard output: \(error.localizedDescription)")
    }
}

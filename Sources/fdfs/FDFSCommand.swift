import ArgumentParser
import Foundation

/// `fdfs`: the command-line tool of swift-fdfs.
struct FDFSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdfs",
        abstract: "Upload, download and manage files in a FastDFS cluster (swift-fdfs or C FastDFS servers).",
        discussion: """
            Every command reads client.conf (--config PATH, else $FDFS_CLIENT_CONF, else /etc/fdfs/client.conf) \
            for tracker_server, connect_timeout and network_timeout; --tracker host:port overrides the trackers. \
            When a tracker cannot be reached the next one in tracker_server is tried.

            Try a local cluster first: `fdfs sandbox` starts one tracker and a two-storage group on 127.0.0.1.

            EXIT CODES
              0  success
              1  usage error: bad arguments, unreadable client.conf or local file, invalid file ID
              2  not found: unknown file, group or storage
              3  unavailable: no tracker or storage reachable, or no answer within network_timeout
              4  other server error (no space left, storage busy, refused request...)
            """,
        version: "0.6.0",
        subcommands: [
            Upload.self, UploadSlave.self, Append.self, Modify.self, Truncate.self, Download.self, Delete.self,
            Info.self, Meta.self, List.self, Monitor.self, DeleteStorage.self, Resync.self, Scrub.self, Sandbox.self, Bench.self, Chaos.self,
        ]
    )
}

@main
enum Main {
    static func main() async {
        // A closed output pipe is a write error (EPIPE), not a signal that kills the tool.
        signal(SIGPIPE, SIG_IGN)
        let command: any ParsableCommand
        do {
            command = try FDFSCommand.parseAsRoot()
        } catch {
            let code = FDFSCommand.exitCode(for: error)
            if code == .success {
                print(FDFSCommand.fullMessage(for: error))
                exit(0)
            }
            printError(FDFSCommand.fullMessage(for: error))
            exit(CLIFailure.Code.usage.rawValue)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
            exit(0)
        } catch let failure as CLIFailure {
            printError("fdfs: " + failure.message)
            exit(failure.code.rawValue)
        } catch let validation as ValidationError {
            printError("fdfs: \(validation)")
            exit(CLIFailure.Code.usage.rawValue)
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            if FDFSCommand.exitCode(for: error) == .success {
                // `fdfs` alone, or --help of a command group: the help text.
                print(FDFSCommand.fullMessage(for: error))
                exit(0)
            }
            let failure = CLIFailure.from(error, subject: .none, configPath: "client.conf")
            printError("fdfs: " + failure.message)
            exit(failure.code.rawValue)
        }
    }
}

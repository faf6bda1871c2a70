import ArgumentParser
import FDFSClient
import FDFSModel
import FDFSProtocol
import Foundation

struct Scrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scrub",
        abstract: "Start a scrub pass on the storages of a group (or one), or show its progress (swift-fdfs storages only).",
        discussion: """
            A pass checks every file a storage holds against its name and catalog (present, size, CRC32) at \
            scrub_bytes_per_second, and downloads a damaged or missing file again from an ACTIVE peer with a good copy. \
            Storages also start a pass every scrub_interval (storage.conf). Starting needs a host in the storage's \
            admin_hosts (loopback by default); --status only reads. --wait polls until the pass ends.
            """)

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The group.") var group: String
    @Option(name: .customLong("storage"), help: "Only this storage (id or IP address).") var storage: String?
    @Flag(help: "Show the progress without starting a pass.") var status = false
    @Flag(help: "Wait until the pass has ended, then show its result.") var wait = false

    func validate() throws { _ = try parseGroup(group) }

    func run() async throws {
        let groupName = try parseGroup(group)
        let subject = CLIFailure.Subject.group(group)
        try await cluster.run(about: subject) { client in
            var members = try await client.withTracker { try await $0.listStorages(group: groupName) }
            if let storage {
                members = members.filter { $0.id == storage || $0.ipAddress == storage }
                guard !members.isEmpty else { throw CLIFailure(.notFound, "storage \(storage) is not a member of \(group)") }
            }
            var worst: CLIFailure?
            for m in members {
                let endpoint = StorageEndpoint(ipAddress: m.ipAddress, port: m.storagePort)
                do {
                    var progress = try await client.withStorage(endpoint) { try await $0.scrub(start: !status) }
                    if wait {
                        let startPasses = status ? progress.passes : progress.passes
                        while progress.running || (!status && progress.passes == startPasses) {
                            try await Task.sleep(for: .milliseconds(200))
                            progress = try await client.withStorage(endpoint) { try await $0.scrub(start: false) }
                        }
                    }
                    print("\(m.id)  \(progress.running ? "running" : "idle")  passes \(progress.passes)  checked \(progress.checked)  "
                          + "damaged \(progress.damaged)  repaired \(progress.repaired)  unrepaired \(progress.unrepaired)  "
                          + "adopted \(progress.adopted)  quarantined \(progress.quarantined)")
                } catch FDFSClientError.status(.EACCES) {
                    let failure = CLIFailure(.server, "\(m.id) refused: this host is not in its admin_hosts (storage.conf), run the command on \(m.ipAddress)")
                    printError(failure.message)
                    worst = failure
                } catch FDFSClientError.status(.EINVAL) {
                    printError("\(m.id) does not know SCRUB (a C FastDFS storage?)")
                    worst = worst ?? CLIFailure(.server, "not every storage could scrub (see above)")
                }
            }
            if let worst { throw worst }
        }
    }
}

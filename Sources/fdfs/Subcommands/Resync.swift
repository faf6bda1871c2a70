import ArgumentParser
import FDFSClient
import FDFSModel
import FDFSProtocol

struct Resync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resync",
        abstract: "Push every file of a group to one member again, from a chosen source (swift-fdfs storages only).",
        discussion: """
            The source (--from, else the first other ACTIVE member) replays its binlog from the start to STORAGE: \
            files STORAGE lacks are copied, files it has are left alone. Use it after files were lost on STORAGE \
            behind its back. Progress shows as the source's sync lag in `fdfs monitor`. Run it from a host in the \
            source's admin_hosts (storage.conf; loopback by default). C FastDFS storages do not know the command.
            """)

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The group.") var group: String
    @Argument(help: "The storage id (or IP address) that receives the files.") var storage: String
    @Option(name: .customLong("from"), help: "The storage id (or IP address) that sends them; default: the first other ACTIVE member.")
    var source: String?

    func validate() throws { _ = try parseGroup(group) }

    func run() async throws {
        let groupName = try parseGroup(group)
        let subject = CLIFailure.Subject.storage(group: group, id: storage)
        try await cluster.run(about: subject) { client in
            let members = try await client.withTracker { try await $0.listStorages(group: groupName) }
            guard let target = members.first(where: { $0.id == storage || $0.ipAddress == storage }) else {
                throw CLIFailure(.notFound, "storage \(storage) is not a member of \(group)")
            }
            let from: StorageStat
            if let source {
                guard let s = members.first(where: { $0.id == source || $0.ipAddress == source }) else {
                    throw CLIFailure(.notFound, "storage \(source) is not a member of \(group)")
                }
                from = s
            } else {
                guard let s = members.first(where: { $0.id != target.id && $0.status == .active }) else {
                    throw CLIFailure(.server, "\(group) has no other ACTIVE member to resync \(storage) from")
                }
                from = s
            }
            guard from.id != target.id else { throw CLIFailure(.usage, "the source and the storage to resync are the same") }
            guard from.status == .active else {
                throw CLIFailure(.server, "the source \(from.id) is \(from.status.name); choose an ACTIVE member with --from")
            }
            let peer = try StorageID(target.id)
            do {
                try await client.withStorage(StorageEndpoint(ipAddress: from.ipAddress, port: from.storagePort)) { try await $0.resyncPeer(peer) }
            } catch FDFSClientError.status(.EACCES) {
                throw CLIFailure(.server, "\(from.id) refused: this host is not in its admin_hosts (storage.conf; loopback only by default), run the command on \(from.ipAddress)")
            } catch FDFSClientError.status(.EINVAL) {
                throw CLIFailure(.server, "\(from.id) does not know RESYNC_PEER (a C FastDFS storage?)")
            } catch FDFSClientError.status(.ENOENT) {
                throw CLIFailure(.notFound, "\(from.id) has no sync task for \(target.id) yet; retry once both are ACTIVE")
            }
            print("\(from.id) pushes every file of \(group) to \(target.id) again; `fdfs monitor` shows its progress (sync lag)")
        }
    }
}

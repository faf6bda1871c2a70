import ArgumentParser
import FDFSClient
import FDFSModel
import FDFSProtocol

struct DeleteStorage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-storage",
        abstract: "Remove a storage from its group on every tracker (refused while it is ONLINE or ACTIVE).",
        discussion: "Stop fdfs-storaged on that server first. ID is the storage id (or its IP address when use_storage_id is false).")

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The group.") var group: String
    @Argument(help: "The storage id or IP address.") var id: String

    func validate() throws { _ = try parseGroup(group) }

    func run() async throws {
        let groupName = try parseGroup(group)
        let subject = CLIFailure.Subject.storage(group: group, id: id)
        let configuration = try cluster.loadConfiguration()
        let results = try await cluster.run(about: subject) { client in
            let current = try await client.withTracker { try await $0.listStorages(group: groupName) }
            guard let storage = current.first(where: { $0.id == id || $0.ipAddress == id }) else {
                throw CLIFailure(.notFound, "storage \(id) is not a member of \(group)")
            }
            guard storage.status != .online && storage.status != .active else {
                throw CLIFailure(.server, "storage \(id) is \(storage.status.name): stop fdfs-storaged on \(storage.ipAddress) first, "
                                 + "wait until `fdfs monitor` shows it OFFLINE, then retry")
            }
            return await client.onEveryTracker { try await $0.deleteStorage(group: groupName, storageID: storage.id) }
        }
        var worst: CLIFailure?
        for (tracker, result) in results {
            switch result {
            case .success:
                print("tracker \(tracker): deleted \(id) from \(group)")
            case .failure(let error):
                let failure = CLIFailure.from(error, subject: subject, configPath: configuration.path)
                printError("tracker \(tracker): \(failure.message)")
                if worst == nil || failure.code.rawValue > worst!.code.rawValue { worst = failure }
            }
        }
        if let worst { throw CLIFailure(worst.code, "not deleted on every tracker (see above)") }
    }
}

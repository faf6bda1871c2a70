import ArgumentParser
import FDFSConfig
import FDFSStorage
import Logging
import ServiceLifecycle

@main
struct StorageDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdfs-storaged",
        abstract: "The swift-fdfs storage server: stores the files of one group and reports to every tracker.",
        discussion: """
            Reads storage.conf (FastDFS syntax; see conf/storage.conf and docs/configuration.md), \
            asks the trackers for its address and the cluster parameters, creates the store \
            path directories on first start, keeps its binlog in <base_path>/data/sync and \
            serves the FastDFS 6.x storage protocol on bind_addr:port. Every file is indexed in \
            <base_path>/data/catalog.sqlite (with its metadata); --rebuild-catalog recreates that \
            index from the store paths and the binlog (run it with the daemon stopped). SIGTERM or \
            SIGINT stops it gracefully. Replication: every write is pushed to the other members of \
            the group (C storages included) from per-peer marks in <base_path>/data/sync; a new \
            member gets the group's files from its source first, and a store path found empty \
            is recovered from a peer before the storage serves (docs/architecture.md).
            """
    )

    @Option(name: .long, help: "Path of storage.conf.")
    var config: String

    @Flag(name: .long, help: "Rebuild <base_path>/data/catalog.sqlite from the store paths and the binlog, then exit (daemon stopped; metadata is carried over from the old catalog when it is readable).")
    var rebuildCatalog = false

    func run() async throws {
        let configuration: StorageConfiguration
        do {
            configuration = try StorageConfiguration.load(path: config)
        } catch {
            throw ValidationError("\(error)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.service.log.level == .debug ? .debug : .info
            return handler
        }
        let logger = Logger(label: "fdfs.storaged")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        if rebuildCatalog {
            let report = try StorageService.rebuildCatalog(configuration: configuration)
            print("catalog rebuilt: \(report)")
            return
        }
        guard !configuration.service.isDisabled else {
            throw ValidationError("\(config): disabled = true; set it to false to run this storage server")
        }
        let group = ServiceGroup(configuration: .init(services: [StorageService(configuration: configuration, logger: logger)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

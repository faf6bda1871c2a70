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
            serves the FastDFS 6.x storage protocol on bind_addr:port. SIGTERM or SIGINT stops it \
            gracefully. Work in progress: metadata, the catalog and replication are not served yet.
            """
    )

    @Option(name: .long, help: "Path of storage.conf.")
    var config: String

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
        guard !configuration.service.isDisabled else {
            throw ValidationError("\(config): disabled = true; set it to false to run this storage server")
        }
        let group = ServiceGroup(configuration: .init(services: [StorageService(configuration: configuration, logger: logger)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

import ArgumentParser
import FDFSConfig
import FDFSTracker
import Logging
import ServiceLifecycle

@main
struct TrackerDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdfs-trackerd",
        abstract: "The swift-fdfs tracker: knows the groups and storage servers of a FastDFS cluster and routes clients.",
        discussion: """
            Reads tracker.conf (FastDFS syntax; see conf/tracker.conf and docs/configuration.md), \
            keeps its state in <base_path>/data (storage_groups_new.dat, storage_servers_new.dat, \
            storage_sync_timestamp.dat, storage_changelog.dat) and serves the FastDFS 6.x tracker \
            protocol on bind_addr:port. SIGTERM or SIGINT stops it gracefully: it stops accepting, \
            answers the requests in flight, saves its files and exits 0.
            """
    )

    @Option(name: .long, help: "Path of tracker.conf.")
    var config: String

    @Flag(name: .long, help: "Check the configuration, print what would be used, and exit.")
    var checkConfig = false

    func run() async throws {
        let configuration: TrackerConfiguration
        do {
            configuration = try TrackerConfiguration.load(path: config)
        } catch {
            throw ValidationError("\(error)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(fastDFSName: configuration.service.log.level.rawValue) ?? .info
            return handler
        }
        let logger = Logger(label: "fdfs.trackerd")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        guard !configuration.service.isDisabled else {
            throw ValidationError("\(config): disabled = true; set it to false to run this tracker")
        }
        if checkConfig {
            print("configuration OK: port \(configuration.port), base_path \(configuration.basePath)")
            return
        }
        let service = try TrackerService.make(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("fdfs-trackerd starting", metadata: ["fdfs.config": "\(config)", "fdfs.port": "\(configuration.port)"])
        try await group.run()
    }
}

extension Logger.Level {
    /// FastDFS's `log_level` names (syslog style) mapped onto swift-log levels.
    init?(fastDFSName name: String) {
        switch name.lowercased() {
        case "emerg", "alert", "crit": self = .critical
        case "err", "error": self = .error
        case "warn", "warning": self = .warning
        case "notice": self = .notice
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }
}

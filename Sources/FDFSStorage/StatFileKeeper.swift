public import FDFSStorageEngine
public import Logging
import ServiceLifecycle

extension SubdirectoryCursor {
    /// The cursor a `storage_stat.dat` saved (§7.4), for the configured directory count and
    /// rotation. Negative values (a hand-edited file) restart at 0; indexes beyond a smaller
    /// `subdir_count_per_path` wrap.
    public init(statFile f: StorageStatFile, subdirCount: Int, rotateCount: Int) {
        func clamp(_ v: Int64) -> Int { v < 0 || v > Int64(Int32.max) ? 0 : Int(v) }
        self.init(high: clamp(f.distPathIndexHigh), low: clamp(f.distPathIndexLow), writtenCount: clamp(f.distWriteFileCount),
                  subdirCount: subdirCount, rotateCount: rotateCount)
    }
}

/// Keeps `<base_path>/data/storage_stat.dat` (cluster spec §7.2): the live counters and the
/// store's subdirectory cursor, rewritten atomically every `sync_stat_file_interval` seconds
/// when something changed, and once more at shutdown (``save()``), so a restart keeps both.
public actor StatFileKeeper {
    public nonisolated let path: String
    let stats: StorageStats
    let store: StorageStore
    var lastWritten: StorageStatFile?

    /// `loaded`: the file as it was read at startup (nil when there was none), so an unchanged
    /// state is not rewritten.
    public init(path: String, stats: StorageStats, store: StorageStore, loaded: StorageStatFile?) {
        self.path = path
        self.stats = stats
        self.store = store
        self.lastWritten = loaded
    }

    /// The file for the current counters and cursor.
    public func current() async -> StorageStatFile {
        let cursor = store.subdirectoryCursor
        return StorageStatFile(counters: stats.counters, distPathIndexHigh: Int64(cursor.high),
                               distPathIndexLow: Int64(cursor.low), distWriteFileCount: Int64(cursor.writtenCount))
    }

    /// Writes the file if it differs from the last one written (or read); returns whether it
    /// wrote.
    @discardableResult
    public func save() async throws(StateFileError) -> Bool {
        let file = await current()
        guard file != lastWritten else { return false }
        try file.save(path: path)
        lastWritten = file
        return true
    }

    /// Saves every `interval` until graceful shutdown or cancellation (the final save is the
    /// caller's, after the server has stopped).
    public nonisolated func run(every interval: Duration, logger: Logger) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                do { try await self.save() } catch { logger.error("cannot write storage_stat.dat", metadata: ["fdfs.error": "\(error)"]) }
            }
        }
    }
}

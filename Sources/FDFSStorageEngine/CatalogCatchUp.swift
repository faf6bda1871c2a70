public import FDFSModel

/// Brings the catalog up to the binlog at start. The catalog writer commits changes in batches
/// after the reply (`CatalogWriter`), so a storage killed with batches still queued restarts
/// with a catalog that misses them: a deleted file's row still there (QUERY_FILE_INFO would say
/// it exists), a new file's row missing. Every batch records how far into the binlog its
/// changes go (`FileCatalog.binlogApplied`); this reads the records after that point and sets
/// each name they touch to what is on disk: a row from the file when it exists, no row when it
/// does not, and the tombstone of every delete among them (`CatalogChange.delete`). It is idempotent, so a kill during the catch-up is caught up by the next start.
public enum CatalogCatchUp {
    public struct Report: Hashable, Sendable, CustomStringConvertible {
        /// Where the records read began (nil: the catalog recorded no position, so from the start).
        public var from: BinlogPosition?
        public var to: BinlogPosition?
        public var records = 0
        /// Rows written from the file on disk (missing or with another size).
        public var refreshed = 0
        /// Rows of files no longer on disk, removed.
        public var removed = 0

        public var description: String {
            "\(records) binlog records after \(from?.description ?? "the start") read, \(refreshed) rows written from the files on disk, "
                + "\(removed) rows of files no longer on disk removed"
        }
    }

    public static func run(catalog: FileCatalog, paths: StorePaths, source: FileSource, group: GroupName,
                           basePath: String) throws -> Report {
        var report = Report()
        let syncDirectory = BinlogIndex.syncDirectory(basePath: basePath)
        report.from = try catalog.binlogApplied()
        let reader: BinlogReader
        do {
            reader = try BinlogReader(syncDirectory: syncDirectory, position: report.from ?? .start, skipInvalidRecords: true)
        } catch {
            // The recorded position is not in this binlog (it was replaced): read it all.
            report.from = nil
            reader = try BinlogReader(syncDirectory: syncDirectory, position: .start, skipInvalidRecords: true)
        }
        defer { reader.close() }
        var names: [String] = []
        var seen: Set<String> = []
        var origins: [String: (created: Int64, isSource: Bool)] = [:]
        var deletes: [String: Int64] = [:]
        func touch(_ name: String) {
            if !name.hasSuffix("-m"), seen.insert(name).inserted { names.append(name) }
        }
        while let entry = try reader.next() {
            report.records += 1
            report.to = entry.end
            let r = entry.record
            touch(r.filename)
            switch r.operation.kind {
            case .create, .rename, .link: origins[r.filename] = (r.timestampSeconds, r.operation.isSource)
            case .delete: deletes[r.filename] = max(deletes[r.filename] ?? r.timestampSeconds, r.timestampSeconds)
            default: break
            }
            if case .renamedFrom(let old) = r.extra { touch(old) }
        }
        guard let end = report.to else { return report }
        var changes: [CatalogChange] = []
        for name in names {
            guard let file = try? RemoteFilename(parsing: name, storePathCount: paths.paths.count, subdirCount: paths.subdirCount),
                  file.storePathIndex < paths.paths.count
            else { continue }
            let path = paths.paths[file.storePathIndex].path + "/data/" + name.dropFirst(4)
            var existing = try catalog.file(name)
            if let deleted = deletes[name], try (catalog.tombstone(name) ?? Int64.min) < deleted {
                // The tombstone of a delete in the tail (with the row, if there was one).
                changes.append(.delete(fileID: name, at: deleted))
                if existing != nil { report.removed += 1 }
                existing = nil
            }
            guard let size = CatalogRebuild.regularFileSize(path) else {
                if existing != nil {
                    changes.append(.remove(fileID: name))
                    report.removed += 1
                }
                continue
            }
            if let existing, existing.size == size { continue }
            var crc: UInt32? = file.block.crc32
            switch file.kind {
            case .appender: crc = nil
            case .slave: crc = try existing?.crc32 ?? CRC32.checksum(ofFileAt: path)
            case .normal, .trunk: break
            }
            let origin = existing.map { ($0.created, $0.isSource) } ?? origins[name]
                ?? (Int64(file.block.createTimestamp), file.block.source == source)
            changes.append(.upsert(CatalogEntry(fileID: name, group: group.rawValue, size: size, crc32: crc, created: origin.0,
                                                isSource: origin.1, kind: file.kind)))
            report.refreshed += 1
        }
        try catalog.applyNow(changes, binlogPosition: end)
        return report
    }
}

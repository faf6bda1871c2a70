public import FDFSModel
import FDFSFileSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Recreates the catalog from what is on disk (`fdfs-storaged --rebuild-catalog`): every file
/// in the store paths' data directories whose name is a valid remote filename, its size from
/// the file system, its CRC32 from the name (computed from the content for slave files), and
/// its creation time and origin from the binlog record that created the name (the name's own
/// timestamp and source when the binlog does not have it). Metadata lives only in the catalog,
/// so it is carried over from the old catalog when that can still be read.
public enum CatalogRebuild {
    /// What a rebuild found.
    public struct Report: Hashable, Sendable, CustomStringConvertible {
        public var files = 0
        public var filesWithMetadata = 0
        /// Names in the data directories that are not remote filenames (temporary files of
        /// uploads cut by a crash, foreign files); left alone.
        public var ignoredNames = 0
        public var binlogRecords = 0
        public var oldCatalogReadable = false
        public var description: String {
            "\(files) files (\(filesWithMetadata) with metadata), \(ignoredNames) other names ignored, \(binlogRecords) binlog records read"
                + (oldCatalogReadable ? ", metadata carried over from the old catalog" : ", no readable old catalog (metadata starts empty)")
        }
    }

    /// Creation time and origin of each name, from the binlog (later records win).
    static func origins(syncDirectory: String, report: inout Report) throws(BinlogError) -> [String: (created: Int64, isSource: Bool)] {
        var origins: [String: (created: Int64, isSource: Bool)] = [:]
        let reader = try BinlogReader(syncDirectory: syncDirectory, skipInvalidRecords: true)
        defer { reader.close() }
        while let entry = try reader.next() {
            report.binlogRecords += 1
            let r = entry.record
            switch r.operation.kind {
            case .create, .rename, .link:
                origins[r.filename] = (r.timestampSeconds, r.operation.isSource)
            default:
                break
            }
        }
        return origins
    }

    /// The catalog entries for the files on disk.
    public static func scan(paths: StorePaths, group: GroupName, source: FileSource, basePath: String,
                            report: inout Report) throws -> [CatalogEntry] {
        let origins = try Self.origins(syncDirectory: BinlogIndex.syncDirectory(basePath: basePath), report: &report)
        var entries: [CatalogEntry] = []
        for (index, storePath) in paths.paths.enumerated() {
            for high in 0..<paths.subdirCount {
                for low in 0..<paths.subdirCount {
                    let dir = RemoteFilename.format(index, UInt8(high), UInt8(low), "")
                    let directory = storePath.path + "/data/" + dir.dropFirst(4)
                    for name in directoryNames(directory) {
                        guard let file = try? RemoteFilename(parsing: dir + name, storePathCount: paths.paths.count,
                                                             subdirCount: paths.subdirCount),
                              let size = regularFileSize(directory + name)
                        else {
                            report.ignoredNames += 1
                            continue
                        }
                        var crc: UInt32? = file.block.crc32
                        switch file.kind {
                        case .appender: crc = nil
                        case .slave: crc = try CRC32.checksum(ofFileAt: directory + name)
                        case .normal, .trunk: break
                        }
                        let origin = origins[file.text] ?? (Int64(file.block.createTimestamp), file.block.source == source)
                        entries.append(CatalogEntry(fileID: file.text, group: group.rawValue, size: size, crc32: crc,
                                                    created: origin.created, isSource: origin.isSource, kind: file.kind))
                    }
                }
            }
        }
        report.files = entries.count
        return entries
    }

    /// Rebuilds the catalog at `catalogPath`: the new database is written beside it and then
    /// renamed over it, so a failed rebuild leaves the old one in place.
    public static func rebuild(catalogPath: String, paths: StorePaths, group: GroupName, source: FileSource,
                               basePath: String) throws -> Report {
        var report = Report()
        let entries = try scan(paths: paths, group: group, source: source, basePath: basePath, report: &report)
        var oldMetadata: [String: [CatalogMetadataItem]] = [:]
        if (try? FileSystemCalls.fileSize(catalogPath)) != nil, let old = try? FileCatalog(path: catalogPath), let snapshot = try? old.snapshot() {
            oldMetadata = snapshot.metadata
            report.oldCatalogReadable = true
            try? old.close()
        }
        let newPath = catalogPath + ".rebuild"
        for suffix in ["", "-wal", "-shm"] { _ = unlink(newPath + suffix) }
        let catalog = try FileCatalog(path: newPath)
        var changes = entries.map { CatalogChange.upsert($0) }
        for entry in entries {
            if let items = oldMetadata[entry.fileID], !items.isEmpty {
                changes.append(.setMetadata(file: entry, items: items, merge: false))
                report.filesWithMetadata += 1
            }
        }
        try catalog.applyNow(changes)
        try catalog.close()
        for suffix in ["-wal", "-shm"] { _ = unlink(catalogPath + suffix) }
        guard rename(newPath, catalogPath) == 0 else { throw FileSystemCalls.error("rename", newPath) }
        let slash = catalogPath.lastIndex(of: "/").map { String(catalogPath[..<$0]) } ?? "."
        try FileSystemCalls.syncDirectory(slash)
        return report
    }

    /// The names in a directory (none when it cannot be read).
    static func directoryNames(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func regularFileSize(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }
}

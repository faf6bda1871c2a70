#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
public import FDFSFileSystem

/// A failed system call on a tracker file.
public typealias TrackerIOError = FileSystemError

/// `<base_path>/data/`, where a tracker keeps its state (cluster spec §3.1), and the disk side
/// of ``TrackerFiles``.
///
/// All calls block on disk I/O; run them off the event loops. Writers must be serialised by the
/// caller (the C tracker's "file lock", which is also held while a peer copies the files, §3.5).
public struct TrackerDataDirectory: Sendable {
    public let basePath: String
    /// `<base_path>/data`
    public let dataPath: String
    /// `<base_path>/logs`
    public let logsPath: String

    /// Creates `data/` and `logs/` under `basePath` when they are missing (mode 0755).
    public init(basePath: String) throws(TrackerIOError) {
        let base = basePath.count > 1 && basePath.hasSuffix("/") ? String(basePath.dropLast()) : basePath
        self.basePath = base
        self.dataPath = base + "/data"
        self.logsPath = base + "/logs"
        try SystemCalls.makeDirectory(dataPath)
        try SystemCalls.makeDirectory(logsPath)
    }

    public func path(of file: TrackerDataFile) -> String { dataPath + "/" + file.fileName }
    public var changelogPath: String { dataPath + "/" + TrackerDataFile.changelogFileName }
    public var trackerStatusPath: String { dataPath + "/" + TrackerDataFile.trackerStatusFileName }
    public var legacyGroupsPath: String { dataPath + "/" + TrackerDataFile.legacyGroupsFileName }
    public var legacyStoragesPath: String { dataPath + "/" + TrackerDataFile.legacyStoragesFileName }

    /// The files a peer tracker copies with GET_ONE_SYS_FILE (§3.5), by index: 0 groups,
    /// 1 storages, 2 sync timestamps, 3 changelog; nil for any other index (`EINVAL`).
    public func systemFilePath(index: Int) -> String? {
        switch index {
        case 0: path(of: .groups)
        case 1: path(of: .storages)
        case 2: path(of: .syncTimestamps)
        case 3: changelogPath
        default: nil
        }
    }

    // MARK: - Saving

    /// Rewrites the chosen files from `snapshot`, each safely: the text goes to `<name>.tmp`,
    /// which is fsync'ed, closed and renamed over `<name>`, then the directory is fsync'ed so the
    /// rename itself survives a crash. On an error the temp file is removed, the old file stays,
    /// and the remaining files are not written.
    public func save(
        _ snapshot: ClusterSnapshot, useStorageID: Bool, which files: Set<TrackerDataFile> = Set(TrackerDataFile.allCases)
    ) throws(TrackerIOError) {
        for file in TrackerDataFile.allCases where files.contains(file) {
            let text = TrackerFiles.format(file, of: snapshot, useStorageID: useStorageID)
            try SystemCalls.replaceFile(path(of: file), with: Array(text.utf8), directory: dataPath)
        }
    }

    // MARK: - Loading

    /// Reads the cluster state as the C tracker does at startup (§3.1): groups, then storages,
    /// then sync timestamps. No groups file (new or legacy) means an empty cluster.
    ///
    /// Content problems never throw: whatever can be read is returned, the rest is described in
    /// the problems (see ``TrackerFiles``). Statuses are as written: the caller applies the
    /// restart rule. A legacy file (§3.6) is read when its new counterpart is absent and is
    /// converted at once: the new file is written and the old one deleted, unless it had
    /// problems, in which case it is left for inspection (it is not read again once the new
    /// file exists).
    ///
    /// - Throws: only for I/O errors other than an absent file (and for a failed conversion).
    public func load(
        useStorageID: Bool = false, resolveID: StorageIDResolver? = nil
    ) throws(TrackerIOError) -> (snapshot: ClusterSnapshot, problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        var snapshot = ClusterSnapshot()
        // Storage offsets beyond the changelog's end are clamped to its size.
        let changelogSize = try SystemCalls.fileSize(changelogPath) ?? 0
        var converted: [(file: TrackerDataFile, legacyPath: String, clean: Bool)] = []

        if let text = try readText(path(of: .groups)) {
            let result = TrackerFiles.parseGroups(text, path: path(of: .groups), useStorageID: useStorageID, resolveID: resolveID)
            snapshot.groups = result.groups
            problems += result.problems
        } else if let text = try readText(legacyGroupsPath) {
            let result = TrackerFiles.parseLegacyGroups(text, path: legacyGroupsPath)
            snapshot.groups = result.groups
            problems += result.problems
            converted.append((.groups, legacyGroupsPath, result.problems.isEmpty))
        } else {
            for storagesPath in [path(of: .storages), legacyStoragesPath] where try SystemCalls.fileSize(storagesPath) != nil {
                problems.append(.init(path: storagesPath, line: 1, message: "ignored: there is no groups file, so the tracker starts empty"))
            }
            return (snapshot, problems)
        }

        if let text = try readText(path(of: .storages)) {
            let result = TrackerFiles.parseStorages(text, path: path(of: .storages), groups: snapshot.groups, useStorageID: useStorageID,
                                                    resolveID: resolveID, changelogSize: changelogSize)
            snapshot.storages = result.storages
            problems += result.problems
        } else if let text = try readText(legacyStoragesPath) {
            let result = TrackerFiles.parseLegacyStorages(text, path: legacyStoragesPath, groups: snapshot.groups, useStorageID: useStorageID,
                                                          resolveID: resolveID, changelogSize: changelogSize)
            snapshot.storages = result.storages
            problems += result.problems
            converted.append((.storages, legacyStoragesPath, result.problems.isEmpty))
        }

        if let text = try readText(path(of: .syncTimestamps)) {
            let result = TrackerFiles.parseSyncTimestamps(text, path: path(of: .syncTimestamps), snapshot: snapshot,
                                                          useStorageID: useStorageID, resolveID: resolveID)
            snapshot.syncTimestamps = result.rows
            problems += result.problems
        }

        if !converted.isEmpty {
            try save(snapshot, useStorageID: useStorageID, which: Set(converted.map(\.file)))
            for conversion in converted {
                if conversion.clean {
                    try SystemCalls.removeFile(conversion.legacyPath)
                } else {
                    problems.append(.init(path: conversion.legacyPath, line: 1,
                                          message: "converted to \(conversion.file.fileName) with problems; the old file is kept for inspection"))
                }
            }
        }
        return (snapshot, problems)
    }

    /// The whole content of one of the data files, nil when it does not exist (for
    /// GET_ONE_SYS_FILE and tests).
    public func contents(of file: TrackerDataFile) throws(TrackerIOError) -> [UInt8]? {
        try SystemCalls.readFile(path(of: file))
    }

    private func readText(_ path: String) throws(TrackerIOError) -> String? {
        try SystemCalls.readFile(path).map { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: - .tracker_status and the changelog

    /// `.tracker_status`, nil when the file does not exist; unreadable values are 0.
    public func readTrackerStatus() throws(TrackerIOError) -> (status: TrackerStatusRecord, problems: [TrackerFileProblem])? {
        guard let text = try readText(trackerStatusPath) else { return nil }
        return TrackerFiles.parseTrackerStatus(text, path: trackerStatusPath)
    }

    /// Writes `.tracker_status` in place (write + fsync, no rename), as the C tracker does every
    /// 300 seconds: a torn file only costs the long-stop detection, which reads 0s as "no stop".
    public func writeTrackerStatus(_ status: TrackerStatusRecord) throws(TrackerIOError) {
        try SystemCalls.overwriteFile(trackerStatusPath, with: Array(TrackerFiles.formatTrackerStatus(status).utf8))
    }

    /// Opens (creating it if needed) `storage_changelog.dat` for appending.
    public func openChangelog() throws(TrackerIOError) -> Changelog {
        try Changelog(path: changelogPath)
    }
}

// MARK: - System calls

extension TrackerDataDirectory {
    /// The POSIX calls behind the tracker files (shared with the storage engine).
    typealias SystemCalls = FileSystemCalls
}

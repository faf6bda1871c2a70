public import FDFSModel
import FDFSProtocol

/// The tracker's data files (cluster spec §3.1) that are rewritten as a whole.
public enum TrackerDataFile: String, CaseIterable, Hashable, Sendable {
    /// `storage_groups_new.dat` (§3.2).
    case groups = "storage_groups_new.dat"
    /// `storage_servers_new.dat` (§3.3).
    case storages = "storage_servers_new.dat"
    /// `storage_sync_timestamp.dat` (§3.4).
    case syncTimestamps = "storage_sync_timestamp.dat"

    public var fileName: String { rawValue }

    /// `storage_groups.dat`: the CSV predecessor of the groups file (§3.6).
    public static let legacyGroupsFileName = "storage_groups.dat"
    /// `storage_servers.dat`: the CSV predecessor of the storages file (§3.6).
    public static let legacyStoragesFileName = "storage_servers.dat"
    /// `storage_changelog.dat` (§1.12), append-only, see ``Changelog``.
    public static let changelogFileName = "storage_changelog.dat"
    /// `.tracker_status` (§3.1, §3.5).
    public static let trackerStatusFileName = ".tracker_status"
}

/// Something wrong in a tracker data file: where (file and 1-based line) and what.
///
/// The loaders never give up on a damaged file (a crash can tear a file that is written in
/// place, and the C tracker refuses to start on any inconsistency); they keep what can be read
/// and describe the rest as problems, for the caller to log.
public struct TrackerFileProblem: Hashable, Sendable, CustomStringConvertible {
    public var path: String
    /// 1-based; for something missing at the end of a file, the last line of the file.
    public var line: Int
    public var message: String

    public init(path: String, line: Int, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String { "\(path):\(line): \(message)" }
}

/// Maps (group, IP address, port) to a storage id through storage_ids.conf; used with
/// `use_storage_id` when a file names a storage by address instead of by id.
public typealias StorageIDResolver = (_ group: GroupName, _ ipAddress: String, _ port: Int) -> StorageID?

/// `.tracker_status` (§3.1): when this tracker started and when it last recorded being alive,
/// used to detect a long stop (§3.5).
public struct TrackerStatusRecord: Hashable, Sendable {
    public var upTime: Int64
    public var lastCheckTime: Int64

    public init(upTime: Int64, lastCheckTime: Int64) {
        self.upTime = upTime
        self.lastCheckTime = lastCheckTime
    }
}

/// The text formats of the tracker's data files (cluster spec §3): pure conversions between
/// text and model values, no I/O (``TrackerDataDirectory`` does that).
///
/// Formatting reproduces the C tracker's output byte for byte. Parsing is tolerant: see
/// ``TrackerFileProblem``. Statuses are returned exactly as written; the restart rule (anything
/// but INIT, WAIT_SYNC and SYNCING is loaded as OFFLINE, §3.1) belongs to the state machine
/// and is not applied here.
public enum TrackerFiles {
    /// The 36 statistics keys of a storage block, in file order (§3.3). This is the wire order
    /// without the modify/truncate counters, which are not persisted.
    public static let persistedStatisticsKeys: [String] = [
        "total_upload_count", "success_upload_count", "total_append_count", "success_append_count",
        "total_set_meta_count", "success_set_meta_count", "total_delete_count", "success_delete_count",
        "total_download_count", "success_download_count", "total_get_meta_count", "success_get_meta_count",
        "total_create_link_count", "success_create_link_count", "total_delete_link_count",
        "success_delete_link_count", "total_upload_bytes", "success_upload_bytes", "total_append_bytes",
        "success_append_bytes", "total_download_bytes", "success_download_bytes", "total_sync_in_bytes",
        "success_sync_in_bytes", "total_sync_out_bytes", "success_sync_out_bytes", "total_file_open_count",
        "success_file_open_count", "total_file_read_count", "success_file_read_count",
        "total_file_write_count", "success_file_write_count", "last_source_update", "last_sync_update",
        "last_synced_timestamp", "last_heart_beat_time",
    ]

    /// Each persisted key with its index in `StorageStatistics.int64Fields`, looked up by name so
    /// that the two tables cannot drift apart silently.
    static let persistedStatisticsIndices: [(key: String, index: Int)] = persistedStatisticsKeys.map { key in
        guard let index = StorageStatistics.int64FieldNames.firstIndex(of: key) else {
            preconditionFailure("statistics key \(key) is not a StorageStatistics field")
        }
        return (key, index)
    }

    static let groupKeys = [
        "group_name", "storage_port", "store_path_count", "subdir_count_per_path",
        "current_trunk_file_id", "trunk_server", "last_trunk_server",
    ]
    static let storageKeys = [
        "group_name", "ip_addr", "status", "version", "join_time", "storage_port", "sync_src_server",
        "sync_until_timestamp", "total_mb", "free_mb", "changelog_offset", "store_path_count",
        "subdir_count_per_path", "upload_priority",
    ] + persistedStatisticsKeys

    /// DELETED and IP_CHANGED records stay in memory but are never written (§3.3, §3.4).
    public static func isPersisted(_ status: StorageStatus) -> Bool {
        status != .deleted && status != .ipChanged
    }

    /// Section numbers are zero-padded to at least three digits (`%03d`).
    static func sectionNumber(_ n: Int) -> String {
        let digits = String(n)
        return digits.count >= 3 ? digits : String(repeating: "0", count: 3 - digits.count) + digits
    }

    // MARK: - Formatting

    /// The text of one file of `snapshot`.
    public static func format(_ file: TrackerDataFile, of snapshot: ClusterSnapshot, useStorageID: Bool) -> String {
        switch file {
        case .groups: formatGroups(snapshot.groups)
        case .storages: formatStorages(snapshot.storages, groups: snapshot.groups, useStorageID: useStorageID)
        case .syncTimestamps: formatSyncTimestamps(snapshot.syncTimestamps)
        }
    }

    /// `storage_groups_new.dat` (§3.2): groups in name order.
    public static func formatGroups(_ groups: [TrackedGroup]) -> String {
        let sorted = groups.sorted { $0.name < $1.name }
        var out = "[Global]\n\tgroup_count=\(sorted.count)\n\n"
        for (i, group) in sorted.enumerated() {
            out += "# group: \(group.name)\n"
            out += "[Group\(sectionNumber(i + 1))]\n"
            out += "\tgroup_name=\(group.name)\n"
            out += "\tstorage_port=\(group.storagePort)\n"
            out += "\tstore_path_count=\(group.storePathCount)\n"
            out += "\tsubdir_count_per_path=\(group.subdirCountPerPath)\n"
            out += "\tcurrent_trunk_file_id=\(group.currentTrunkFileID)\n"
            out += "\ttrunk_server=\(group.trunkServerID?.rawValue ?? "")\n"
            out += "\tlast_trunk_server=\(group.lastTrunkServerID?.rawValue ?? "")\n\n"
        }
        return out
    }

    /// `storage_servers_new.dat` (§3.3): the storages of each of `groups` (in name order), each
    /// group's storages in the given (first-added) order, DELETED and IP_CHANGED omitted, then
    /// the `[Global]` trailer.
    ///
    /// Like the C tracker, which walks its groups, this writes nothing for a storage whose group
    /// is not in `groups`: the loader would reject such a record anyway.
    public static func formatStorages(_ storages: [TrackedStorage], groups: [TrackedGroup], useStorageID: Bool) -> String {
        var out = ""
        var count = 0
        for group in groups.sorted(by: { $0.name < $1.name }) {
            for storage in storages where storage.group == group.name && isPersisted(storage.status) {
                count += 1
                let address = storage.primaryIPAddress
                let shownAddress = address.contains(":") ? "[\(address)]" : address
                out += "# storage: \(shownAddress):\(storage.port)\n"
                out += "[Storage\(sectionNumber(count))]\n"
                if useStorageID { out += "\tid=\(storage.id)\n" }
                out += "\tgroup_name=\(storage.group)\n"
                out += "\tip_addr=\(address)\n"
                out += "\tstatus=\(storage.status.rawValue)\n"
                out += "\tversion=\(storage.version)\n"
                out += "\tjoin_time=\(storage.joinTime)\n"
                out += "\tstorage_port=\(storage.port)\n"
                out += "\tsync_src_server=\(storage.syncSourceID?.rawValue ?? "")\n"
                out += "\tsync_until_timestamp=\(storage.syncUntilTimestamp)\n"
                out += "\ttotal_mb=\(storage.totalMB)\n"
                out += "\tfree_mb=\(storage.freeMB)\n"
                out += "\tchangelog_offset=\(storage.changelogOffset)\n"
                out += "\tstore_path_count=\(storage.storePathCount)\n"
                out += "\tsubdir_count_per_path=\(storage.subdirCountPerPath)\n"
                out += "\tupload_priority=\(storage.uploadPriority)\n"
                let values = storage.statistics.int64Fields
                for (key, index) in persistedStatisticsIndices {
                    out += "\t\(key)=\(values[index])\n"
                }
                out += "\n"
            }
        }
        out += "\n[Global]\n\tstorage_count=\(count)\n"
        return out
    }

    /// `storage_sync_timestamp.dat` (§3.4), one line per row, written as given: the producer of
    /// the rows (the cluster state) lists them in file order and leaves out DELETED and
    /// IP_CHANGED storages in both dimensions.
    public static func formatSyncTimestamps(_ rows: [SyncTimestampRow]) -> String {
        var out = ""
        for row in rows {
            out += "\(row.group),\(row.sourceID)"
            for timestamp in row.timestamps { out += ",\(timestamp)" }
            out += "\n"
        }
        return out
    }

    /// `.tracker_status` (§3.1).
    public static func formatTrackerStatus(_ status: TrackerStatusRecord) -> String {
        "up_time=\(status.upTime)\nlast_check_time=\(status.lastCheckTime)\n"
    }

    // MARK: - Parsing the ini files

    /// Reads `storage_groups_new.dat`. Every readable `[GroupNNN]` block is returned (sorted by
    /// name), whatever `group_count` says; a block without a valid `group_name` is skipped.
    ///
    /// With `useStorageID`, a `trunk_server` / `last_trunk_server` value that is not a numeric id
    /// is an IP address of an older file and is translated with `resolveID` (group, IP, group
    /// port); an untranslatable value is dropped with a problem. Whether the trunk server exists
    /// is the state machine's business (it matters only with `use_trunk_file`).
    public static func parseGroups(
        _ text: String, path: String, useStorageID: Bool = false, resolveID: StorageIDResolver? = nil
    ) -> (groups: [TrackedGroup], problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        let document = IniBlockReader.read(text, path: path, problems: &problems)
        let sections = itemSections(of: document, prefix: "Group", path: path, problems: &problems)
        var groups: [TrackedGroup] = []
        for section in sections {
            var fields = BlockFields(section: section, path: path, expectedKeys: groupKeys)
            guard let nameEntry = fields.require("group_name"), let name = fields.groupName(nameEntry) else {
                problems += fields.problems
                continue
            }
            if groups.contains(where: { $0.name == name }) {
                problems += fields.problems
                problems.append(.init(path: path, line: nameEntry.line, message: "[\(section.name)]: group \(name) appears twice; block skipped"))
                continue
            }
            var group = TrackedGroup(name: name)
            group.storagePort = fields.number("storage_port")
            group.storePathCount = fields.number("store_path_count")
            group.subdirCountPerPath = fields.number("subdir_count_per_path")
            group.currentTrunkFileID = fields.number("current_trunk_file_id")
            let port = group.storagePort
            group.trunkServerID = fields.storageReference("trunk_server", group: name, port: port, useStorageID: useStorageID, resolveID: resolveID)
            group.lastTrunkServerID = fields.storageReference("last_trunk_server", group: name, port: port, useStorageID: useStorageID, resolveID: resolveID)
            fields.reportMissingKeys()
            problems += fields.problems
            groups.append(group)
        }
        checkCount(document, key: "group_count", found: sections.count, path: path, problems: &problems)
        groups.sort { $0.name < $1.name }
        return (groups, byLine(problems))
    }

    /// Reads `storage_servers_new.dat`. Every readable `[StorageNNN]` block whose group exists
    /// and which has an `ip_addr` (and, with ids, an id) is returned in file order, whatever
    /// `storage_count` says; missing optional keys are 0/empty.
    ///
    /// - Parameters:
    ///   - groups: the groups already loaded; a storage of another group is skipped.
    ///   - useStorageID: ids come from `id=` (or, missing, from `resolveID`); without, the id
    ///     is the `ip_addr` text.
    ///   - resolveID: storage_ids.conf lookup; nil skips records that need it.
    ///   - changelogSize: when given, `changelog_offset` is clamped to `0...changelogSize` (with
    ///     a problem). The spec asks this of the legacy loader (§3.6); it is done for both formats
    ///     so that a lost or replaced changelog cannot leave offsets beyond its end.
    public static func parseStorages(
        _ text: String, path: String, groups: [TrackedGroup], useStorageID: Bool,
        resolveID: StorageIDResolver? = nil, changelogSize: Int64? = nil
    ) -> (storages: [TrackedStorage], problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        let document = IniBlockReader.read(text, path: path, problems: &problems)
        let groupsByName = Dictionary(groups.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let sections = itemSections(of: document, prefix: "Storage", path: path, problems: &problems)
        var pending: [PendingStorage] = []
        for section in sections {
            var fields = BlockFields(section: section, path: path, expectedKeys: storageKeys)
            if let record = storage(from: &fields, groups: groupsByName, useStorageID: useStorageID, resolveID: resolveID) {
                fields.reportMissingKeys()
                pending.append(record)
            }
            problems += fields.problems
        }
        checkCount(document, key: "storage_count", found: sections.count, path: path, problems: &problems)
        let storages = finishStorages(pending, path: path, groups: groupsByName, useStorageID: useStorageID,
                                      resolveID: resolveID, changelogSize: changelogSize, problems: &problems)
        return (storages, byLine(problems))
    }

    /// Reads `.tracker_status`; missing or unreadable values are 0.
    public static func parseTrackerStatus(_ text: String, path: String) -> (status: TrackerStatusRecord, problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        let document = IniBlockReader.read(text, path: path, problems: &problems)
        let section = document.sections.first { $0.name.isEmpty } ?? IniSection(name: "", line: 1)
        var fields = BlockFields(section: section, path: path, expectedKeys: ["up_time", "last_check_time"])
        let status = TrackerStatusRecord(upTime: fields.number("up_time"), lastCheckTime: fields.number("last_check_time"))
        fields.reportMissingKeys()
        return (status, byLine(problems + fields.problems))
    }

    /// One `[StorageNNN]` block; nil (with a problem) when its mandatory keys are missing or
    /// invalid.
    private static func storage(
        from fields: inout BlockFields, groups: [GroupName: TrackedGroup], useStorageID: Bool, resolveID: StorageIDResolver?
    ) -> PendingStorage? {
        let name = fields.section.name
        guard let groupEntry = fields.require("group_name"), let groupName = fields.groupName(groupEntry) else { return nil }
        guard let group = groups[groupName] else {
            fields.problem(groupEntry.line, "[\(name)]: group \(groupName) is not in the groups file; block skipped")
            return nil
        }
        guard let ipEntry = fields.require("ip_addr") else { return nil }
        let ip = ipEntry.value
        var port: Int = fields.number("storage_port")
        if port == 0 { port = group.storagePort }

        let id: StorageID
        if useStorageID {
            let idEntry = fields.entry("id")
            if let idEntry, !idEntry.value.isEmpty, let numeric = try? StorageID(idEntry.value), numeric.numericValue != nil {
                id = numeric
            } else {
                if let idEntry, !idEntry.value.isEmpty {
                    fields.problem(idEntry.line, "[\(name)]: id '\(idEntry.value)' is not a numeric storage id")
                }
                guard let resolved = resolveID?(groupName, ip, port) else {
                    fields.problem(idEntry?.line ?? fields.section.line, "[\(name)]: no storage id for \(groupName) \(ip):\(port); block skipped")
                    return nil
                }
                id = resolved
            }
        } else {
            guard let addressID = try? StorageID(ip) else {
                fields.problem(ipEntry.line, "[\(name)]: ip_addr '\(ip)' cannot serve as a storage id; block skipped")
                return nil
            }
            id = addressID
        }

        var storage = TrackedStorage(id: id, group: groupName, ipAddresses: [ip], port: port, status: .initial)
        storage.status = StorageStatus(rawValue: fields.number("status"))
        storage.version = fields.string("version")
        storage.joinTime = fields.number("join_time")
        let syncSource = fields.entry("sync_src_server")
        storage.syncUntilTimestamp = fields.number("sync_until_timestamp")
        storage.totalMB = fields.number("total_mb")
        storage.freeMB = fields.number("free_mb")
        storage.changelogOffset = fields.number("changelog_offset")
        storage.storePathCount = fields.number("store_path_count")
        storage.subdirCountPerPath = fields.number("subdir_count_per_path")
        storage.uploadPriority = fields.number("upload_priority")
        var values = storage.statistics.int64Fields
        for (key, index) in persistedStatisticsIndices { values[index] = fields.number(key) }
        storage.statistics.int64Fields = values
        return PendingStorage(
            storage: storage, line: fields.section.line, label: "[\(name)]",
            syncSource: syncSource.map { ($0.value, $0.line) }, changelogOffsetLine: fields.entry("changelog_offset")?.line
        )
    }

    /// The numbered item sections (`[Group001]`, `[Storage012]`) in file order; sections other
    /// than these and `[Global]` are reported and ignored (keys before any header, too).
    private static func itemSections(of document: IniDocument, prefix: String, path: String, problems: inout [TrackerFileProblem]) -> [IniSection] {
        document.sections.filter { section in
            let digits = section.name.dropFirst(prefix.count)
            if section.name.hasPrefix(prefix), !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
            if section.name == "Global" { return false }
            if section.name.isEmpty {
                if let entry = section.entries.values.min(by: { $0.line < $1.line }) {
                    problems.append(.init(path: path, line: entry.line, message: "keys before the first section ignored"))
                }
            } else {
                problems.append(.init(path: path, line: section.line, message: "unknown section [\(section.name)] ignored"))
            }
            return false
        }
    }

    /// A `[Global]` count that is missing or disagrees with the blocks found is reported; the
    /// blocks are kept either way.
    private static func checkCount(_ document: IniDocument, key: String, found: Int, path: String, problems: inout [TrackerFileProblem]) {
        guard let global = document.sections.first(where: { $0.name == "Global" }), let entry = global.entries[key] else {
            problems.append(.init(path: path, line: document.lastLine, message: "\(key) not found ([Global] missing or cut off): the file is incomplete"))
            return
        }
        guard let count = Int(entry.value) else {
            problems.append(.init(path: path, line: entry.line, message: "\(key) '\(entry.value)' is not a number"))
            return
        }
        if count != found {
            problems.append(.init(path: path, line: entry.line, message: "\(key) is \(count) but the file has \(found) blocks"))
        }
    }

    // MARK: - Sync timestamps

    /// Reads `storage_sync_timestamp.dat` against the groups and storages already loaded.
    ///
    /// Rows are matched to storages by their source id (the C loader insists on the exact row
    /// order instead), returned in the group's storage order, and padded with zeros to the
    /// number of storages, as the C tracker's zero-filled matrix is. A storage without a row
    /// (all zeros in C) is reported but gets no row. Lines of unknown groups or storages,
    /// duplicate rows and an unterminated last line are skipped with a problem; columns beyond
    /// the group's storages are dropped with a problem.
    public static func parseSyncTimestamps(
        _ text: String, path: String, snapshot: ClusterSnapshot, useStorageID: Bool = false, resolveID: StorageIDResolver? = nil
    ) -> (rows: [SyncTimestampRow], problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        let lines = TextLines(text, path: path, problems: &problems)
        let groupNames = Set(snapshot.groups.map(\.name))
        var members: [GroupName: [StorageID]] = [:]
        for storage in snapshot.storages where isPersisted(storage.status) && groupNames.contains(storage.group) {
            members[storage.group, default: []].append(storage.id)
        }
        let groupPorts = Dictionary(snapshot.groups.map { ($0.name, $0.storagePort) }, uniquingKeysWith: { first, _ in first })
        var found: [GroupName: [StorageID: [Int64]]] = [:]

        for (number, line) in lines.lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { trimmed($0) }
            if fields.count == 1 && fields[0].isEmpty { continue }
            guard fields.count > 2 else {
                problems.append(.init(path: path, line: number, message: "\(fields.count) fields, at least 3 expected; line skipped"))
                continue
            }
            guard let group = try? GroupName(fields[0]), groupNames.contains(group) else {
                problems.append(.init(path: path, line: number, message: "group '\(fields[0])' is unknown; line skipped"))
                continue
            }
            let ids = members[group] ?? []
            var source = try? StorageID(fields[1])
            if useStorageID, source?.numericValue == nil {
                source = resolveID?(group, fields[1], groupPorts[group] ?? 0)
            }
            guard let source, ids.contains(source) else {
                problems.append(.init(path: path, line: number, message: "storage '\(fields[1])' is not a storage of \(group); line skipped"))
                continue
            }
            guard found[group]?[source] == nil else {
                problems.append(.init(path: path, line: number, message: "second row for \(group) \(source); line skipped"))
                continue
            }
            var cells = Array(fields.dropFirst(2))
            if cells.count > ids.count {
                problems.append(.init(path: path, line: number, message: "\(cells.count) timestamps but \(group) has \(ids.count) storages; extra columns dropped"))
                cells.removeLast(cells.count - ids.count)
            }
            var timestamps = [Int64](repeating: 0, count: ids.count)
            for (column, cell) in cells.enumerated() {
                if let value = Int64(cell) {
                    timestamps[column] = value
                } else {
                    problems.append(.init(path: path, line: number, message: "timestamp '\(cell)' in column \(column + 3) is not a number; taken as 0"))
                }
            }
            found[group, default: [:]][source] = timestamps
        }

        var rows: [SyncTimestampRow] = []
        for group in snapshot.groups.map(\.name).sorted() {
            for id in members[group] ?? [] {
                if let timestamps = found[group]?[id] {
                    rows.append(SyncTimestampRow(group: group, sourceID: id, timestamps: timestamps))
                } else {
                    problems.append(.init(path: path, line: lines.lastLine, message: "no row for storage \(id) of \(group): its timestamps are 0"))
                }
            }
        }
        return (rows, byLine(problems))
    }

    // MARK: - Legacy files (§3.6)

    /// Reads the old `storage_groups.dat`: `group_name,storage_port[,store_path_count,subdir_count_per_path]`.
    public static func parseLegacyGroups(_ text: String, path: String) -> (groups: [TrackedGroup], problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        let lines = TextLines(text, path: path, problems: &problems)
        var groups: [TrackedGroup] = []
        for (number, line) in lines.lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { trimmed($0) }
            if fields.count == 1 && fields[0].isEmpty { continue }
            guard fields.count == 2 || fields.count == 4 else {
                problems.append(.init(path: path, line: number, message: "\(fields.count) fields, 2 or 4 expected; line skipped"))
                continue
            }
            var row = CSVRow(fields: fields, line: number, path: path)
            guard let name = row.groupName(0) else { problems += row.problems; continue }
            if groups.contains(where: { $0.name == name }) {
                problems.append(.init(path: path, line: number, message: "group \(name) appears twice; line skipped"))
                continue
            }
            var group = TrackedGroup(name: name)
            group.storagePort = row.number(1, "storage_port")
            if fields.count == 4 {
                group.storePathCount = row.number(2, "store_path_count")
                group.subdirCountPerPath = row.number(3, "subdir_count_per_path")
            }
            problems += row.problems
            groups.append(group)
        }
        groups.sort { $0.name < $1.name }
        return (groups, byLine(problems))
    }

    /// Reads the old `storage_servers.dat`: one line of 17, 18, 20 or 22 comma-separated fields
    /// per storage (§3.6). Ids as in ``parseStorages(_:path:groups:useStorageID:resolveID:changelogSize:)``
    /// (there is no id column: with ids every record goes through `resolveID`).
    public static func parseLegacyStorages(
        _ text: String, path: String, groups: [TrackedGroup], useStorageID: Bool,
        resolveID: StorageIDResolver? = nil, changelogSize: Int64? = nil
    ) -> (storages: [TrackedStorage], problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        let lines = TextLines(text, path: path, problems: &problems)
        let groupsByName = Dictionary(groups.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var pending: [PendingStorage] = []
        for (number, line) in lines.lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { trimmed($0) }
            if fields.count == 1 && fields[0].isEmpty { continue }
            guard [17, 18, 20, 22].contains(fields.count) else {
                problems.append(.init(path: path, line: number, message: "\(fields.count) fields, 17, 18, 20 or 22 expected; line skipped"))
                continue
            }
            var row = CSVRow(fields: fields, line: number, path: path)
            guard let groupName = row.groupName(0) else { problems += row.problems; continue }
            guard let group = groupsByName[groupName] else {
                problems.append(.init(path: path, line: number, message: "group \(groupName) is not in the groups file; line skipped"))
                continue
            }
            let ip = fields[1]
            guard !ip.isEmpty else {
                problems.append(.init(path: path, line: number, message: "empty IP address; line skipped"))
                continue
            }
            var port = fields.count >= 20 ? row.number(18, "storage_port") as Int : 0
            if port == 0 { port = group.storagePort }
            let id: StorageID
            if useStorageID {
                guard let resolved = resolveID?(groupName, ip, port) else {
                    problems.append(.init(path: path, line: number, message: "no storage id for \(groupName) \(ip):\(port); line skipped"))
                    continue
                }
                id = resolved
            } else {
                guard let addressID = try? StorageID(ip) else {
                    problems.append(.init(path: path, line: number, message: "IP address '\(ip)' cannot serve as a storage id; line skipped"))
                    continue
                }
                id = addressID
            }
            var storage = TrackedStorage(id: id, group: groupName, ipAddresses: [ip], port: port, status: .initial)
            storage.status = StorageStatus(rawValue: row.number(2, "status"))
            storage.syncUntilTimestamp = row.number(4, "sync_until_timestamp")
            var s = storage.statistics
            s.totalUploadCount = row.number(5, "total_upload_count")
            s.successUploadCount = row.number(6, "success_upload_count")
            s.totalSetMetaCount = row.number(7, "total_set_meta_count")
            s.successSetMetaCount = row.number(8, "success_set_meta_count")
            s.totalDeleteCount = row.number(9, "total_delete_count")
            s.successDeleteCount = row.number(10, "success_delete_count")
            s.totalDownloadCount = row.number(11, "total_download_count")
            s.successDownloadCount = row.number(12, "success_download_count")
            s.totalGetMetaCount = row.number(13, "total_get_meta_count")
            s.successGetMetaCount = row.number(14, "success_get_meta_count")
            s.lastSourceUpdate = row.number(15, "last_source_update")
            s.lastSyncUpdate = row.number(16, "last_sync_update")
            storage.statistics = s
            if fields.count >= 18 { storage.changelogOffset = row.number(17, "changelog_offset") }
            // Field 19 is ignored: its meaning is not recoverable (§3.6).
            if fields.count == 22 {
                storage.joinTime = row.number(20, "join_time")
                storage.version = fields[21]
            }
            problems += row.problems
            pending.append(PendingStorage(
                storage: storage, line: number, label: "storage \(ip)",
                syncSource: fields[3].isEmpty ? nil : (fields[3], number), changelogOffsetLine: number
            ))
        }
        let storages = finishStorages(pending, path: path, groups: groupsByName, useStorageID: useStorageID,
                                      resolveID: resolveID, changelogSize: changelogSize, problems: &problems)
        return (storages, byLine(problems))
    }

    // MARK: - Shared checks of both storage formats

    /// A storage read from a block or line, before the checks that need all records.
    struct PendingStorage {
        var storage: TrackedStorage
        var line: Int
        var label: String
        var syncSource: (text: String, line: Int)?
        var changelogOffsetLine: Int?
    }

    /// Drops duplicates, resolves sync sources (which must be storages of the same group that
    /// were loaded; otherwise the source is cleared, as SYNC_SRC_REQ would drop a stale one) and
    /// clamps changelog offsets.
    private static func finishStorages(
        _ pending: [PendingStorage], path: String, groups: [GroupName: TrackedGroup], useStorageID: Bool,
        resolveID: StorageIDResolver?, changelogSize: Int64?, problems: inout [TrackerFileProblem]
    ) -> [TrackedStorage] {
        var seen: Set<[String]> = []
        var kept: [PendingStorage] = []
        for record in pending {
            let key = [record.storage.group.rawValue, record.storage.id.rawValue]
            if seen.insert(key).inserted {
                kept.append(record)
            } else {
                problems.append(.init(path: path, line: record.line, message: "\(record.label): storage \(record.storage.id) of \(record.storage.group) appears twice; record skipped"))
            }
        }
        var membersByGroup: [GroupName: Set<StorageID>] = [:]
        for record in kept { membersByGroup[record.storage.group, default: []].insert(record.storage.id) }

        return kept.map { record in
            var storage = record.storage
            if let source = record.syncSource, !source.text.isEmpty {
                var sourceID = try? StorageID(source.text)
                if useStorageID, sourceID?.numericValue == nil {
                    let port = groups[storage.group].map { $0.storagePort > 0 ? $0.storagePort : storage.port } ?? storage.port
                    sourceID = resolveID?(storage.group, source.text, port)
                }
                if let sourceID, membersByGroup[storage.group]?.contains(sourceID) == true {
                    storage.syncSourceID = sourceID
                } else {
                    problems.append(.init(path: path, line: source.line, message: "\(record.label): sync source '\(source.text)' is not a storage of \(storage.group); cleared"))
                }
            }
            if let size = changelogSize, storage.changelogOffset < 0 || storage.changelogOffset > size {
                let clamped = min(max(storage.changelogOffset, 0), size)
                problems.append(.init(path: path, line: record.changelogOffsetLine ?? record.line,
                                      message: "\(record.label): changelog_offset \(storage.changelogOffset) is outside the changelog (\(size) bytes); set to \(clamped)"))
                storage.changelogOffset = clamped
            }
            return storage
        }
    }

    /// Problems in file order (the sort is stable: several problems of one line keep their order).
    static func byLine(_ problems: [TrackerFileProblem]) -> [TrackerFileProblem] {
        problems.sorted { $0.line < $1.line }
    }

    /// Without surrounding spaces, TABs and CRs (the C readers trim the same).
    static func trimmed(_ text: some StringProtocol) -> String {
        let scalars = text.unicodeScalars
        func isBlank(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" || s == "\r" }
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end, isBlank(scalars[start]) { start = scalars.index(after: start) }
        while end > start, isBlank(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }
}

// MARK: - Reading lines and ini blocks

extension TrackerFiles {
    /// The complete lines of a text, numbered from 1. A last line without its newline is what a
    /// torn write leaves (its value may be cut), so it is reported and left out.
    struct TextLines {
        var lines: [(number: Int, text: String)] = []
        /// The number of the last line, complete or not (at least 1).
        var lastLine = 1

        init(_ text: String, path: String, problems: inout [TrackerFileProblem]) {
            // Split on the scalar: as a Character, "\r\n" would not match "\n".
            var pieces = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
                .map { String(String.UnicodeScalarView($0)) }
            let torn = pieces.removeLast()  // "" when the text ends with a newline
            for (i, piece) in pieces.enumerated() { lines.append((i + 1, piece)) }
            lastLine = max(1, pieces.count)
            if !torn.isEmpty {
                lastLine = pieces.count + 1
                problems.append(.init(path: path, line: lastLine, message: "last line '\(torn)' has no newline (cut off); ignored"))
            }
        }
    }

    struct IniEntry {
        var value: String
        var line: Int
    }

    /// One section of an ini file; keys before the first header belong to a section named "".
    struct IniSection {
        var name: String
        var line: Int
        var entries: [String: IniEntry] = [:]
    }

    struct IniDocument {
        var sections: [IniSection]
        var lastLine: Int
    }

    /// The one ini reader of the tracker files: `[Section]` headers, `key=value` lines (leading
    /// TABs and spaces trimmed, as libfastcommon's reader does), `#` comments and blank lines.
    /// Malformed lines, duplicate sections (the second is ignored) and duplicate keys (the first
    /// wins, as `iniGetStrValue` returns it) are reported.
    enum IniBlockReader {
        static func read(_ text: String, path: String, problems: inout [TrackerFileProblem]) -> IniDocument {
            let lines = TextLines(text, path: path, problems: &problems)
            var sections: [IniSection] = [IniSection(name: "", line: 1)]
            var names: Set<String> = [""]
            // nil while inside a section that is ignored (duplicate or malformed header), so that
            // its keys cannot leak into the previous section.
            var current: Int? = 0
            for (number, raw) in lines.lines {
                let line = trimmed(raw)
                if line.isEmpty || line.hasPrefix("#") { continue }
                if line.hasPrefix("[") {
                    guard line.hasSuffix("]"), line.count > 2 else {
                        problems.append(.init(path: path, line: number, message: "malformed section header '\(line)'; its keys are ignored"))
                        current = nil
                        continue
                    }
                    let name = String(line.dropFirst().dropLast())
                    if names.insert(name).inserted {
                        sections.append(IniSection(name: name, line: number))
                        current = sections.count - 1
                    } else {
                        problems.append(.init(path: path, line: number, message: "section [\(name)] appears twice; the second is ignored"))
                        current = nil
                    }
                    continue
                }
                guard let equals = line.firstIndex(of: "=") else {
                    problems.append(.init(path: path, line: number, message: "'\(line)' is not a key=value line; ignored"))
                    continue
                }
                guard let index = current else { continue }
                let key = trimmed(line[..<equals])
                let value = trimmed(line[line.index(after: equals)...])
                if sections[index].entries[key] != nil {
                    problems.append(.init(path: path, line: number, message: "key \(key) appears twice in [\(sections[index].name)]; the first is used"))
                } else {
                    sections[index].entries[key] = IniEntry(value: value, line: number)
                }
            }
            return IniDocument(sections: sections, lastLine: lines.lastLine)
        }
    }

    /// Reads the values of one block, collecting problems: a missing key takes its default (and
    /// is listed once per block), an invalid value is reported and takes its default.
    struct BlockFields {
        let section: IniSection
        let path: String
        let expectedKeys: [String]
        var problems: [TrackerFileProblem] = []

        init(section: IniSection, path: String, expectedKeys: [String]) {
            self.section = section
            self.path = path
            self.expectedKeys = expectedKeys
        }

        func entry(_ key: String) -> IniEntry? { section.entries[key] }

        mutating func problem(_ line: Int, _ message: String) {
            problems.append(.init(path: path, line: line, message: message))
        }

        /// A mandatory key with a non-empty value; nil (block skipped) otherwise.
        mutating func require(_ key: String) -> IniEntry? {
            guard let entry = section.entries[key], !entry.value.isEmpty else {
                problem(section.line, "[\(section.name)] has no \(key); block skipped")
                return nil
            }
            return entry
        }

        mutating func groupName(_ entry: IniEntry) -> GroupName? {
            do {
                return try GroupName(entry.value)
            } catch {
                problem(entry.line, "[\(section.name)]: \(error); block skipped")
                return nil
            }
        }

        func string(_ key: String) -> String { section.entries[key]?.value ?? "" }

        mutating func number<T: FixedWidthInteger>(_ key: String) -> T {
            guard let entry = section.entries[key] else { return 0 }
            guard let value = T(entry.value) else {
                problem(entry.line, "[\(section.name)]: \(key) '\(entry.value)' is not a valid number; taken as 0")
                return 0
            }
            return value
        }

        /// A storage named by id (or, with ids, by an IP address translated through
        /// `resolveID`); empty means none.
        mutating func storageReference(_ key: String, group: GroupName, port: Int, useStorageID: Bool, resolveID: StorageIDResolver?) -> StorageID? {
            guard let entry = section.entries[key], !entry.value.isEmpty else { return nil }
            let id = try? StorageID(entry.value)
            if let id, !useStorageID || id.numericValue != nil { return id }
            if useStorageID, let resolved = resolveID?(group, entry.value, port) { return resolved }
            problem(entry.line, "[\(section.name)]: \(key) '\(entry.value)' does not name a storage; cleared")
            return nil
        }

        /// Keys the C tracker writes but this block lacks: the block was cut short or edited.
        mutating func reportMissingKeys() {
            let missing = expectedKeys.filter { section.entries[$0] == nil }
            guard !missing.isEmpty else { return }
            let shown = missing.count > 4 ? missing.prefix(4).joined(separator: ", ") + " and \(missing.count - 4) more" : missing.joined(separator: ", ")
            problem(section.line, "[\(section.name)] lacks \(shown) (taken as 0/empty)")
        }
    }

    /// The fields of one CSV line of a legacy file.
    struct CSVRow {
        let fields: [String]
        let line: Int
        let path: String
        var problems: [TrackerFileProblem] = []

        init(fields: [String], line: Int, path: String) {
            self.fields = fields
            self.line = line
            self.path = path
        }

        mutating func groupName(_ index: Int) -> GroupName? {
            do {
                return try GroupName(fields[index])
            } catch {
                problems.append(.init(path: path, line: line, message: "\(error); line skipped"))
                return nil
            }
        }

        mutating func number<T: FixedWidthInteger>(_ index: Int, _ name: String) -> T {
            guard let value = T(fields[index]) else {
                problems.append(.init(path: path, line: line, message: "\(name) '\(fields[index])' (field \(index + 1)) is not a valid number; taken as 0"))
                return 0
            }
            return value
        }
    }
}

public import FDFSModel
import GRDB

/// One file a storage holds, as the catalog records it.
public struct CatalogEntry: Hashable, Sendable {
    /// The remote filename (`M00/00/00/...`), unique within the storage.
    public var fileID: String
    public var group: String
    /// The current size (appender files grow and shrink).
    public var size: Int64
    /// CRC32 of the content: for normal files the one in the name, for slave files the one
    /// computed while receiving it; nil for appender files, whose content changes.
    public var crc32: UInt32?
    /// When it was created here: the timestamp of the binlog record that created the name.
    public var created: Int64
    /// Whether a client stored it on this server (upper-case binlog letter) or a peer's sync did.
    public var isSource: Bool
    public var kind: FileKind

    public init(fileID: String, group: String, size: Int64, crc32: UInt32?, created: Int64, isSource: Bool, kind: FileKind) {
        self.fileID = fileID
        self.group = group
        self.size = size
        self.crc32 = crc32
        self.created = created
        self.isSource = isSource
        self.kind = kind
    }
}

/// One metadata entry of a file (name and value, as on the wire).
public struct CatalogMetadataItem: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A change to the catalog. Changes are applied in order, in batches of one transaction.
public enum CatalogChange: Hashable, Sendable {
    /// A new file (or a replica received again): the row is created or refreshed; its
    /// metadata is kept.
    case upsert(CatalogEntry)
    /// The size of an appender file changed (append, modify, truncate).
    case resize(fileID: String, size: Int64)
    /// The file is gone from disk: its row and its metadata go.
    case remove(fileID: String)
    /// The file was deleted (by a client or a peer's sync, at `at`, the delete record's
    /// timestamp): its row and metadata go and a tombstone stays, so that a create or update of
    /// the same name that a slower peer sends later, stamped no later than `at`, does not bring
    /// it back (`CatalogWriter.deletedAt`).
    case delete(fileID: String, at: Int64)
    /// An appender file got its final name (REGENERATE_APPENDER_FILENAME): the row moves
    /// with its metadata.
    case rename(from: String, to: CatalogEntry)
    /// SET_METADATA. `file` is recorded first when the catalog does not know it yet. With
    /// `merge`, names present in `items` take the new value and the others stay; without
    /// it the file's metadata becomes exactly `items` (empty: none).
    case setMetadata(file: CatalogEntry, items: [CatalogMetadataItem], merge: Bool)
}

/// Why the catalog could not be opened, read or written.
public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
    init(_ operation: String, _ error: any Error) { description = "catalog \(operation): \(error)" }
}

/// The storage's SQLite catalog (`data/catalog.sqlite`): every file the storage holds with its
/// size, CRC32, creation time, origin, kind and metadata. It is an index: the files and the
/// binlog are the truth, and `CatalogRebuild` recreates it from them (metadata, which lives
/// only here and on the peers, is carried over from the old catalog when it can be read).
///
/// WAL mode with `synchronous = NORMAL`: a commit is ordered and atomic but reaches the disk at
/// the next checkpoint; a crash can lose the last batches, which a rebuild recovers.
public final class FileCatalog: Sendable {
    public let path: String
    let pool: DatabasePool

    public init(path: String) throws(CatalogError) {
        self.path = path
        var configuration = Configuration()
        configuration.label = "fdfs.catalog"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw CatalogError("open \(path)", error)
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE file (
                    file_id TEXT NOT NULL PRIMARY KEY,
                    group_name TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    crc32 INTEGER,
                    created INTEGER NOT NULL,
                    is_source INTEGER NOT NULL,
                    kind TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX file_by_group ON file(group_name, file_id);
                CREATE TABLE metadata (
                    file_id TEXT NOT NULL REFERENCES file(file_id) ON DELETE CASCADE ON UPDATE CASCADE,
                    name TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (file_id, name)
                ) WITHOUT ROWID;
                """)
        }
        // How far into the binlog the committed rows go: the end of the last record whose change
        // was committed (one row). A storage killed before its last batches committed catches
        // up from there at its next start (`CatalogCatchUp`).
        m.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE binlog_applied (
                    id INTEGER PRIMARY KEY CHECK (id = 0),
                    file_index INTEGER NOT NULL,
                    offset_bytes INTEGER NOT NULL
                );
                CREATE TABLE tombstone (
                    file_id TEXT NOT NULL PRIMARY KEY,
                    deleted INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX tombstone_by_time ON tombstone(deleted);
                """)
        }
        return m
    }

    /// Applies `changes` in order in one transaction; with `binlogPosition`, records in the same
    /// transaction that the changes of every binlog record before it are in.
    public func apply(_ changes: [CatalogChange], binlogPosition: BinlogPosition? = nil) async throws(CatalogError) {
        guard !changes.isEmpty || binlogPosition != nil else { return }
        do {
            try await pool.write { db in
                try Self.apply(changes, in: db)
                if let binlogPosition { try Self.setBinlogApplied(binlogPosition, in: db) }
            }
        } catch {
            throw CatalogError("write", error)
        }
    }

    /// The blocking form of `apply`, for tools, rebuilds and the catch-up at start.
    public func applyNow(_ changes: [CatalogChange], binlogPosition: BinlogPosition? = nil) throws(CatalogError) {
        guard !changes.isEmpty || binlogPosition != nil else { return }
        do {
            try pool.write { db in
                try Self.apply(changes, in: db)
                if let binlogPosition { try Self.setBinlogApplied(binlogPosition, in: db) }
            }
        } catch {
            throw CatalogError("write", error)
        }
    }

    static func setBinlogApplied(_ position: BinlogPosition, in db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO binlog_applied (id, file_index, offset_bytes) VALUES (0, ?, ?)
            ON CONFLICT(id) DO UPDATE SET file_index = excluded.file_index, offset_bytes = excluded.offset_bytes
            """).execute(arguments: [position.fileIndex, position.offsetBytes])
    }

    /// When the file was deleted here (the latest delete's timestamp), nil when it never was
    /// (or its tombstone was pruned).
    public func tombstone(_ fileID: String) throws(CatalogError) -> Int64? {
        do {
            return try pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT deleted FROM tombstone WHERE file_id = ?", arguments: [fileID])
            }
        } catch {
            throw CatalogError("read", error)
        }
    }

    /// Forgets tombstones of deletes before `before` (Unix seconds); returns how many.
    @discardableResult
    public func pruneTombstones(before: Int64) throws(CatalogError) -> Int {
        do {
            return try pool.write { db in
                try db.execute(sql: "DELETE FROM tombstone WHERE deleted < ?", arguments: [before])
                return db.changesCount
            }
        } catch {
            throw CatalogError("write", error)
        }
    }

    /// The end of the last binlog record whose change is committed; nil when no batch recorded
    /// one yet (a new catalog, or one written before positions were kept).
    public func binlogApplied() throws(CatalogError) -> BinlogPosition? {
        do {
            return try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT file_index, offset_bytes FROM binlog_applied WHERE id = 0").map {
                    BinlogPosition(fileIndex: $0["file_index"], offsetBytes: $0["offset_bytes"])
                }
            }
        } catch {
            throw CatalogError("read", error)
        }
    }

    static let upsertSQL = """
        INSERT INTO file (file_id, group_name, size, crc32, created, is_source, kind) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(file_id) DO UPDATE SET group_name = excluded.group_name, size = excluded.size, crc32 = excluded.crc32,
            created = excluded.created, is_source = excluded.is_source, kind = excluded.kind
        """

    static func arguments(_ e: CatalogEntry) -> StatementArguments {
        [e.fileID, e.group, e.size, e.crc32.map { Int64($0) }, e.created, e.isSource, e.kind.rawValue]
    }

    static func apply(_ changes: [CatalogChange], in db: Database) throws {
        for change in changes {
            switch change {
            case .upsert(let e):
                try db.cachedStatement(sql: upsertSQL).execute(arguments: arguments(e))
            case .resize(let id, let size):
                try db.cachedStatement(sql: "UPDATE file SET size = ? WHERE file_id = ?").execute(arguments: [size, id])
            case .remove(let id):
                try db.cachedStatement(sql: "DELETE FROM file WHERE file_id = ?").execute(arguments: [id])
            case .delete(let id, let at):
                try db.cachedStatement(sql: "DELETE FROM file WHERE file_id = ?").execute(arguments: [id])
                try db.cachedStatement(sql: """
                    INSERT INTO tombstone (file_id, deleted) VALUES (?, ?)
                    ON CONFLICT(file_id) DO UPDATE SET deleted = max(deleted, excluded.deleted)
                    """).execute(arguments: [id, at])
            case .rename(let old, let e):
                try db.cachedStatement(sql: """
                    UPDATE file SET file_id = ?, group_name = ?, size = ?, crc32 = ?, created = ?, is_source = ?, kind = ?
                    WHERE file_id = ?
                    """).execute(arguments: arguments(e) + [old])
                if db.changesCount == 0 { try db.cachedStatement(sql: upsertSQL).execute(arguments: arguments(e)) }
            case .setMetadata(let file, let items, let merge):
                try db.cachedStatement(sql: """
                    INSERT INTO file (file_id, group_name, size, crc32, created, is_source, kind) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(file_id) DO NOTHING
                    """).execute(arguments: arguments(file))
                if !merge {
                    try db.cachedStatement(sql: "DELETE FROM metadata WHERE file_id = ?").execute(arguments: [file.fileID])
                }
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO metadata (file_id, name, value) VALUES (?, ?, ?)
                    ON CONFLICT(file_id, name) DO UPDATE SET value = excluded.value
                    """)
                for item in items { try insert.execute(arguments: [file.fileID, item.name, item.value]) }
            }
        }
    }

    // MARK: Reading

    static func entry(_ row: Row) throws -> CatalogEntry {
        let kindName: String = row["kind"]
        guard let kind = FileKind(rawValue: kindName) else { throw CatalogError("unknown file kind '\(kindName)'") }
        let crc: Int64? = row["crc32"]
        return CatalogEntry(fileID: row["file_id"], group: row["group_name"], size: row["size"], crc32: crc.map { UInt32(truncatingIfNeeded: $0) },
                            created: row["created"], isSource: row["is_source"], kind: kind)
    }

    /// The file's row, or nil.
    public func file(_ fileID: String) throws(CatalogError) -> CatalogEntry? {
        do {
            return try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM file WHERE file_id = ?", arguments: [fileID]).map(Self.entry)
            }
        } catch {
            throw CatalogError("read", error)
        }
    }

    /// The file's metadata sorted by name (byte order, as the C storage sorts it).
    public func metadata(of fileID: String) async throws(CatalogError) -> [CatalogMetadataItem] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT name, value FROM metadata WHERE file_id = ? ORDER BY name", arguments: [fileID])
                    .map { CatalogMetadataItem($0["name"], $0["value"]) }
            }
        } catch {
            throw CatalogError("read", error)
        }
    }

    /// Up to `limit` files of `group` whose id sorts after `after` and starts with `prefix`,
    /// in id order: page through a group by passing the last id of the previous page.
    /// Ids are ASCII, so the ids starting with `prefix` are exactly the range
    /// `prefix <= id < prefix + "\u{7F}"`, which the `file_by_group` index serves.
    public func files(group: String, prefix: String = "", after: String = "", limit: Int = 1000) throws(CatalogError) -> [CatalogEntry] {
        do {
            return try pool.read { db in try Self.files(db, group: group, prefix: prefix, after: after, limit: limit) }
        } catch {
            throw CatalogError("read", error)
        }
    }

    /// `files(group:prefix:after:limit:)` without blocking the caller's thread.
    func readFiles(group: String, prefix: String, after: String, limit: Int) async throws(CatalogError) -> [CatalogEntry] {
        do {
            return try await pool.read { db in try Self.files(db, group: group, prefix: prefix, after: after, limit: limit) }
        } catch {
            throw CatalogError("read", error)
        }
    }

    static func files(_ db: Database, group: String, prefix: String, after: String, limit: Int) throws -> [CatalogEntry] {
        if prefix.isEmpty {
            return try Row.fetchAll(db, sql: "SELECT * FROM file WHERE group_name = ? AND file_id > ? ORDER BY file_id LIMIT ?",
                                    arguments: [group, after, limit]).map(Self.entry)
        }
        // One lower bound, the tighter one, so that the index seek starts inside the range
        // (SQLite seeks on one of two lower bounds and filters by the other). Byte order, as
        // SQLite's BINARY collation compares.
        let upper = prefix + "\u{7F}"
        if after.utf8.lexicographicallyPrecedes(prefix.utf8) {
            return try Row.fetchAll(db, sql: "SELECT * FROM file WHERE group_name = ? AND file_id >= ? AND file_id < ? ORDER BY file_id LIMIT ?",
                                    arguments: [group, prefix, upper, limit]).map(Self.entry)
        }
        return try Row.fetchAll(db, sql: "SELECT * FROM file WHERE group_name = ? AND file_id > ? AND file_id < ? ORDER BY file_id LIMIT ?",
                                arguments: [group, after, upper, limit]).map(Self.entry)
    }

    /// Every row and every file's metadata (for rebuilds and comparisons).
    public func snapshot() throws(CatalogError) -> CatalogSnapshot {
        do {
            return try pool.read { db in
                let files = try Row.fetchAll(db, sql: "SELECT * FROM file ORDER BY file_id").map(Self.entry)
                var metadata: [String: [CatalogMetadataItem]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT file_id, name, value FROM metadata ORDER BY file_id, name") {
                    metadata[row["file_id"], default: []].append(CatalogMetadataItem(row["name"], row["value"]))
                }
                return CatalogSnapshot(files: files, metadata: metadata)
            }
        } catch {
            throw CatalogError("read", error)
        }
    }

    /// The number of files recorded.
    public func count() throws(CatalogError) -> Int {
        do {
            return try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file") ?? 0 }
        } catch {
            throw CatalogError("read", error)
        }
    }

    /// Writes the WAL back into the database file and closes it.
    public func close() throws(CatalogError) {
        do {
            try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try pool.close()
        } catch {
            throw CatalogError("close", error)
        }
    }
}

/// The whole content of a catalog.
public struct CatalogSnapshot: Hashable, Sendable {
    public var files: [CatalogEntry]
    public var metadata: [String: [CatalogMetadataItem]]
    public init(files: [CatalogEntry], metadata: [String: [CatalogMetadataItem]]) {
        self.files = files
        self.metadata = metadata
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
public import FDFSModel

/// One line of `storage_changelog.dat` (cluster spec §1.12): a storage was deleted
/// (status 4, empty argument) or changed its IP (status 3, argument = the new IP).
public struct ChangelogEntry: Hashable, Sendable {
    public var time: Int64
    public var group: GroupName
    /// For an IP change, the old IP (ids are off then).
    public var storageID: StorageID
    public var status: StorageStatus
    /// Empty, or the new IP; never contains a space or a newline.
    public var argument: String

    public init(time: Int64, group: GroupName, storageID: StorageID, status: StorageStatus, argument: String = "") {
        self.time = time
        self.group = group
        self.storageID = storageID
        self.status = status
        self.argument = argument
    }

    /// `<time> <group> <id> <status> <argument>\n`; with an empty argument the line ends with
    /// a space, as the C tracker writes it.
    public var line: String { "\(time) \(group) \(storageID) \(status.rawValue) \(argument)\n" }
}

/// `storage_changelog.dat`: the append-only record of deletions and IP changes that storages
/// fetch piece by piece with CHANGELOG_REQ (§1.12).
///
/// Opened once (in append mode) and kept open; after the files were copied from a peer
/// tracker, open a new instance. Appends may come from any thread: each line is one `write`
/// on an `O_APPEND` descriptor (the kernel places it atomically at the end) followed by
/// `fsync`, and the descriptor never changes, so the class is `Sendable` as it stands.
public final class Changelog: Sendable {
    /// If at most this many bytes remain after an offset, a piece is all of them ...
    public static let wholeRemainderLimit = 8202
    /// ... otherwise exactly this many (which may end mid-line, quirk §10.9).
    public static let pieceSize = 8182

    public let path: String
    /// What was wrong with the file when it was opened (a torn last line, see ``init(path:)``).
    public let openProblems: [TrackerFileProblem]
    private let descriptor: Int32

    /// Opens or creates the changelog (mode 0644).
    ///
    /// A last line without newline is what a crash during an append leaves. Left alone, the next
    /// append would be glued to it and be unreadable for every storage, so it is terminated
    /// with a newline (storages then skip it as one invalid line) and reported.
    public init(path: String) throws(TrackerIOError) {
        typealias SystemCalls = TrackerDataDirectory.SystemCalls
        self.path = path
        let fd = try SystemCalls.open(path, O_RDWR | O_CREAT | O_APPEND, mode: 0o644)
        do throws(TrackerIOError) {
            let size = try SystemCalls.fileSize(descriptor: fd, path: path)
            var problems: [TrackerFileProblem] = []
            if size > 0, try SystemCalls.readRange(fd, path: path, offset: size - 1, count: 1) != [UInt8(ascii: "\n")] {
                let content = try SystemCalls.readRange(fd, path: path, offset: 0, count: Int(size))
                let line = content.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
                let start = content.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
                let torn = String(decoding: content[start...], as: UTF8.self)
                try SystemCalls.writeAll(fd, [UInt8(ascii: "\n")], path: path)
                try SystemCalls.sync(fd, path: path)
                problems.append(TrackerFileProblem(path: path, line: line, message: "last line '\(torn)' has no newline (torn append); terminated it"))
            }
            self.openProblems = problems
            self.descriptor = fd
        } catch {
            try? SystemCalls.close(fd, path: path)
            throw error
        }
    }

    deinit {
        try? TrackerDataDirectory.SystemCalls.close(descriptor, path: path)
    }

    /// Appends one line and makes it durable before returning.
    public func append(_ entry: ChangelogEntry) throws(TrackerIOError) {
        precondition(!entry.argument.contains(where: { $0 == " " || $0 == "\n" }), "changelog argument must be one word")
        try append(line: entry.line)
    }

    /// Appends an already formatted line (see ``ChangelogEntry/line``); the newline is added
    /// when missing. One `write`, then `fsync`.
    public func append(line: String) throws(TrackerIOError) {
        precondition(!line.dropLast().contains("\n"), "one changelog line at a time")
        let text = line.hasSuffix("\n") ? line : line + "\n"
        try TrackerDataDirectory.SystemCalls.writeAll(descriptor, Array(text.utf8), path: path)
        try TrackerDataDirectory.SystemCalls.sync(descriptor, path: path)
    }

    /// The current size in bytes: the offset a storage that has read everything holds.
    public func size() throws(TrackerIOError) -> Int64 {
        try TrackerDataDirectory.SystemCalls.fileSize(descriptor: descriptor, path: path)
    }

    /// How many bytes a CHANGELOG_REQ reply carries when `remaining` bytes follow the
    /// requester's offset.
    public static func pieceLength(remaining: Int64) -> Int {
        if remaining <= 0 { return 0 }
        return remaining <= Int64(wholeRemainderLimit) ? Int(remaining) : pieceSize
    }

    /// The next piece for a storage at `offset`, and the offset to save for it. Nothing (and the
    /// same offset) when there is nothing new; a negative offset reads from the start.
    public func read(from offset: Int64) throws(TrackerIOError) -> (bytes: [UInt8], newOffset: Int64) {
        let start = max(offset, 0)
        let count = Self.pieceLength(remaining: try size() - start)
        guard count > 0 else { return ([], offset) }
        let bytes = try TrackerDataDirectory.SystemCalls.readRange(descriptor, path: path, offset: start, count: count)
        return (bytes, start + Int64(bytes.count))
    }

    /// Parses changelog text (a whole file or one piece). Invalid lines and an unterminated
    /// last line (a piece cut mid-line, or a torn file) are reported and skipped.
    public static func parse(_ bytes: [UInt8], path: String) -> (entries: [ChangelogEntry], problems: [TrackerFileProblem]) {
        var problems: [TrackerFileProblem] = []
        let lines = TrackerFiles.TextLines(String(decoding: bytes, as: UTF8.self), path: path, problems: &problems)
        var entries: [ChangelogEntry] = []
        for (number, line) in lines.lines where !line.isEmpty {
            let fields = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5,
                  let time = Int64(fields[0]),
                  let group = try? GroupName(fields[1]),
                  let id = try? StorageID(fields[2]),
                  let status = Int8(fields[3]),
                  !fields[4].contains(" ")
            else {
                problems.append(TrackerFileProblem(path: path, line: number, message: "'\(line)' is not a changelog line (time group id status argument); skipped"))
                continue
            }
            entries.append(ChangelogEntry(time: time, group: group, storageID: id, status: StorageStatus(rawValue: status), argument: fields[4]))
        }
        return (entries, problems)
    }
}

import FDFSFileSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// When the binlog writer calls `fsync`. Every append reaches the kernel before it returns
/// (a killed process loses nothing acknowledged); the policy decides what survives a power
/// failure or kernel crash, and what each append costs.
public enum BinlogSyncPolicy: Hashable, Sendable {
    /// Never fsync while running (only when rotating to the next file and at close): the
    /// kernel writes back within its dirty-page interval (about 30 s on Linux).
    case never
    /// fsync after every append: an acknowledged record survives power loss. One fsync per
    /// group commit, so batching concurrent requests amortises it.
    case everyWrite
    /// The owner calls ``BinlogWriter/sync()`` on a timer with this period (C's
    /// `sync_binlog_buff_interval`, default 60 s): at most that much is lost on power failure.
    case interval(Duration)
}

/// What the writer removed from the end of the current binlog file when it opened it: the
/// bytes after the last complete, valid line (a crash during an append, or garbage a file
/// system left after one).
public struct BinlogRepair: Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The first removed line had no newline: an append was cut short.
        case unterminatedLine
        /// The first removed line was complete but not a valid record.
        case invalidLine(BinlogError)
    }

    public let path: String
    /// The new size of the file: where the removed bytes started.
    public let offsetBytes: Int64
    public let removedBytes: Int64
    /// How many (complete or partial) lines were removed.
    public let removedLineCount: Int
    /// Why the first removed line was not kept.
    public let reason: Reason
    /// The start of the removed bytes, for the log (at most ``excerptBytes``, not UTF-8-checked).
    public let excerpt: String

    public static let excerptBytes = 80

    public var description: String {
        let why = switch reason {
        case .unterminatedLine: "last line had no newline (torn append)"
        case .invalidLine(let error): "line is not a valid record: \(error)"
        }
        return "\(path): cut \(removedBytes) bytes (\(removedLineCount) lines) at offset \(offsetBytes): \(why); removed bytes start with '\(excerpt)'"
    }
}

/// Appends records to the storage binlog `<base_path>/data/sync/binlog.NNN` (cluster spec §5)
/// and rotates to the next file at ``maxFileBytes``.
///
/// Opening repairs a torn tail: whatever follows the last complete valid line of the current
/// file (a partial line from a crash, garbage) is cut off and reported in ``repair``. Complete
/// records are never removed.
///
/// Each `append` is one `write` of all its lines (group commit: the owner collects the
/// records of concurrent requests and appends them together), followed by `fsync` when the
/// ``syncPolicy`` says so. An append that throws wrote none of its records (it cuts the file
/// back); one that returns has its records in the kernel.
///
/// Thread safety: not `Sendable`. The storage daemon owns one writer in one task (or actor)
/// that serialises the appends; the calls block on disk I/O, so that owner must not be an
/// event loop. Readers run elsewhere and learn how far they may read from ``position``, which
/// the owner publishes after each append.
public final class BinlogWriter {
    /// C's `SYNC_BINLOG_FILE_MAX_SIZE`: 1 GiB per file.
    public static let defaultMaxFileBytes: Int64 = 1 << 30
    /// The most one append may write: 4096 lines of maximum length, far more than one group
    /// commit collects.
    public static let maxAppendBytes = 1 << 20
    /// The most the open-time repair removes. A crash during one append leaves at most part of
    /// one append; more damage than a few appends' worth means something else went wrong
    /// (a wrong file, a broken disk), and the writer refuses to open rather than cut it.
    public static let maxRepairBytes: Int64 = 4 << 20

    public let syncDirectory: String
    public let maxFileBytes: Int64
    public let syncPolicy: BinlogSyncPolicy
    /// What the open-time repair cut from the current file, if anything.
    public let repair: BinlogRepair?
    /// True when only the legacy `binlog.index` existed and `binlog_index.dat` was written from it.
    public let convertedLegacyIndex: Bool
    /// The index file's content as last written.
    public private(set) var index: BinlogIndex
    /// The end of the log: the file being appended to and its size. Everything before it is
    /// complete lines; readers may read up to here.
    public private(set) var position: BinlogPosition
    /// Bytes appended since the last fsync.
    public private(set) var unsyncedBytes: Int64 = 0
    /// A rotation that failed after an append succeeded; the next append retries it first and
    /// throws if it fails again.
    public private(set) var pendingRotationError: BinlogError?

    private var descriptor: Int32
    private var rotationPending = false
    /// Set after a failure that leaves the file's state unknown (fsync failed, or a failed
    /// write could not be cut back): appends are refused from then on.
    private var failure: String?

    /// Opens the binlog of a storage: creates `<base_path>/data/sync`, loads (or converts) the
    /// index, opens the current file for appending and repairs its tail.
    public convenience init(basePath: String, maxFileBytes: Int64 = defaultMaxFileBytes, syncPolicy: BinlogSyncPolicy = .everyWrite) throws(BinlogError) {
        try io { () throws(FileSystemError) in try FileSystemCalls.makeDirectory(basePath + "/data") }
        try self.init(syncDirectory: BinlogIndex.syncDirectory(basePath: basePath), maxFileBytes: maxFileBytes, syncPolicy: syncPolicy)
    }

    /// Opens the binlog in `syncDirectory` (created if missing; its parent must exist).
    public init(syncDirectory: String, maxFileBytes: Int64 = defaultMaxFileBytes, syncPolicy: BinlogSyncPolicy = .everyWrite) throws(BinlogError) {
        precondition(maxFileBytes > 0, "binlog files need a positive maximum size")
        try io { () throws(FileSystemError) in try FileSystemCalls.makeDirectory(syncDirectory) }
        let (loaded, source) = try BinlogIndex.load(syncDirectory: syncDirectory)
        if source != .indexFile {
            // As C does: the converted (or initial) index is written before anything else.
            try loaded.save(syncDirectory: syncDirectory)
        }
        let path = BinlogIndex.binlogPath(syncDirectory: syncDirectory, index: loaded.currentWrite)
        let fd = try io { () throws(FileSystemError) in try FileSystemCalls.open(path, O_RDWR | O_CREAT | O_APPEND, mode: 0o644) }
        let validEnd: Int64
        let repair: BinlogRepair?
        do throws(BinlogError) {
            (validEnd, repair) = try Self.repairTail(fd, path: path)
            // The file may have just been created: make its directory entry durable.
            try io { () throws(FileSystemError) in try FileSystemCalls.syncDirectory(syncDirectory) }
        } catch {
            try? FileSystemCalls.close(fd, path: path)
            throw error
        }
        self.syncDirectory = syncDirectory
        self.maxFileBytes = maxFileBytes
        self.syncPolicy = syncPolicy
        self.repair = repair
        self.convertedLegacyIndex = source == .legacyFile
        self.index = loaded
        self.position = BinlogPosition(fileIndex: loaded.currentWrite, offsetBytes: validEnd)
        self.descriptor = fd
        if validEnd >= maxFileBytes {
            // A crash between an append and its rotation.
            rotationPending = true
            try rotate()
        }
    }

    deinit {
        if descriptor >= 0 {
            if unsyncedBytes > 0 && failure == nil { try? FileSystemCalls.sync(descriptor, path: currentPath) }
            try? FileSystemCalls.close(descriptor, path: currentPath)
        }
    }

    /// The file being appended to.
    public var currentPath: String { BinlogIndex.binlogPath(syncDirectory: syncDirectory, index: position.fileIndex) }

    /// Appends one record (the batch form below is the group commit).
    @discardableResult
    public func append(_ record: BinlogRecord) throws(BinlogError) -> BinlogPosition {
        try append([record])
    }

    /// Appends the lines of `records` with one write, fsyncs per ``syncPolicy``, and rotates
    /// when the file reached ``maxFileBytes``. Returns the new end of the log (publish it to
    /// readers).
    ///
    /// If it throws, none of the records are in the log: a failed write (or, with
    /// ``BinlogSyncPolicy/everyWrite``, a failed fsync) is cut back off the file. Should that cut
    /// fail too (the failed append's records may then remain), and after any failed fsync, the
    /// writer refuses further appends (``BinlogError/writerUnusable(reason:)``): the storage
    /// must stop, as C does; the next open repairs a torn tail.
    @discardableResult
    public func append(_ records: [BinlogRecord]) throws(BinlogError) -> BinlogPosition {
        try checkUsable()
        if rotationPending { try rotate() }
        guard !records.isEmpty else { return position }
        let totalBytes = records.reduce(0) { $0 + $1.encodedLength }
        guard totalBytes <= Self.maxAppendBytes else { throw .appendTooLarge(lengthBytes: totalBytes) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(totalBytes)
        for record in records { record.encode(into: &bytes) }
        let path = currentPath
        let start = position.offsetBytes
        do throws(FileSystemError) {
            try FileSystemCalls.writeAll(descriptor, bytes, path: path)
        } catch {
            cutBack(to: start, after: error)
            throw .fileSystem(error)
        }
        position.offsetBytes += Int64(bytes.count)
        unsyncedBytes += Int64(bytes.count)
        if syncPolicy == .everyWrite {
            do throws(BinlogError) {
                try syncNow()
            } catch {
                // The records are not known to be durable: take them back, as the caller will
                // report the requests as failed.
                cutBack(to: start, after: nil)
                position.offsetBytes = start
                throw error
            }
        }
        if position.offsetBytes >= maxFileBytes {
            rotationPending = true
            do throws(BinlogError) {
                try rotate()
            } catch {
                // The records are written; report the rotation failure with the next append.
                pendingRotationError = error
            }
        }
        return position
    }

    /// fsyncs the current file if anything was appended since the last fsync (the
    /// ``BinlogSyncPolicy/interval(_:)`` owner calls this on its timer).
    public func sync() throws(BinlogError) {
        try checkUsable()
        try syncNow()
    }

    /// fsyncs what is pending and closes the file. Appends throw ``BinlogError/writerClosed`` after.
    public func close() throws(BinlogError) {
        guard descriptor >= 0 else { return }
        let path = currentPath
        defer {
            try? FileSystemCalls.close(descriptor, path: path)
            descriptor = -1
        }
        if failure == nil { try syncNow() }
    }

    // MARK: Internals

    private func checkUsable() throws(BinlogError) {
        guard descriptor >= 0 else { throw .writerClosed }
        if let failure { throw .writerUnusable(reason: failure) }
    }

    private func syncNow() throws(BinlogError) {
        guard unsyncedBytes > 0 else { return }
        do throws(FileSystemError) {
            try FileSystemCalls.sync(descriptor, path: currentPath)
        } catch {
            // After a failed fsync the kernel may have dropped the dirty pages and a retry
            // can report success without the data (the PostgreSQL "fsyncgate" lesson).
            failure = error.description
            throw .fileSystem(error)
        }
        unsyncedBytes = 0
    }

    /// Removes the bytes of a failed append so that the next one does not follow a torn line.
    private func cutBack(to sizeBytes: Int64, after writeError: FileSystemError?) {
        do throws(FileSystemError) {
            try Self.truncate(descriptor, path: currentPath, toBytes: sizeBytes)
        } catch {
            failure = "could not cut \(currentPath) back to \(sizeBytes) bytes after "
                + (writeError.map { "a failed write (\($0))" } ?? "a failed fsync") + ": \(error)"
        }
    }

    /// Moves to file `position.fileIndex + 1`: the old file is fsynced (it is never written
    /// again), `binlog_index.dat` names the new one, a stale file with the new name is removed,
    /// and the new file is created (cluster spec §5.4). Retried until it succeeds.
    private func rotate() throws(BinlogError) {
        let next = position.fileIndex + 1
        guard BinlogIndex.fileIndexRange.contains(next) else { throw .fileIndexOutOfRange(next) }
        try syncNow()
        if index.currentWrite != next {
            let updated = try BinlogIndex(currentWrite: next, currentCompress: index.currentCompress)
            try updated.save(syncDirectory: syncDirectory)
            index = updated
        }
        let path = BinlogIndex.binlogPath(syncDirectory: syncDirectory, index: next)
        let directory = syncDirectory
        let fd = try io { () throws(FileSystemError) in
            try FileSystemCalls.removeFile(path)
            return try FileSystemCalls.open(path, O_RDWR | O_CREAT | O_APPEND, mode: 0o644)
        }
        do throws(BinlogError) {
            try io { () throws(FileSystemError) in try FileSystemCalls.syncDirectory(directory) }
        } catch {
            try? FileSystemCalls.close(fd, path: path)
            throw error
        }
        // The old file is complete and synced: a close error cannot lose anything.
        try? FileSystemCalls.close(descriptor, path: currentPath)
        descriptor = fd
        position = BinlogPosition(fileIndex: next, offsetBytes: 0)
        rotationPending = false
        pendingRotationError = nil
    }

    static func truncate(_ fd: Int32, path: String, toBytes sizeBytes: Int64) throws(FileSystemError) {
        while ftruncate(fd, off_t(sizeBytes)) != 0 {
            if errno != EINTR { throw FileSystemCalls.error("ftruncate", path) }
        }
        try FileSystemCalls.sync(fd, path: path)
    }

    // MARK: Repair on open

    /// Finds the end of the last complete valid line of the file and cuts everything after it.
    static func repairTail(_ fd: Int32, path: String) throws(BinlogError) -> (validEnd: Int64, repair: BinlogRepair?) {
        let size = try io { () throws(FileSystemError) in try FileSystemCalls.fileSize(descriptor: fd, path: path) }
        guard size > 0 else { return (0, nil) }
        // Enough to hold the most we may cut plus the longest line before it and its newline.
        let windowStart = max(0, size - maxRepairBytes - Int64(BinlogRecord.maxLineBytes) - 1)
        let tail = try io { () throws(FileSystemError) in
            try FileSystemCalls.readRange(fd, path: path, offset: windowStart, count: Int(size - windowStart))
        }
        guard let scan = scanTail(tail, windowStartOffset: windowStart, maxCutBytes: Int(maxRepairBytes)) else {
            throw .tailDamageTooLarge(path: path, validEndOffsetBytes: nil, sizeBytes: size)
        }
        let validEnd = windowStart + Int64(scan.validEndInWindow)
        guard validEnd < size else { return (size, nil) }
        guard size - validEnd <= maxRepairBytes else {
            throw .tailDamageTooLarge(path: path, validEndOffsetBytes: validEnd, sizeBytes: size)
        }
        try io { () throws(FileSystemError) in try truncate(fd, path: path, toBytes: validEnd) }
        let removed = tail[scan.validEndInWindow...]
        let repair = BinlogRepair(
            path: path, offsetBytes: validEnd, removedBytes: size - validEnd, removedLineCount: scan.removedLineCount,
            reason: scan.firstReason!, excerpt: String(decoding: removed.prefix(BinlogRepair.excerptBytes), as: UTF8.self)
        )
        return (validEnd, repair)
    }

    /// Walks back from the end of `window` (the last bytes of a file, starting at file offset
    /// `windowStartOffset`) over unterminated and invalid lines. Returns where the valid data
    /// ends (stopping early once more than `maxCutBytes` would be cut), or nil when the damage
    /// reaches the start of a window that is not the whole file.
    /// A line with an empty filename (the C link bug) is complete and counts as valid: readers
    /// skip it, and it is not a torn write.
    static func scanTail(_ window: [UInt8], windowStartOffset: Int64, maxCutBytes: Int) -> (validEndInWindow: Int, removedLineCount: Int, firstReason: BinlogRepair.Reason?)? {
        let newline = UInt8(ascii: "\n")
        var end = window.count
        var removedLineCount = 0
        var firstReason: BinlogRepair.Reason? = nil
        while end > 0 && window.count - end <= maxCutBytes {
            guard let lastNewline = window[..<end].lastIndex(of: newline) else {
                // No newline at all: the whole window is one partial line.
                guard windowStartOffset == 0 else { return nil }
                removedLineCount += 1
                firstReason = .unterminatedLine
                end = 0
                break
            }
            if lastNewline + 1 < end {
                removedLineCount += 1
                firstReason = .unterminatedLine
                end = lastNewline + 1
                continue
            }
            let lineStart = window[..<(end - 1)].lastIndex(of: newline).map { $0 + 1 }
            if lineStart == nil && windowStartOffset > 0 { return nil }
            let start = lineStart ?? 0
            do throws(BinlogError) {
                _ = try BinlogRecord(lineBytes: window[start..<end])
                break
            } catch let error where error.isEmptyFilename {
                break
            } catch {
                removedLineCount += 1
                firstReason = .invalidLine(error)
                end = start
            }
        }
        return (end, removedLineCount, firstReason)
    }
}

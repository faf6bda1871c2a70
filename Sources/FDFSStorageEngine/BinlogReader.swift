import FDFSFileSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A record read from the binlog, with where its line starts and ends.
public struct BinlogEntry: Hashable, Sendable {
    public let record: BinlogRecord
    /// The start of the record's line.
    public let start: BinlogPosition
    /// Just after the line's newline: the position to store in a mark file once the record
    /// has been handled.
    public let end: BinlogPosition

    public init(record: BinlogRecord, start: BinlogPosition, end: BinlogPosition) {
        self.record = record
        self.start = start
        self.end = end
    }
}

/// A line the reader passed over instead of returning it.
public struct BinlogSkippedLine: Hashable, Sendable, CustomStringConvertible {
    public let path: String
    public let offsetBytes: Int64
    public let lengthBytes: Int64
    public let reason: BinlogError

    public init(path: String, offsetBytes: Int64, lengthBytes: Int64, reason: BinlogError) {
        self.path = path
        self.offsetBytes = offsetBytes
        self.lengthBytes = lengthBytes
        self.reason = reason
    }

    public var description: String { "\(path) offset \(offsetBytes): skipped \(lengthBytes) bytes: \(reason)" }
}

/// Reads binlog records in order from a position, across file rotation (cluster spec §5, the
/// reader side of §6.2): one reader per destination peer, and for the binlog export of disk
/// recovery.
///
/// At the end of the data ``next(upTo:)`` returns nil; call it again later to continue with
/// what was appended meanwhile. Lines with an empty filename (the C link-record bug, cluster
/// spec §10.1) are skipped and counted instead of stalling the reader. Any other malformed line
/// throws ``BinlogError/invalidLine(path:offsetBytes:reason:)`` and the reader stays on it;
/// with `skipInvalidRecords` (C's `file_sync_skip_invalid_record`) such lines are skipped and
/// counted too.
///
/// Thread safety: not `Sendable`; each reader belongs to one task. It only reads files, so
/// any number of readers can run beside the one ``BinlogWriter``.
public final class BinlogReader {
    /// How much is read from a file at a time.
    public static let readChunkBytes = 64 * 1024
    /// Skipped lines kept for ``takeSkippedLines()``; beyond this only the counters grow.
    public static let maxRetainedSkippedLines = 100

    public let syncDirectory: String
    public let skipInvalidRecords: Bool
    /// Where the next line starts: after the last record returned or line skipped.
    public private(set) var position: BinlogPosition
    /// Lines skipped because their filename was empty (§10.1), since the reader was created.
    public private(set) var skippedEmptyFilenameCount = 0
    /// Malformed lines skipped because of `skipInvalidRecords`.
    public private(set) var skippedInvalidCount = 0

    private var skippedLines: [BinlogSkippedLine] = []
    private var file: OpenFile?
    /// Bytes of the open file starting at file offset `bufferStart`.
    private var buffer: [UInt8] = []
    private var bufferStart: Int64 = 0
    /// The end last read from disk by ``next()``.
    private var knownEnd: BinlogPosition?

    private struct OpenFile {
        let fileIndex: Int
        let path: String
        let descriptor: Int32
        /// The size once the file is no longer written to (read when the reader learns that).
        var finalSizeBytes: Int64?
    }

    public init(syncDirectory: String, position: BinlogPosition = .start, skipInvalidRecords: Bool = false) throws(BinlogError) {
        guard BinlogIndex.fileIndexRange.contains(position.fileIndex) else { throw .fileIndexOutOfRange(position.fileIndex) }
        guard position.offsetBytes >= 0 else { throw .positionBeyondEnd(position: position, end: position) }
        self.syncDirectory = syncDirectory
        self.position = position
        self.skipInvalidRecords = skipInvalidRecords
    }

    deinit {
        if let file { try? FileSystemCalls.close(file.descriptor, path: file.path) }
    }

    /// Releases the open file; the next read opens it again.
    public func close() {
        if let file { try? FileSystemCalls.close(file.descriptor, path: file.path) }
        file = nil
        buffer = []
    }

    /// The skipped lines retained since the last call (at most ``maxRetainedSkippedLines``),
    /// for the caller to log.
    public func takeSkippedLines() -> [BinlogSkippedLine] {
        defer { skippedLines = [] }
        return skippedLines
    }

    /// The end of the log as the files on disk show it: the index file's `current_write` and
    /// that file's size (which may end in a line being written).
    public static func endOfLog(syncDirectory: String) throws(BinlogError) -> BinlogPosition {
        let index = try BinlogIndex.load(syncDirectory: syncDirectory).index.currentWrite
        let path = BinlogIndex.binlogPath(syncDirectory: syncDirectory, index: index)
        let size = try io { () throws(FileSystemError) in try FileSystemCalls.fileSize(path) }
        return BinlogPosition(fileIndex: index, offsetBytes: size ?? 0)
    }

    /// The next record before `end` (the writer's ``BinlogWriter/position``), or nil when
    /// there is none yet. Files before `end.fileIndex` are read to their end; in the file of
    /// `end` a line that is not complete by `end` is not read.
    public func next(upTo end: BinlogPosition) throws(BinlogError) -> BinlogEntry? {
        guard position <= end else { throw .positionBeyondEnd(position: position, end: end) }
        while true {
            let isLastFile = position.fileIndex == end.fileIndex
            guard try openCurrentFile(expectedBytes: isLastFile ? end.offsetBytes : nil) else { return nil }
            let limit = isLastFile ? end.offsetBytes : try finalSize()
            let path = file!.path
            let offset = position.offsetBytes
            guard offset <= limit else {
                throw .positionBeyondEnd(position: position, end: BinlogPosition(fileIndex: position.fileIndex, offsetBytes: limit))
            }
            if offset == limit {
                if isLastFile { return nil }
                moveToNextFile()
                continue
            }
            switch try findLine(from: offset, limit: limit) {
            case .line(let bytes):
                let start = position
                let lineEnd = offset + Int64(bytes.count)
                do throws(BinlogError) {
                    let record = try BinlogRecord(lineBytes: bytes)
                    position.offsetBytes = lineEnd
                    return BinlogEntry(record: record, start: start, end: position)
                } catch {
                    let skipped = BinlogSkippedLine(path: path, offsetBytes: offset, lengthBytes: Int64(bytes.count), reason: error)
                    if error.isEmptyFilename {
                        skippedEmptyFilenameCount += 1
                    } else if skipInvalidRecords {
                        skippedInvalidCount += 1
                    } else {
                        throw .invalidLine(path: path, offsetBytes: offset, reason: error)
                    }
                    retain(skipped)
                    position.offsetBytes = lineEnd
                }
            case .incomplete:
                // In the file being written the rest of the line may still come.
                if isLastFile { return nil }
                guard skipInvalidRecords else { throw .unterminatedFile(path: path, offsetBytes: offset) }
                skippedInvalidCount += 1
                retain(BinlogSkippedLine(path: path, offsetBytes: offset, lengthBytes: limit - offset, reason: .unterminatedFile(path: path, offsetBytes: offset)))
                moveToNextFile()
            case .tooLong(let lineEnd):
                let length = (lineEnd ?? limit) - offset
                let reason = BinlogError.lineTooLong(lengthBytes: Int(clamping: length))
                guard skipInvalidRecords else { throw .invalidLine(path: path, offsetBytes: offset, reason: reason) }
                guard let lineEnd else {
                    if isLastFile { return nil }
                    skippedInvalidCount += 1
                    retain(BinlogSkippedLine(path: path, offsetBytes: offset, lengthBytes: length, reason: reason))
                    moveToNextFile()
                    continue
                }
                skippedInvalidCount += 1
                retain(BinlogSkippedLine(path: path, offsetBytes: offset, lengthBytes: length, reason: reason))
                position.offsetBytes = lineEnd
            }
        }
    }

    /// The next record up to the end of the log on disk (``endOfLog(syncDirectory:)``, read
    /// again only when the last known end is reached), or nil when there is none yet. For
    /// readers without access to the writer, such as tools.
    public func next() throws(BinlogError) -> BinlogEntry? {
        if let knownEnd, position <= knownEnd, let entry = try next(upTo: knownEnd) { return entry }
        let end = try Self.endOfLog(syncDirectory: syncDirectory)
        knownEnd = end
        return try next(upTo: end)
    }

    // MARK: Internals

    private enum LineSearch {
        /// A complete line, newline included.
        case line(ArraySlice<UInt8>)
        /// No newline before the limit, which is less than a maximum line away.
        case incomplete
        /// No newline within ``BinlogRecord/maxLineBytes``; where the line ends, if before the limit.
        case tooLong(lineEnd: Int64?)
    }

    private func findLine(from offset: Int64, limit: Int64) throws(BinlogError) -> LineSearch {
        let window = min(Int64(BinlogRecord.maxLineBytes), limit - offset)
        let bytes = try bytes(from: offset, count: Int(window), limit: limit)
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            return .line(bytes[...newline])
        }
        if bytes.count < window || window < Int64(BinlogRecord.maxLineBytes) { return .incomplete }
        // Look for where the overlong line ends, a chunk at a time.
        var searchFrom = offset + window
        while searchFrom < limit {
            let chunk = try self.bytes(from: searchFrom, count: Int(min(Int64(Self.readChunkBytes), limit - searchFrom)), limit: limit)
            if chunk.isEmpty { break }
            if let newline = chunk.firstIndex(of: UInt8(ascii: "\n")) {
                return .tooLong(lineEnd: searchFrom + Int64(newline - chunk.startIndex) + 1)
            }
            searchFrom += Int64(chunk.count)
        }
        return .tooLong(lineEnd: nil)
    }

    /// Up to `count` bytes of the open file from `offset` (fewer only at the end of the file).
    /// Reads ahead, but never past `limit`: bytes beyond the writer's published end may belong
    /// to an append that fails and is cut back, and must not be remembered.
    private func bytes(from offset: Int64, count: Int, limit: Int64) throws(BinlogError) -> ArraySlice<UInt8> {
        let bufferEnd = bufferStart + Int64(buffer.count)
        if offset >= bufferStart && offset + Int64(count) <= bufferEnd {
            let start = Int(offset - bufferStart)
            return buffer[start..<(start + count)]
        }
        let file = file!
        let readCount = Int(max(Int64(count), min(Int64(Self.readChunkBytes), limit - offset)))
        let read = try io { () throws(FileSystemError) in
            try FileSystemCalls.readRange(file.descriptor, path: file.path, offset: offset, count: readCount)
        }
        buffer = read
        bufferStart = offset
        return buffer[0..<min(count, buffer.count)]
    }

    /// Opens the file of `position` if it is not open. False when it does not exist yet and
    /// may legitimately not (the file being written, still empty: `expectedBytes` is 0).
    private func openCurrentFile(expectedBytes: Int64?) throws(BinlogError) -> Bool {
        if let file, file.fileIndex == position.fileIndex { return true }
        close()
        let path = BinlogIndex.binlogPath(syncDirectory: syncDirectory, index: position.fileIndex)
        do throws(FileSystemError) {
            let fd = try FileSystemCalls.open(path, O_RDONLY)
            file = OpenFile(fileIndex: position.fileIndex, path: path, descriptor: fd, finalSizeBytes: nil)
            bufferStart = 0
            return true
        } catch where error.errno == ENOENT {
            if expectedBytes == 0 && position.offsetBytes == 0 { return false }
            if (try? FileSystemCalls.fileSize(path + ".gz")) != nil { throw .compressedFile(path: path + ".gz") }
            throw .missingFile(path: path)
        } catch {
            throw .fileSystem(error)
        }
    }

    /// The size of the open file, which is no longer written to.
    private func finalSize() throws(BinlogError) -> Int64 {
        if let size = file!.finalSizeBytes { return size }
        let open = file!
        let size = try io { () throws(FileSystemError) in try FileSystemCalls.fileSize(descriptor: open.descriptor, path: open.path) }
        file!.finalSizeBytes = size
        return size
    }

    private func moveToNextFile() {
        close()
        position = BinlogPosition(fileIndex: position.fileIndex + 1, offsetBytes: 0)
    }

    private func retain(_ line: BinlogSkippedLine) {
        if skippedLines.count < Self.maxRetainedSkippedLines { skippedLines.append(line) }
    }
}

public import FDFSFileSystem

/// Why a binlog line, file or index could not be used. Line problems (the first group) come
/// from ``BinlogRecord/init(line:)`` and ``BinlogRecord/init(timestampSeconds:operation:filename:extra:)``;
/// the readers and the writer wrap them with the file and offset (``invalidLine(path:offsetBytes:reason:)``).
/// Every case says what is wrong in words an operator can act on.
public enum BinlogError: Error, Hashable, Sendable, CustomStringConvertible {
    // MARK: One line or record

    /// The line, newline included, is longer than ``BinlogRecord/maxLineBytes``.
    case lineTooLong(lengthBytes: Int)
    /// A newline inside the line (only one, at the very end, is allowed).
    case embeddedNewline
    /// A space-separated field is missing (`"operation"`, `"filename"`, `"source filename"`, ...).
    case missingField(String)
    /// The timestamp is not a canonical non-negative decimal number that fits in 64 bits.
    case badTimestamp(String)
    /// The operation field is not exactly one of the 16 letters `CDUAMTLR` / `cduamtlr`.
    case unknownOperation(String)
    /// The (first) filename is empty: the line C FastDFS 6.13 to 6.16.1 writes for links
    /// (cluster spec §10.1, `<ts> l \n` and `<ts> L  <target>`). Readers skip these lines.
    case emptyFilename(BinlogOperation)
    /// A filename is longer than ``BinlogRecord/maxFilenameBytes``.
    case filenameTooLong(field: String, lengthBytes: Int)
    /// A filename contains a space, a control character or DEL.
    case badFilenameByte(field: String, byte: UInt8)
    /// A filename is not valid UTF-8.
    case filenameNotUTF8(field: String)
    /// A number field (offset, length, size) is not a canonical non-negative 64-bit decimal.
    case badNumber(field: String, text: String)
    /// More fields than the operation has.
    case unexpectedField(String)
    /// The extra fields given to a record do not belong to its operation (encoder side).
    case extraDoesNotMatchOperation(BinlogOperation)

    // MARK: Files

    /// A system call on a binlog file failed.
    case fileSystem(FileSystemError)
    /// A complete line of a binlog file is not a valid record.
    indirect case invalidLine(path: String, offsetBytes: Int64, reason: BinlogError)
    /// A binlog file that is no longer written to ends without a newline: its last line is
    /// incomplete and can never be completed.
    case unterminatedFile(path: String, offsetBytes: Int64)
    /// A binlog file that must exist (an earlier index than the one being written) is missing.
    case missingFile(path: String)
    /// Only the gzip-compressed form of a binlog file exists (cluster spec §5.5); reading it
    /// is not implemented.
    case compressedFile(path: String)
    /// `binlog_index.dat` is not a valid `key=value` file (a line without `=`, a repeated key,
    /// a value that is not a file index).
    case indexFile(StateFileError)
    /// `binlog_index.dat` or `binlog.index` holds something else that cannot be an index.
    case badIndexFile(path: String, reason: String)
    /// A binlog file index outside ``BinlogIndex/fileIndexRange``.
    case fileIndexOutOfRange(Int)
    /// A reader was asked to start or continue past the end of the log.
    case positionBeyondEnd(position: BinlogPosition, end: BinlogPosition)
    /// One append would write more than ``BinlogWriter/maxAppendBytes``.
    case appendTooLarge(lengthBytes: Int)
    /// The damaged tail found at open is larger than ``BinlogWriter/maxRepairBytes``: more than
    /// a crash during one write can leave, so something else is wrong; an operator must look.
    /// `validEndOffsetBytes` is where the last valid line ends, nil when it is not within reach.
    case tailDamageTooLarge(path: String, validEndOffsetBytes: Int64?, sizeBytes: Int64)
    /// An earlier write or fsync failed in a way that leaves the file's state unknown; the
    /// writer refuses further appends (reopen it to repair the tail).
    case writerUnusable(reason: String)
    /// The writer was closed.
    case writerClosed

    /// True for the C empty-filename link record, which readers skip rather than stall on.
    public var isEmptyFilename: Bool {
        switch self {
        case .emptyFilename: true
        case .invalidLine(_, _, let reason): reason.isEmptyFilename
        default: false
        }
    }

    public var description: String {
        switch self {
        case .lineTooLong(let n): "line has \(n) bytes with its newline, at most \(BinlogRecord.maxLineBytes) are allowed"
        case .embeddedNewline: "line contains a newline before its end"
        case .missingField(let f): "line has no \(f) field"
        case .badTimestamp(let t): "timestamp '\(t)' is not a non-negative decimal number of at most 19 digits without leading zeros"
        case .unknownOperation(let o): "operation '\(o)' is not one of C D U A M T L R (source) or c d u a m t l r (replica)"
        case .emptyFilename(let op):
            "empty filename in a '\(op.letter)' record (the C FastDFS 6.13-6.16.1 link record bug, cluster spec §10.1)"
        case .filenameTooLong(let f, let n): "\(f) has \(n) bytes, at most \(BinlogRecord.maxFilenameBytes) are allowed"
        case .badFilenameByte(let f, let b): "\(f) contains byte 0x\(Self.hex(b)) (spaces and control characters are not allowed)"
        case .filenameNotUTF8(let f): "\(f) is not valid UTF-8"
        case .badNumber(let f, let t): "\(f) '\(t)' is not a non-negative decimal number of at most 19 digits without leading zeros"
        case .unexpectedField(let t): "unexpected text '\(t)' after the last field"
        case .extraDoesNotMatchOperation(let op): "the extra fields do not match operation '\(op.letter)'"
        case .fileSystem(let e): e.description
        case .invalidLine(let p, let o, let r): "\(p) offset \(o): \(r)"
        case .unterminatedFile(let p, let o): "\(p) offset \(o): the file is no longer written but its last line has no newline"
        case .missingFile(let p): "binlog file \(p) is missing"
        case .compressedFile(let p): "binlog file \(p) exists only compressed (.gz); reading compressed binlogs is not implemented"
        case .indexFile(let e): e.description
        case .badIndexFile(let p, let r): "\(p): \(r)"
        case .fileIndexOutOfRange(let i): "binlog file index \(i) is outside \(BinlogIndex.fileIndexRange.lowerBound)...\(BinlogIndex.fileIndexRange.upperBound)"
        case .positionBeyondEnd(let p, let e): "binlog position \(p) is past the end of the log \(e)"
        case .appendTooLarge(let n): "one append of \(n) bytes exceeds the limit of \(BinlogWriter.maxAppendBytes) bytes"
        case .tailDamageTooLarge(let p, let v?, let s):
            "\(p): the last valid line ends at offset \(v) of \(s) bytes; cutting \(s - v) bytes exceeds the repair limit of \(BinlogWriter.maxRepairBytes) bytes"
        case .tailDamageTooLarge(let p, nil, let s):
            "\(p): no valid line ends within the last \(BinlogWriter.maxRepairBytes) bytes of \(s); the damage exceeds the repair limit"
        case .writerUnusable(let r): "the binlog writer stopped after an earlier failure: \(r)"
        case .writerClosed: "the binlog writer is closed"
        }
    }

    static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(b >> 4)], digits[Int(b & 0xF)]], as: UTF8.self)
    }
}

/// Runs file-system calls, reporting their failure as ``BinlogError/fileSystem(_:)``.
func io<T>(_ body: () throws(FileSystemError) -> T) throws(BinlogError) -> T {
    do throws(FileSystemError) {
        return try body()
    } catch {
        throw .fileSystem(error)
    }
}

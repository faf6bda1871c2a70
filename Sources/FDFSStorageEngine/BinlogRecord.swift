/// The operation of a binlog record (cluster spec §5.3): one ASCII letter, upper case when a
/// client did it on this storage ("source"), lower case when a peer's sync applied it here
/// ("replica"). Only source records are pushed to peers, so the case decides what replicates.
public enum BinlogOperation: UInt8, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case sourceCreate = 0x43  // C
    case sourceDelete = 0x44  // D
    case sourceUpdate = 0x55  // U
    case sourceAppend = 0x41  // A
    case sourceModify = 0x4D  // M
    case sourceTruncate = 0x54  // T
    case sourceLink = 0x4C  // L
    case sourceRename = 0x52  // R
    case replicaCreate = 0x63  // c
    case replicaDelete = 0x64  // d
    case replicaUpdate = 0x75  // u
    case replicaAppend = 0x61  // a
    case replicaModify = 0x6D  // m
    case replicaTruncate = 0x74  // t
    case replicaLink = 0x6C  // l
    case replicaRename = 0x72  // r

    /// What happened to the file, independent of where it happened.
    public enum Kind: Hashable, Sendable, CaseIterable {
        /// Upload (normal, appender, slave) or metadata file created.
        case create
        /// File (or metadata file) deleted.
        case delete
        /// Whole file rewritten: a metadata file, or a create resent in full.
        case update
        /// Bytes appended to an appender file (extra: offset and length).
        case append
        /// A range of an appender file overwritten (extra: offset and length).
        case modify
        /// An appender file truncated (extra: old and new size).
        case truncate
        /// A symbolic link created (extra: the link's target).
        case link
        /// An appender file renamed to a regular name (extra: the old appender name).
        case rename
    }

    public init(kind: Kind, isSource: Bool) {
        let upper: UInt8 = switch kind {
        case .create: 0x43
        case .delete: 0x44
        case .update: 0x55
        case .append: 0x41
        case .modify: 0x4D
        case .truncate: 0x54
        case .link: 0x4C
        case .rename: 0x52
        }
        self.init(rawValue: isSource ? upper : upper | 0x20)!
    }

    /// The letter as it appears in the line.
    public var letter: Character { Character(Unicode.Scalar(rawValue)) }
    public var description: String { String(letter) }

    /// Upper case: done by a client on this storage, replicated to peers.
    public var isSource: Bool { rawValue < 0x61 }

    public var kind: Kind {
        switch rawValue & ~0x20 {
        case 0x43: .create
        case 0x44: .delete
        case 0x55: .update
        case 0x41: .append
        case 0x4D: .modify
        case 0x54: .truncate
        case 0x4C: .link
        default: .rename
        }
    }

    /// The record a peer writes when it applies this source operation.
    public var asReplica: BinlogOperation { BinlogOperation(kind: kind, isSource: false) }
}

/// One line of the storage binlog (cluster spec §5.2):
///
///     <timestamp> <op> <filename>[ <extra>]\n
///
/// A value always encodes to a line a reader accepts: every initializer validates the fields
/// and the limits (``maxLineBytes``, ``maxFilenameBytes``). The decoder accepts exactly the lines
/// the encoder writes, so `try BinlogRecord(line: l).encodedLine == l` holds for every accepted
/// line (numbers are canonical decimals, as C's `printf("%d")` writes them).
public struct BinlogRecord: Hashable, Sendable, CustomStringConvertible {
    /// The C reader's line buffer is 256 bytes including its terminating NUL, and it refuses a
    /// line (newline included) that does not fit: 255 bytes with the newline.
    public static let maxLineBytes = 255
    /// A logical filename `Mxx/HH/HH/<name>` is at most 127 bytes (`RemoteFilename.maxLength`).
    public static let maxFilenameBytes = 127
    /// The C reader copies everything after the operation (filename and extra fields) into a
    /// 128-byte buffer and rejects more than 127 bytes. Lines we write may be longer (a link
    /// between two long slave names); ``fitsCReaderLimits`` tells whether C FastDFS could read it.
    public static let cReaderMaxRemainderBytes = 127
    /// 19 digits: every non-negative `Int64` (9223372036854775807).
    static let maxNumberDigits = 19

    /// The operation-specific fields after the filename (cluster spec §5.3).
    public enum Extra: Hashable, Sendable {
        /// Create, delete, update.
        case none
        /// Append and modify: the offset of the write in the file (for append, the size
        /// before appending) and the number of bytes written.
        case range(offsetBytes: Int64, lengthBytes: Int64)
        /// Truncate: the size before and after.
        case sizes(oldSizeBytes: Int64, newSizeBytes: Int64)
        /// Link: the logical `Mxx/...` name of the file the link points to.
        case linkTarget(String)
        /// Rename: the appender file's name before the rename (the record's filename is the new name).
        case renamedFrom(String)
    }

    /// Unix time in seconds of the operation at the storage where a client did it (replica
    /// records keep the source's timestamp).
    public let timestampSeconds: Int64
    public let operation: BinlogOperation
    /// The logical name without the group, `Mxx/HH/HH/<name>` (for a metadata file `<name>-m`).
    /// Kept as text: the binlog is replayed verbatim to peers, and names from other
    /// implementations must not be rewritten here.
    public let filename: String
    public let extra: Extra

    /// Builds a record, checking that `extra` belongs to `operation` and every limit holds.
    public init(timestampSeconds: Int64, operation: BinlogOperation, filename: String, extra: Extra = .none) throws(BinlogError) {
        guard timestampSeconds >= 0 else { throw .badTimestamp(String(timestampSeconds)) }
        let name = Array(filename.utf8)
        if name.isEmpty { throw .emptyFilename(operation) }
        try Self.validateFilename(name[...], field: "filename")
        switch (operation.kind, extra) {
        case (.create, .none), (.delete, .none), (.update, .none):
            break
        case (.append, .range(let offset, let length)), (.modify, .range(let offset, let length)):
            guard offset >= 0 else { throw .badNumber(field: "offset", text: String(offset)) }
            guard length >= 0 else { throw .badNumber(field: "length", text: String(length)) }
        case (.truncate, .sizes(let old, let new)):
            guard old >= 0 else { throw .badNumber(field: "old size", text: String(old)) }
            guard new >= 0 else { throw .badNumber(field: "new size", text: String(new)) }
        case (.link, .linkTarget(let other)), (.rename, .renamedFrom(let other)):
            let field = Self.secondFilenameField(operation.kind)
            let bytes = Array(other.utf8)
            guard !bytes.isEmpty else { throw .missingField(field) }
            try Self.validateFilename(bytes[...], field: field)
        default:
            throw .extraDoesNotMatchOperation(operation)
        }
        self.timestampSeconds = timestampSeconds
        self.operation = operation
        self.filename = filename
        self.extra = extra
        let length = encodedLength
        guard length <= Self.maxLineBytes else { throw .lineTooLong(lengthBytes: length) }
    }

    /// Decodes one line, with or without its final newline, by the C reader's rules: split at
    /// the first two spaces (timestamp, operation, remainder); for link and rename split the
    /// remainder again at its first space; for append, modify and truncate the remainder is the
    /// filename and two numbers.
    public init(line: some StringProtocol) throws(BinlogError) {
        try self.init(lineBytes: Array(line.utf8)[...])
    }

    /// ``init(line:)`` on the raw bytes of a line, with or without its final newline.
    public init(lineBytes: ArraySlice<UInt8>) throws(BinlogError) {
        let newline = UInt8(ascii: "\n")
        let space = UInt8(ascii: " ")
        let content = lineBytes.last == newline ? lineBytes.dropLast() : lineBytes
        guard content.count + 1 <= Self.maxLineBytes else { throw .lineTooLong(lengthBytes: content.count + 1) }
        guard !content.contains(newline) else { throw .embeddedNewline }

        guard let firstSpace = content.firstIndex(of: space) else { throw .missingField("operation") }
        let timestampText = content[content.startIndex..<firstSpace]
        guard let timestamp = Self.parseNumber(timestampText) else { throw .badTimestamp(Self.text(timestampText)) }
        let afterFirst = content[(firstSpace + 1)...]
        let secondSpace = afterFirst.firstIndex(of: space)
        let operationText = afterFirst[afterFirst.startIndex..<(secondSpace ?? afterFirst.endIndex)]
        guard operationText.count == 1, let operation = BinlogOperation(rawValue: operationText.first!) else {
            throw .unknownOperation(Self.text(operationText))
        }
        guard let secondSpace else { throw .missingField("filename") }
        var fields = content[(secondSpace + 1)...].split(separator: space, maxSplits: 3, omittingEmptySubsequences: false)[...]
        let name = fields.popFirst()!
        if name.isEmpty { throw .emptyFilename(operation) }
        try Self.validateFilename(name, field: "filename")

        let extra: Extra
        switch operation.kind {
        case .create, .delete, .update:
            extra = .none
        case .link, .rename:
            let field = Self.secondFilenameField(operation.kind)
            // The remainder after the first space is one name (C takes all of it).
            fields = fields.isEmpty ? [] : [content[fields.first!.startIndex...]]
            guard let other = fields.popFirst(), !other.isEmpty else { throw .missingField(field) }
            if let space = other.firstIndex(of: space) { throw .unexpectedField(Self.text(other[space...])) }
            try Self.validateFilename(other, field: field)
            let otherName = String(decoding: other, as: UTF8.self)
            extra = operation.kind == .link ? .linkTarget(otherName) : .renamedFrom(otherName)
        case .append, .modify, .truncate:
            let names = operation.kind == .truncate ? ("old size", "new size") : ("offset", "length")
            guard let first = fields.popFirst() else { throw .missingField(names.0) }
            guard let a = Self.parseNumber(first) else { throw .badNumber(field: names.0, text: Self.text(first)) }
            guard let second = fields.popFirst() else { throw .missingField(names.1) }
            guard let b = Self.parseNumber(second) else { throw .badNumber(field: names.1, text: Self.text(second)) }
            extra = operation.kind == .truncate ? .sizes(oldSizeBytes: a, newSizeBytes: b) : .range(offsetBytes: a, lengthBytes: b)
        }
        if let rest = fields.first {
            // `rest` starts after a space; show what followed the last field.
            throw .unexpectedField(Self.text(content[(rest.startIndex - 1)...]))
        }
        self.timestampSeconds = timestamp
        self.operation = operation
        self.filename = String(decoding: name, as: UTF8.self)
        self.extra = extra
    }

    /// The line with its newline.
    public var encodedLine: String { String(decoding: encodedBytes, as: UTF8.self) }

    /// ``encodedLine`` as bytes.
    public var encodedBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedLength)
        encode(into: &bytes)
        return bytes
    }

    /// Appends the line with its newline (the writer builds one buffer for a whole batch).
    public func encode(into bytes: inout [UInt8]) {
        bytes += String(timestampSeconds).utf8
        bytes.append(UInt8(ascii: " "))
        bytes.append(operation.rawValue)
        bytes.append(UInt8(ascii: " "))
        bytes += filename.utf8
        switch extra {
        case .none:
            break
        case .range(let a, let b), .sizes(let a, let b):
            bytes.append(UInt8(ascii: " "))
            bytes += String(a).utf8
            bytes.append(UInt8(ascii: " "))
            bytes += String(b).utf8
        case .linkTarget(let other), .renamedFrom(let other):
            bytes.append(UInt8(ascii: " "))
            bytes += other.utf8
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// The length of the encoded line in bytes, newline included.
    public var encodedLength: Int { String(timestampSeconds).utf8.count + 3 + remainderLength + 1 }

    /// Whether a C FastDFS reader could read this line (see ``cReaderMaxRemainderBytes``).
    public var fitsCReaderLimits: Bool { remainderLength <= Self.cReaderMaxRemainderBytes }

    public var description: String { String(encodedLine.dropLast()) }

    /// Filename and extra fields: everything between the operation's space and the newline.
    var remainderLength: Int {
        let name = filename.utf8.count
        switch extra {
        case .none: return name
        case .range(let a, let b), .sizes(let a, let b): return name + 2 + String(a).utf8.count + String(b).utf8.count
        case .linkTarget(let other), .renamedFrom(let other): return name + 1 + other.utf8.count
        }
    }

    static func secondFilenameField(_ kind: BinlogOperation.Kind) -> String {
        kind == .link ? "link target filename" : "old appender filename"
    }

    /// 1 to 127 bytes of UTF-8 without spaces, control characters or DEL: a space would move
    /// the field boundaries, a newline the record boundary.
    static func validateFilename(_ bytes: ArraySlice<UInt8>, field: String) throws(BinlogError) {
        guard bytes.count <= maxFilenameBytes else { throw .filenameTooLong(field: field, lengthBytes: bytes.count) }
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 == 0x7F }) { throw .badFilenameByte(field: field, byte: bad) }
        if bytes.contains(where: { $0 >= 0x80 }) && !String(decoding: bytes, as: UTF8.self).utf8.elementsEqual(bytes) {
            throw .filenameNotUTF8(field: field)
        }
    }

    /// A canonical non-negative decimal: 1 to 19 digits, no sign, no leading zero, fits Int64.
    static func parseNumber(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard (1...maxNumberDigits).contains(bytes.count), bytes.first != UInt8(ascii: "0") || bytes.count == 1 else { return nil }
        var value: Int64 = 0
        for b in bytes {
            guard (0x30...0x39).contains(b) else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(b - 0x30))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// A field for an error message, bounded so that a garbage line cannot make a huge message.
    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        let limit = 40
        let shown = String(decoding: bytes.prefix(limit), as: UTF8.self)
        return bytes.count > limit ? shown + "..." : shown
    }
}

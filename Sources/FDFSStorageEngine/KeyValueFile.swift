public import FDFSFileSystem

/// What is wrong with one of the storage's small state files (`.data_init_flag`,
/// `storage_stat.dat`, `sync/*.mark`, `.fastdfs_vars`). Every case names the file, and the key
/// or line where there is one, so that a refused start can be explained in one log line.
public enum StateFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A key the C storage also insists on is not in the file (C: `ENOENT`, startup fails).
    case missingKey(path: String, key: String)
    /// A value that is not what the key needs (`expected` says what that is).
    case invalidValue(path: String, key: String, value: String, expected: String)
    /// A line that is neither blank, a `#` comment nor `key=value` (1-based line number).
    case malformedLine(path: String, line: Int, text: String)
    /// The same key twice: the C ini reader would pick one arbitrarily (binary search).
    case duplicateKey(path: String, key: String, line: Int)
    /// Fewer `key=value` lines than the C loader accepts (mark files: 7, stat file: 12).
    case tooFewKeys(path: String, count: Int, minimum: Int)
    /// The bytes are not UTF-8 (the C writers only ever write ASCII).
    case invalidEncoding(path: String)
    /// Reading or atomically replacing the file failed.
    case fileSystem(FileSystemError)

    public var path: String {
        switch self {
        case .missingKey(let path, _), .invalidValue(let path, _, _, _), .malformedLine(let path, _, _),
             .duplicateKey(let path, _, _), .tooFewKeys(let path, _, _), .invalidEncoding(let path):
            path
        case .fileSystem(let error): error.path
        }
    }

    public var description: String {
        switch self {
        case .missingKey(let path, let key): "\(path): key \"\(key)\" is missing"
        case .invalidValue(let path, let key, let value, let expected):
            "\(path): key \"\(key)\" has value \"\(value)\", expected \(expected)"
        case .malformedLine(let path, let line, let text): "\(path):\(line): not a key=value line: \"\(text)\""
        case .duplicateKey(let path, let key, let line): "\(path):\(line): key \"\(key)\" appears a second time"
        case .tooFewKeys(let path, let count, let minimum): "\(path): \(count) keys, at least \(minimum) expected"
        case .invalidEncoding(let path): "\(path): the file is not UTF-8 text"
        case .fileSystem(let error): error.description
        }
    }
}

/// The `key=value\n` line format shared by all of the storage's small state files: one parser
/// and one formatter, so that the four file types cannot drift apart in how they read a line.
///
/// Reading follows the fastcommon ini reader the C storage uses where that is harmless (blank
/// lines and `#` comments are skipped; key and value are trimmed of spaces, tabs and a `\r`)
/// and is stricter where C would silently guess (a line without `=`, an empty key or a
/// duplicate key is an error, not skipped or resolved arbitrarily). Keys are case-sensitive.
public struct KeyValueFile: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: String
        /// 1-based line in the parsed text (0 for entries built in code).
        public var line: Int

        public init(key: String, value: String, line: Int = 0) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// In file order.
    public private(set) var entries: [Entry]
    /// Where the text came from, for error messages.
    public let path: String
    private var indexByKey: [String: Int]

    public init(parsing text: String, path: String) throws(StateFileError) {
        self.path = path
        entries = []
        indexByKey = [:]
        var lineNumber = 0
        // "\r\n" is a single Character in Swift, so it must be named as a separator of its own.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = Self.trimmed(rawLine)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw .malformedLine(path: path, line: lineNumber, text: String(rawLine))
            }
            let key = Self.trimmed(line[..<equals])
            let value = Self.trimmed(line[line.index(after: equals)...])
            guard !key.isEmpty else { throw .malformedLine(path: path, line: lineNumber, text: String(rawLine)) }
            guard indexByKey[key] == nil else { throw .duplicateKey(path: path, key: key, line: lineNumber) }
            indexByKey[key] = entries.count
            entries.append(Entry(key: key, value: value, line: lineNumber))
        }
    }

    /// Number of `key=value` lines (what the C loaders compare against their minimum).
    public var count: Int { entries.count }

    public subscript(key: String) -> String? {
        indexByKey[key].map { entries[$0].value }
    }

    public func requireMinimumCount(_ minimum: Int) throws(StateFileError) {
        if count < minimum { throw .tooFewKeys(path: path, count: count, minimum: minimum) }
    }

    /// A key that must be present; an empty value is a value.
    public func requiredString(_ key: String) throws(StateFileError) -> String {
        guard let value = self[key] else { throw .missingKey(path: path, key: key) }
        return value
    }

    /// A decimal integer (optional `-`); nil when the key is absent. Unlike C's `atoi`, which
    /// reads `12abc` as 12 and `abc` as 0, anything else is an error: a counter or position
    /// silently reset to 0 would resend or recount data.
    public func int64(_ key: String) throws(StateFileError) -> Int64? {
        guard let text = self[key] else { return nil }
        guard Self.isDecimal(text), let value = Int64(text) else {
            throw .invalidValue(path: path, key: key, value: text, expected: "a decimal integer")
        }
        return value
    }

    public func int64(_ key: String, default defaultValue: Int64) throws(StateFileError) -> Int64 {
        try int64(key) ?? defaultValue
    }

    public func requiredInt64(_ key: String) throws(StateFileError) -> Int64 {
        guard let value = try int64(key) else { throw .missingKey(path: path, key: key) }
        return value
    }

    /// An integer that must lie in `range`.
    public func int(_ key: String, in range: ClosedRange<Int>) throws(StateFileError) -> Int? {
        guard let value = try int64(key) else { return nil }
        guard let narrow = Int(exactly: value), range.contains(narrow) else {
            throw .invalidValue(path: path, key: key, value: self[key] ?? "", expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return narrow
    }

    /// A flag written by C with `%d` and read back with `atoi`: 0 is false, any other integer true.
    public func integerFlag(_ key: String) throws(StateFileError) -> Bool? {
        try int64(key).map { $0 != 0 }
    }

    /// A flag read by C with `iniGetBoolValue`: `1`, `true`, `yes`, `on` are true (case-insensitive).
    /// C reads every other text as false; here only `0`, `false`, `no`, `off` are, the rest is an
    /// error, because the C writer only ever writes `0` or `1`.
    public func booleanFlag(_ key: String) throws(StateFileError) -> Bool? {
        guard let text = self[key] else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw .invalidValue(path: path, key: key, value: text, expected: "0 or 1")
        }
    }

    // MARK: - Formatting

    /// `key=value\n` for every pair, in the given order: the exact bytes the C writers produce
    /// (`sprintf("%s=%d\n")`, no spaces, a newline after the last line too).
    ///
    /// A value containing a line break would turn into a second line on reading; values come
    /// from validated sources (ids, addresses, numbers), so that is a programming error.
    public static func format(_ pairs: [(key: String, value: String)]) -> String {
        var text = ""
        text.reserveCapacity(pairs.count * 32)
        for (key, value) in pairs {
            precondition(!key.contains(where: \.isNewline) && !value.contains(where: \.isNewline),
                         "state file value with a line break: \(key)=\(value)")
            text += key
            text += "="
            text += value
            text += "\n"
        }
        return text
    }

    // MARK: - Helpers

    static func isDecimal(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" { digits = digits.dropFirst() }
        return !digits.isEmpty && digits.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// fastcommon's `trim`: spaces, tabs and CR/LF on both sides.
    static func trimmed(_ text: Substring) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) }) else {
            return ""
        }
        return String(text[first...last])
    }
}

/// A state file that is a whole `key=value` document: `format()` produces the exact C bytes and
/// `init(parsing:path:)` reads them back. `load`/`save` add the I/O.
public protocol KeyValueStateFile: Sendable {
    init(parsing text: String, path: String) throws(StateFileError)
    func format() -> String
}

extension KeyValueStateFile {
    /// The file's content; nil when the file does not exist (the caller decides whether that
    /// means "first start" or an error).
    public static func load(path: String) throws(StateFileError) -> Self? {
        guard let text = try StateFileIO.read(path: path) else { return nil }
        return try Self(parsing: text, path: path)
    }

    /// Atomic rewrite, as the C storage does it (`<path>.tmp`, fsync, rename) plus a directory
    /// fsync so that the rename survives a crash.
    public func save(path: String) throws(StateFileError) {
        try StateFileIO.write(format(), path: path)
    }
}

/// The I/O under ``KeyValueStateFile``.
public enum StateFileIO {
    /// The file as text; nil when it does not exist.
    public static func read(path: String) throws(StateFileError) -> String? {
        let bytes: [UInt8]?
        do throws(FileSystemError) {
            bytes = try FileSystemCalls.readFile(path)
        } catch {
            throw .fileSystem(error)
        }
        guard let bytes else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidEncoding(path: path) }
        return text
    }

    public static func write(_ text: String, path: String) throws(StateFileError) {
        do throws(FileSystemError) {
            try FileSystemCalls.replaceFile(path, with: Array(text.utf8), directory: directory(of: path))
        } catch {
            throw .fileSystem(error)
        }
    }

    /// The directory to fsync after the rename: everything before the last `/`.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// Upper bounds the reader enforces on a configuration file and everything it includes.
public struct ConfigLimits: Hashable, Sendable {
    /// Largest file accepted (each file, top-level or included).
    public var maxFileBytes = 1 << 20
    /// Most lines in one file.
    public var maxLinesPerFile = 100_000
    /// Most `key = value` items in the document (all files together).
    public var maxItems = 100_000
    /// Deepest `#include` nesting (the top-level file is depth 0).
    public var maxIncludeDepth = 16
    /// Most files pulled in by `#include` (all levels together).
    public var maxIncludedFiles = 256
    /// Longest key in bytes; the C reader truncates longer keys, we reject them.
    public var maxKeyBytes = 63
    /// Longest value in bytes; the C reader truncates longer values, we reject them.
    public var maxValueBytes = 255

    public init() {}

    public static let `default` = ConfigLimits()
}

/// One `key = value` line.
public struct ConfigItem: Hashable, Sendable {
    /// The section name, empty for the global section.
    public var section: String
    public var key: String
    public var value: String
    public var location: ConfigLocation

    public init(section: String = "", key: String, value: String, location: ConfigLocation) {
        self.section = section
        self.key = key
        self.value = value
        self.location = location
    }
}

/// A FastDFS (libfastcommon "ini") configuration file after `#include` expansion: the items
/// in file order, each with its section, source file and line.
///
/// Syntax (cluster spec §8.1): `key = value` with both sides trimmed and the first `=`
/// splitting; lines starting with `#` are comments (there are no trailing comments);
/// `#include <file>` (case-insensitive keyword, then a space or TAB) inserts another file,
/// relative names being relative to the including file's directory, and parsing continues in
/// the global section afterwards; `[name]` starts a section and `[]` returns to the global
/// one; a key may repeat and every occurrence is kept in order.
///
/// Deliberate differences from the C reader: `http://` includes are refused, the `#@set`,
/// `#@if`, `#@for`, `#@function` pre-processing directives are not interpreted (they are
/// comments, reported as warnings), over-long keys and values are errors instead of being
/// truncated, and lines that are neither comments, sections nor `key = value` are reported as
/// warnings (C ignores them silently).
public struct ConfigDocument: Hashable, Sendable {
    /// The top-level file's path, as given.
    public var path: String
    /// Every item in reading order (included files at their `#include` position).
    public var items: [ConfigItem]
    /// Notes from the reader itself (ignored lines, ignored directives).
    public var warnings: [ConfigWarning]
    /// Paths of the included files, in the order they were read.
    public var includedFiles: [String]

    public init(path: String, items: [ConfigItem] = [], warnings: [ConfigWarning] = [], includedFiles: [String] = []) {
        self.path = path
        self.items = items
        self.warnings = warnings
        self.includedFiles = includedFiles
    }

    /// Reads and parses the file at `path` and everything it includes.
    public static func load(path: String, limits: ConfigLimits = .default) throws(ConfigError) -> ConfigDocument {
        let text = try ConfigFile.readText(path, location: ConfigLocation(path: path), maxBytes: limits.maxFileBytes)
        return try parse(text: text, path: path, limits: limits)
    }

    /// Parses `text` as if it were the content of the file at `path`. `#include` targets are
    /// read from the disk, relative to the directory of `path`.
    public static func parse(text: String, path: String, limits: ConfigLimits = .default) throws(ConfigError) -> ConfigDocument {
        guard text.utf8.count <= limits.maxFileBytes else {
            throw .fileTooLarge(ConfigLocation(path: path), file: path, bytes: text.utf8.count, limitBytes: limits.maxFileBytes)
        }
        var parser = Parser(limits: limits)
        try parser.parseFile(text: text, path: path, depth: 0)
        return ConfigDocument(path: path, items: parser.items, warnings: parser.warnings, includedFiles: parser.includedFiles)
    }

    /// All items named `key` in `section`, in reading order.
    public func items(_ key: String, section: String = "") -> [ConfigItem] {
        items.filter { $0.key == key && $0.section == section }
    }

    /// The value of the last occurrence of `key` in `section`.
    public func value(_ key: String, section: String = "") -> String? {
        items.last { $0.key == key && $0.section == section }?.value
    }

    /// Section names in order of first appearance (the global section is not listed).
    public var sectionNames: [String] {
        var seen = Set<String>()
        return items.compactMap { $0.section.isEmpty || !seen.insert($0.section).inserted ? nil : $0.section }
    }
}

// MARK: - Parser

extension ConfigDocument {
    private struct Parser {
        let limits: ConfigLimits
        var items: [ConfigItem] = []
        var warnings: [ConfigWarning] = []
        var includedFiles: [String] = []
        /// Canonical and display paths of the files being read, outermost first.
        var stack: [(canonical: String, path: String)] = []
        var section = ""

        init(limits: ConfigLimits) { self.limits = limits }

        mutating func parseFile(text: String, path: String, depth: Int) throws(ConfigError) {
            stack.append((ConfigFile.canonicalPath(path), path))
            defer { stack.removeLast() }
            section = ""

            let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            guard lines.count <= limits.maxLinesPerFile else {
                throw .limitExceeded(ConfigLocation(path: path), what: "lines in one file", limit: limits.maxLinesPerFile)
            }
            for (index, raw) in lines.enumerated() {
                let location = ConfigLocation(path: path, line: index + 1)
                let line = trimASCIIWhitespace(Substring(raw))
                if line.isEmpty { continue }

                if line.hasPrefix("#") {
                    if let target = Self.includeTarget(line) {
                        try include(target, location: location, depth: depth)
                        section = ""
                    } else if line.hasPrefix("#@") {
                        warnings.append(ConfigWarning(
                            location: location, key: "",
                            message: "pre-processing directive '\(line.prefix(32))' is not supported; the line is treated as a comment"))
                    }
                    continue
                }

                if line.hasPrefix("["), line.hasSuffix("]"), line.utf8.count >= 2 {
                    section = String(trimASCIIWhitespace(line.dropFirst().dropLast()))
                    continue
                }

                guard let equals = line.firstIndex(of: "=") else {
                    warnings.append(ConfigWarning(location: location, key: "",
                                                  message: "line is not 'key = value', a comment or a [section]; ignored"))
                    continue
                }
                let key = String(trimASCIIWhitespace(line[..<equals]))
                let value = String(trimASCIIWhitespace(line[line.index(after: equals)...]))
                guard !key.isEmpty else {
                    warnings.append(ConfigWarning(location: location, key: "", message: "no key before '='; line ignored"))
                    continue
                }
                guard key.utf8.count <= limits.maxKeyBytes else {
                    throw .keyTooLong(location, key: key, limitBytes: limits.maxKeyBytes)
                }
                guard value.utf8.count <= limits.maxValueBytes else {
                    throw .valueTooLong(location, key: displayKey(key, section: section),
                                        bytes: value.utf8.count, limitBytes: limits.maxValueBytes)
                }
                guard items.count < limits.maxItems else {
                    throw .limitExceeded(location, what: "items", limit: limits.maxItems)
                }
                items.append(ConfigItem(section: section, key: key, value: value, location: location))
            }
        }

        private mutating func include(_ target: String, location: ConfigLocation, depth: Int) throws(ConfigError) {
            guard !target.isEmpty else {
                throw .unsupportedInclude(location, target: target, reason: "no file name after #include")
            }
            let lowered = target.lowercased()
            if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") {
                throw .unsupportedInclude(location, target: target,
                                          reason: "including over HTTP is not supported; copy the file next to the configuration and include it by path")
            }
            let includingPath = stack.last?.path ?? ""
            let resolved = ConfigFile.resolve(target, relativeTo: includingPath)
            guard depth + 1 <= limits.maxIncludeDepth else {
                throw .includeTooDeep(location, file: resolved, limit: limits.maxIncludeDepth)
            }
            let canonical = ConfigFile.canonicalPath(resolved)
            if stack.contains(where: { $0.canonical == canonical }) {
                throw .includeCycle(location, file: resolved, chain: stack.map(\.path))
            }
            guard includedFiles.count < limits.maxIncludedFiles else {
                throw .limitExceeded(location, what: "included files", limit: limits.maxIncludedFiles)
            }
            includedFiles.append(resolved)
            let text = try ConfigFile.readText(resolved, location: location, maxBytes: limits.maxFileBytes)
            try parseFile(text: text, path: resolved, depth: depth + 1)
        }

        /// The file name of an `#include` line (`#include` in any case, then a space or TAB),
        /// or nil when the line is an ordinary comment.
        static func includeTarget(_ line: Substring) -> String? {
            let bytes = line.utf8
            guard bytes.count >= 9 else { return nil }
            let keyword = bytes.dropFirst().prefix(7).map { $0 | 0x20 }  // ASCII lower case
            guard keyword.elementsEqual("include".utf8) else { return nil }
            let separator = bytes[bytes.index(bytes.startIndex, offsetBy: 8)]
            guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "\t") else { return nil }
            let rest = Substring(bytes.dropFirst(9))
            return String(trimASCIIWhitespace(rest))
        }
    }
}

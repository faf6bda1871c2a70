/// Where a configuration item (or problem) comes from: a file path as given to the loader or
/// derived from it through `#include`, and a 1-based line number when one is known.
public struct ConfigLocation: Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var line: Int?

    public init(path: String, line: Int? = nil) {
        self.path = path
        self.line = line
    }

    /// `conf/storage.conf:12`, or just the path when the line is unknown (a missing key).
    public var description: String {
        if let line { return "\(path):\(line)" }
        return path
    }
}

/// Formats a key for messages: `port`, or `[access-log] enabled` for a key inside a section.
func displayKey(_ key: String, section: String) -> String {
    section.isEmpty ? key : "[\(section)] \(key)"
}

/// Something worth telling the operator that does not stop the daemon: an unknown key, a
/// value adjusted the way the C server adjusts it, an ignored pre-processing directive.
public struct ConfigWarning: Hashable, Sendable, CustomStringConvertible {
    public var location: ConfigLocation
    /// The key as displayed (`[section] name` inside a section); empty for line-level notes.
    public var key: String
    public var message: String

    public init(location: ConfigLocation, key: String, message: String) {
        self.location = location
        self.key = key
        self.message = message
    }

    public var description: String {
        key.isEmpty ? "\(location): \(message)" : "\(location): key '\(key)': \(message)"
    }
}

/// Why a configuration file could not be loaded. Every description starts with
/// `path[:line]:` and names the key involved (or the `#include` line), so the operator can go
/// straight to the offending line.
public enum ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file could not be read. `location` is the `#include` line that referenced it, or the
    /// file itself for the top-level file.
    case unreadableFile(ConfigLocation, file: String, reason: String)
    /// The file is larger than `ConfigLimits.maxFileBytes`.
    case fileTooLarge(ConfigLocation, file: String, bytes: Int, limitBytes: Int)
    /// A structural limit was exceeded (lines per file, items, included files).
    case limitExceeded(ConfigLocation, what: String, limit: Int)
    /// `#include` of a file that is already being read (directly or indirectly).
    case includeCycle(ConfigLocation, file: String, chain: [String])
    /// `#include` nested deeper than `ConfigLimits.maxIncludeDepth`.
    case includeTooDeep(ConfigLocation, file: String, limit: Int)
    /// `#include` of something we do not load (`http://` URLs, an empty name).
    case unsupportedInclude(ConfigLocation, target: String, reason: String)
    /// A key longer than 63 bytes (the C reader would silently truncate it).
    case keyTooLong(ConfigLocation, key: String, limitBytes: Int)
    /// A value longer than 255 bytes (the C reader would silently truncate it).
    case valueTooLong(ConfigLocation, key: String, bytes: Int, limitBytes: Int)
    /// A value that does not parse or is out of range. `reason` completes the sentence
    /// "'<value>' ...", e.g. "is not an integer".
    case invalidValue(ConfigLocation, key: String, value: String, reason: String)
    /// A required key is absent (or empty). The location is the file; the line is unknown.
    case missingKey(ConfigLocation, key: String, reason: String)
    /// A value that parses but conflicts with another setting.
    case inconsistentValue(ConfigLocation, key: String, reason: String)

    public var location: ConfigLocation {
        switch self {
        case .unreadableFile(let l, _, _), .fileTooLarge(let l, _, _, _), .limitExceeded(let l, _, _),
             .includeCycle(let l, _, _), .includeTooDeep(let l, _, _), .unsupportedInclude(let l, _, _),
             .keyTooLong(let l, _, _), .valueTooLong(let l, _, _, _), .invalidValue(let l, _, _, _),
             .missingKey(let l, _, _), .inconsistentValue(let l, _, _):
            l
        }
    }

    /// The key the error is about; `#include` for include problems, nil for whole-file problems.
    public var key: String? {
        switch self {
        case .unreadableFile(let l, _, _), .fileTooLarge(let l, _, _, _):
            l.line == nil ? nil : "#include"
        case .limitExceeded: nil
        case .includeCycle, .includeTooDeep, .unsupportedInclude: "#include"
        case .keyTooLong(_, let k, _), .valueTooLong(_, let k, _, _), .invalidValue(_, let k, _, _),
             .missingKey(_, let k, _), .inconsistentValue(_, let k, _):
            k
        }
    }

    public var description: String {
        switch self {
        case .unreadableFile(let l, let file, let reason):
            l.line == nil
                ? "\(l): cannot read configuration file '\(file)': \(reason)"
                : "\(l): key '#include': cannot read included file '\(file)': \(reason)"
        case .fileTooLarge(let l, let file, let bytes, let limit):
            l.line == nil
                ? "\(l): configuration file '\(file)' has \(bytes) bytes, more than the limit of \(limit)"
                : "\(l): key '#include': included file '\(file)' has \(bytes) bytes, more than the limit of \(limit)"
        case .limitExceeded(let l, let what, let limit):
            "\(l): too many \(what) (limit \(limit))"
        case .includeCycle(let l, let file, let chain):
            "\(l): key '#include': include cycle: '\(file)' is already being read (\((chain + [file]).joined(separator: " -> ")))"
        case .includeTooDeep(let l, let file, let limit):
            "\(l): key '#include': including '\(file)' exceeds the maximum include depth of \(limit)"
        case .unsupportedInclude(let l, let target, let reason):
            "\(l): key '#include': cannot include '\(target)': \(reason)"
        case .keyTooLong(let l, let key, let limit):
            "\(l): key '\(key)': key is longer than \(limit) bytes"
        case .valueTooLong(let l, let key, let bytes, let limit):
            "\(l): key '\(key)': value has \(bytes) bytes, more than the limit of \(limit)"
        case .invalidValue(let l, let key, let value, let reason):
            "\(l): key '\(key)': '\(value)' \(reason)"
        case .missingKey(let l, let key, let reason):
            "\(l): key '\(key)': \(reason)"
        case .inconsistentValue(let l, let key, let reason):
            "\(l): key '\(key)': \(reason)"
        }
    }
}

/// A value that failed to parse, before the reader adds file, line and key. `reason` completes
/// the sentence "'<value>' ...", e.g. "is not an integer".
public struct ConfigValueError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

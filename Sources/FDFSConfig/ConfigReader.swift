/// A value read from a document together with where it came from (for cross-key checks).
struct Located<Value> {
    var value: Value
    var location: ConfigLocation
}

/// The one place that reads typed keys out of a `ConfigDocument`: defaults, empty values,
/// repeated keys, error messages with file/line/key, and the "unknown key" warnings.
///
/// Every typed configuration creates a reader, asks it for each key it knows (which marks the
/// key as known), then calls `finish()` to get warnings for every item nobody asked for.
///
/// Rules shared by all files:
/// * an absent key or a key with an empty value (`bind_addr =`) takes the default;
/// * a repeated single-valued key uses the last occurrence and gets a warning (C picks an
///   unspecified one);
/// * list-valued keys (`tracker_server`, `allow_hosts`) use every non-empty occurrence in order.
struct ConfigReader {
    let document: ConfigDocument
    private(set) var warnings: [ConfigWarning]
    private var used = Set<Int>()
    private var indexByKey: [SectionKey: [Int]] = [:]

    private struct SectionKey: Hashable {
        var section: String
        var key: String
    }

    init(_ document: ConfigDocument) {
        self.document = document
        self.warnings = document.warnings
        for (index, item) in document.items.enumerated() {
            indexByKey[SectionKey(section: item.section, key: item.key), default: []].append(index)
        }
    }

    /// The document's own file, for problems with no line (a missing key).
    var fileLocation: ConfigLocation { ConfigLocation(path: document.path) }

    // MARK: Raw access

    /// Every occurrence of `key`, marking them known.
    mutating func items(_ key: String, section: String = "") -> [ConfigItem] {
        let indices = indexByKey[SectionKey(section: section, key: key)] ?? []
        used.formUnion(indices)
        return indices.map { document.items[$0] }
    }

    /// The last occurrence of a single-valued key, or nil when absent or empty. Marks it known
    /// and warns when the key is repeated.
    mutating func item(_ key: String, section: String = "") -> ConfigItem? {
        let all = items(key, section: section)
        guard let last = all.last else { return nil }
        if all.count > 1 {
            let lines = all.dropLast().map { $0.location.description }.joined(separator: ", ")
            warn(last.location, key: key, section: section,
                 "key is repeated (also at \(lines)); the last value is used")
        }
        return last.value.isEmpty ? nil : last
    }

    /// Marks keys as known without interpreting them (settings we accept for compatibility).
    mutating func accept(_ keys: [String], section: String = "") {
        for key in keys { _ = items(key, section: section) }
    }

    /// Marks every key of `section` matching `predicate` as known.
    mutating func accept(section: String = "", where predicate: (String) -> Bool) {
        for (index, item) in document.items.enumerated() where item.section == section && predicate(item.key) {
            used.insert(index)
        }
    }

    /// The location of the last occurrence of `key`, or the file when absent.
    func location(of key: String, section: String = "") -> ConfigLocation {
        guard let index = indexByKey[SectionKey(section: section, key: key)]?.last else { return fileLocation }
        return document.items[index].location
    }

    // MARK: Typed access

    /// The parsed value of `key` with its location, nil when absent or empty.
    mutating func located<T>(_ key: String, section: String = "",
                             _ parse: (String) throws(ConfigValueError) -> T) throws(ConfigError) -> Located<T>? {
        guard let item = item(key, section: section) else { return nil }
        do {
            return Located(value: try parse(item.value), location: item.location)
        } catch {
            throw .invalidValue(item.location, key: displayKey(key, section: section), value: item.value, reason: error.reason)
        }
    }

    mutating func optional<T>(_ key: String, section: String = "",
                              _ parse: (String) throws(ConfigValueError) -> T) throws(ConfigError) -> T? {
        try located(key, section: section, parse)?.value
    }

    mutating func value<T>(_ key: String, section: String = "", default defaultValue: T,
                           _ parse: (String) throws(ConfigValueError) -> T) throws(ConfigError) -> T {
        try located(key, section: section, parse)?.value ?? defaultValue
    }

    mutating func required<T>(_ key: String, section: String = "", _ reason: String = "required key is missing",
                              _ parse: (String) throws(ConfigValueError) -> T) throws(ConfigError) -> T {
        guard let found = try located(key, section: section, parse) else {
            throw .missingKey(fileLocation, key: displayKey(key, section: section), reason: reason)
        }
        return found.value
    }

    /// Every non-empty occurrence of a list-valued key, parsed, in order.
    mutating func list<T>(_ key: String, section: String = "",
                          _ parse: (String) throws(ConfigValueError) -> T) throws(ConfigError) -> [Located<T>] {
        var result: [Located<T>] = []
        for item in items(key, section: section) where !item.value.isEmpty {
            do {
                result.append(Located(value: try parse(item.value), location: item.location))
            } catch {
                throw .invalidValue(item.location, key: displayKey(key, section: section), value: item.value, reason: error.reason)
            }
        }
        return result
    }

    // MARK: Common shapes

    mutating func bool(_ key: String, section: String = "", default defaultValue: Bool) throws(ConfigError) -> Bool {
        try value(key, section: section, default: defaultValue, ConfigValue.parseBool)
    }

    mutating func int(_ key: String, section: String = "", default defaultValue: Int,
                      in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        try value(key, section: section, default: defaultValue) { (text: String) throws(ConfigValueError) -> Int in
            try ConfigValue.parseInteger(text, in: range)
        }
    }

    mutating func size(_ key: String, section: String = "", default defaultValue: Int64,
                       in range: ClosedRange<Int64> = 0...Int64.max) throws(ConfigError) -> Int64 {
        try value(key, section: section, default: defaultValue) { (text: String) throws(ConfigValueError) -> Int64 in
            try ConfigValue.parseSize(text, in: range)
        }
    }

    mutating func time(_ key: String, section: String = "", default defaultValue: TimeOfDay) throws(ConfigError) -> TimeOfDay {
        try value(key, section: section, default: defaultValue, ConfigValue.parseTimeOfDay)
    }

    /// A string value; nil when absent or empty.
    mutating func string(_ key: String, section: String = "") -> String? {
        item(key, section: section)?.value
    }

    mutating func string(_ key: String, section: String = "", default defaultValue: String) -> String {
        item(key, section: section)?.value ?? defaultValue
    }

    /// A required string value (absent or empty is an error).
    mutating func requiredString(_ key: String, section: String = "", _ reason: String = "required key is missing") throws(ConfigError) -> String {
        guard let value = string(key, section: section) else { throw missing(key, section: section, reason) }
        return value
    }

    /// Every non-empty occurrence of a repeated string key, in order.
    mutating func stringList(_ key: String, section: String = "") -> [String] {
        items(key, section: section).map(\.value).filter { !$0.isEmpty }
    }

    /// A comma-separated list (`bind_addr`, `if_alias_prefix`); empty when absent.
    mutating func commaList(_ key: String, section: String = "") -> [String] {
        guard let value = string(key, section: section) else { return [] }
        return value.split(separator: ",").map { String(trimASCIIWhitespace($0)) }.filter { !$0.isEmpty }
    }

    /// A path; with `relativeToConfig`, a relative path is resolved against the directory of
    /// the top-level configuration file (as the C daemons do, even when the key comes from an
    /// included file). Trailing slashes are removed (except for `/`).
    mutating func path(_ key: String, section: String = "", relativeToConfig: Bool = false) -> String? {
        guard let item = item(key, section: section) else { return nil }
        let path = relativeToConfig ? ConfigFile.resolve(item.value, relativeTo: document.path) : item.value
        return Self.trimTrailingSlashes(path)
    }

    static func trimTrailingSlashes(_ path: String) -> String {
        var path = Substring(path)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }

    // MARK: Problems

    mutating func warn(_ location: ConfigLocation, key: String, section: String = "", _ message: String) {
        warnings.append(ConfigWarning(location: location, key: displayKey(key, section: section), message: message))
    }

    /// A value that parses but conflicts with other settings, reported at the key's location.
    func inconsistent(_ key: String, section: String = "", _ reason: String) -> ConfigError {
        .inconsistentValue(location(of: key, section: section), key: displayKey(key, section: section), reason: reason)
    }

    func missing(_ key: String, section: String = "", _ reason: String) -> ConfigError {
        .missingKey(fileLocation, key: displayKey(key, section: section), reason: reason)
    }

    /// Warnings for every item no one asked for, appended after the others, in document order.
    mutating func finish() -> [ConfigWarning] {
        for (index, item) in document.items.enumerated() where !used.contains(index) {
            warn(item.location, key: item.key, section: item.section, "unknown key, ignored")
        }
        used.formUnion(document.items.indices)
        return warnings
    }
}

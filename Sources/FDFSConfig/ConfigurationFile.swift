/// A typed configuration read from one FastDFS-syntax file (and what it includes).
public protocol ConfigurationFile: Sendable {
    /// Reads every key from a parsed document, applying defaults and validation.
    init(document: ConfigDocument) throws(ConfigError)
}

extension ConfigurationFile {
    /// Loads and validates the file at `path`.
    public static func load(path: String, limits: ConfigLimits = .default) throws(ConfigError) -> Self {
        try Self(document: ConfigDocument.load(path: path, limits: limits))
    }

    /// Parses `text` as if it were the file at `path` (includes resolve relative to it).
    public static func parse(text: String, path: String) throws(ConfigError) -> Self {
        try Self(document: ConfigDocument.parse(text: text, path: path))
    }
}

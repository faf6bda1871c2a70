import Foundation

/// Content types by file extension, read from a file in the `mime.types` format (a type, then
/// its extensions, per line; `#` comments), as nginx and Apache ship it.
public struct MIMETypes: Sendable, Hashable {
    public private(set) var byExtension: [String: String] = [:]
    public var defaultType: String

    public init(text: String, defaultType: String = "application/octet-stream") {
        self.defaultType = defaultType
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            // nginx's mime.types wraps the list in `types { ... }` and ends entries with `;`.
            let words = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" })
            guard words.count >= 2, words[0].contains("/") else { continue }
            for ext in words.dropFirst() where byExtension[ext.lowercased()] == nil {
                byExtension[ext.lowercased()] = String(words[0])
            }
        }
    }

    public init(contentsOf path: String, defaultType: String = "application/octet-stream") throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        self.init(text: String(decoding: data, as: UTF8.self), defaultType: defaultType)
    }

    /// The type of a file with this extension (no dot), else the default.
    public func type(forExtension ext: String) -> String {
        ext.isEmpty ? defaultType : byExtension[ext.lowercased()] ?? defaultType
    }
}

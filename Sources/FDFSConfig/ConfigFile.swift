#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// File-system access and path arithmetic for configuration files: the only place in this
/// module that touches the disk.
enum ConfigFile {
    /// The directory part of `path` (`conf` for `conf/tracker.conf`, `/` for `/x.conf`, empty for
    /// a bare file name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Resolves `name` the way FastDFS resolves `#include` targets and `storage_ids_filename`:
    /// absolute names stay, relative names are taken relative to the directory of `configPath`.
    static func resolve(_ name: String, relativeTo configPath: String) -> String {
        if name.hasPrefix("/") { return name }
        let dir = directory(of: configPath)
        switch dir {
        case "": return name
        case "/": return "/" + name
        default: return dir + "/" + name
        }
    }

    /// A normalised absolute form used to recognise the same file reached by different names
    /// (include-cycle detection). Symbolic links are resolved when the file exists.
    static func canonicalPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Reads a whole text file, refusing directories and files above `maxBytes`.
    ///
    /// - Parameter location: where the file was referenced (the `#include` line), or the file
    ///   itself for a top-level file; used in error messages.
    /// Whether a file exists at `path`.
    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    static func readText(_ path: String, location: ConfigLocation, maxBytes: Int) throws(ConfigError) -> String {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadableFile(location, file: path, reason: "no such file")
        }
        guard !isDirectory else {
            throw .unreadableFile(location, file: path, reason: "is a directory")
        }
        // Check the size before reading so that a wrong path to a huge file fails fast.
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
           let size = fileSize(attributes[.size]), size > maxBytes {
            throw .fileTooLarge(location, file: path, bytes: size, limitBytes: maxBytes)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadableFile(location, file: path, reason: "\(error)")
        }
        guard data.count <= maxBytes else {
            throw .fileTooLarge(location, file: path, bytes: data.count, limitBytes: maxBytes)
        }
        return String(decoding: data, as: UTF8.self)
    }

    private static func fileSize(_ value: Any?) -> Int? {
        switch value {
        case let v as Int: v
        case let v as Int64: Int(clamping: v)
        case let v as UInt64: Int(clamping: v)
        default: nil
        }
    }
}

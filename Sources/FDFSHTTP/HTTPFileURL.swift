public import FDFSModel

/// A request target that names a file, in the forms fastdfs-nginx-module users have in their
/// pages (cluster spec §9.2): `/{group}/Mxx/HH/HH/name` and, without the group,
/// `/Mxx/HH/HH/name`. The two are told apart by their number of path segments, so a storage
/// serves both whatever `url_have_group_name` said on the nginx side.
public struct HTTPFileURL: Hashable, Sendable {
    /// The group of the URL; nil in the group-less form (the storage's own group is meant).
    public var group: GroupName?
    public var remoteFilename: RemoteFilename
    /// The path as requested (no query), for redirects.
    public var path: String
    /// The query string as requested (without `?`), nil when there was none.
    public var rawQuery: String?
    /// The query parameters, percent-decoded; the first of a repeated name wins.
    public var parameters: [String: String]

    /// Parses a request target. The path may contain only the characters of file ids (no
    /// percent escapes, so no encoded slash or dot can reach the file system), and the file id
    /// is checked by `RemoteFilename` (store path, two-level subdirectory, no `..`).
    public init(target: String, storePathCount: Int = RemoteFilename.maxStorePathCount) throws(HTTPRequestError) {
        let pathPart: Substring
        if let q = target.firstIndex(of: "?") {
            pathPart = target[..<q]
            rawQuery = String(target[target.index(after: q)...])
        } else {
            pathPart = Substring(target)
            rawQuery = nil
        }
        path = String(pathPart)
        guard path.hasPrefix("/") else { throw HTTPRequestError(.badRequest, "the request target must start with /") }
        for byte in path.utf8 where !Self.pathByteAllowed(byte) {
            throw HTTPRequestError(.badRequest, "character \(Self.show(byte)) is not allowed in a file path")
        }
        // A `.` or `..` segment is always preceded by `/` (the path starts with one) and
        // followed by `/` or the end.
        if path.contains("/../") || path.contains("/./") || path.hasSuffix("/..") || path.hasSuffix("/.") {
            throw HTTPRequestError(.badRequest, "path segments . and .. are not allowed")
        }
        let slashes = path.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "/") ? 1 : 0) }
        let fileText: Substring
        switch slashes {
        case 5:
            let groupText = String(path.utf8.dropFirst().prefix { $0 != UInt8(ascii: "/") })!
            do { group = try GroupName(groupText) } catch { throw HTTPRequestError(.badRequest, "bad group name '\(groupText)': \(error)") }
            fileText = path.dropFirst(groupText.utf8.count + 2)
        case 4:
            group = nil
            fileText = path.dropFirst()
        default:
            throw HTTPRequestError(.notFound, "no file at \(path): expected /GROUP/Mxx/HH/HH/NAME or /Mxx/HH/HH/NAME")
        }
        do {
            remoteFilename = try RemoteFilename(parsing: fileText, storePathCount: storePathCount)
        } catch {
            throw HTTPRequestError(.badRequest, "bad file id '\(fileText)': \(error)")
        }
        parameters = [:]
        if let rawQuery {
            for pair in rawQuery.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = Self.percentDecoded(parts[0]) else { continue }
                let value = parts.count > 1 ? Self.percentDecoded(parts[1]) : ""
                if parameters[name] == nil, let value { parameters[name] = value }
            }
        }
    }

    /// The file id with the group (`group1/M00/00/00/name`), given the storage's group for the
    /// group-less form.
    public func fileID(defaultGroup: GroupName) -> String {
        (group ?? defaultGroup).rawValue + "/" + remoteFilename.text
    }

    /// Base64 name characters, the extension's, `/` and `.` (`RemoteFilename` refuses `..`).
    static func pathByteAllowed(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "/"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"): true
        default: false
        }
    }

    static func show(_ b: UInt8) -> String {
        (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "0x" + String(b, radix: 16, uppercase: true)
    }

    /// `%XX` and `+` (a space in form-encoded queries) decoded; nil when an escape is broken or
    /// the result is not UTF-8.
    static func percentDecoded(_ s: Substring) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                out.append(hv << 4 | lv)
            } else if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A request the gateway refuses, with the status it answers and a one-line reason (the body).
public struct HTTPRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Int, Sendable {
        case badRequest = 400
        case forbidden = 403
        case notFound = 404
        case methodNotAllowed = 405
    }

    public var kind: Kind
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { "\(kind.rawValue): \(reason)" }
}

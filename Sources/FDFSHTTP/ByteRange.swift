/// What a `Range` header asks of a file of `size` bytes (RFC 9110 §14). One range is served
/// as 206; a range that starts at or past the end is 416; a header that is not one
/// well-formed byte range (several ranges, another unit, garbage) is ignored and the whole
/// file is served, as the RFC allows.
public enum ByteRangeRequest: Hashable, Sendable {
    case whole
    /// Bytes `lower...upper` (inclusive, within the file).
    case part(lower: Int64, upper: Int64)
    case unsatisfiable

    public init(header: String?, size: Int64) {
        guard let header else { self = .whole; return }
        let text = header[...].trimmingSpaces
        guard text.lowercased().hasPrefix("bytes=") else { self = .whole; return }
        let spec = text.dropFirst(6).trimmingSpaces
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash].trimmingSpaces
        let last = spec[spec.index(after: dash)...].trimmingSpaces
        if first.isEmpty {
            // Suffix: the last N bytes.
            guard let n = Self.number(last) else { self = .whole; return }
            guard n > 0, size > 0 else { self = .unsatisfiable; return }
            self = .part(lower: max(0, size - n), upper: size - 1)
            return
        }
        guard let lower = Self.number(first) else { self = .whole; return }
        var upper = size - 1
        if !last.isEmpty {
            guard let u = Self.number(last), u >= lower else { self = .whole; return }
            upper = min(u, size - 1)
        }
        self = lower < size ? .part(lower: lower, upper: upper) : .unsatisfiable
    }

    /// Digits only (no sign, no spaces), fitting Int64.
    static func number(_ s: Substring) -> Int64? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int64(s)
    }
}

extension Substring {
    /// Without the spaces and tabs at both ends.
    var trimmingSpaces: Substring {
        guard let start = firstIndex(where: { $0 != " " && $0 != "\t" }) else { return self[endIndex...] }
        let end = lastIndex(where: { $0 != " " && $0 != "\t" })!
        return self[start...end]
    }
}

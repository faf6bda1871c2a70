/// File metadata in its wire form (protocol spec §7): `name 0x02 value` entries joined with
/// `0x01`, no trailing separator.
public struct FDFSMetadata: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public static let maxNameBytes = 64
    public static let maxValueBytes = 256
    public static let entrySeparator: UInt8 = 0x01
    public static let valueSeparator: UInt8 = 0x02

    public var entries: [Entry]
    public init(_ entries: [Entry] = []) { self.entries = entries }

    /// Splits the wire bytes the way the C storage does: an entry without `0x02` is dropped,
    /// names are cut to 64 bytes and values to 256.
    public init(wire bytes: [UInt8]) {
        var entries: [Entry] = []
        for part in bytes.split(separator: Self.entrySeparator, omittingEmptySubsequences: true) {
            guard let sep = part.firstIndex(of: Self.valueSeparator) else { continue }
            let name = part[part.startIndex..<sep].prefix(Self.maxNameBytes)
            let value = part[(sep + 1)...].prefix(Self.maxValueBytes)
            entries.append(Entry(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        self.entries = entries
    }

    public var wireBytes: [UInt8] {
        var out: [UInt8] = []
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(Self.entrySeparator) }
            out += Array(e.name.utf8)
            out.append(Self.valueSeparator)
            out += Array(e.value.utf8)
        }
        return out
    }

    /// Entries sorted by name with `strcmp` order, as the storage stores them.
    public var sortedByName: FDFSMetadata {
        FDFSMetadata(entries.enumerated().sorted { a, b in
            let c = Array(a.element.name.utf8).lexicographicallyPrecedes(Array(b.element.name.utf8))
            let d = Array(b.element.name.utf8).lexicographicallyPrecedes(Array(a.element.name.utf8))
            return c || (!d && a.offset < b.offset)
        }.map(\.element))
    }

    /// Merge (`M` flag): names present in `other` take its value, the rest are kept.
    public func merged(with other: FDFSMetadata) -> FDFSMetadata {
        var result = entries
        for e in other.entries {
            if let i = result.firstIndex(where: { $0.name == e.name }) { result[i].value = e.value } else { result.append(e) }
        }
        return FDFSMetadata(result).sortedByName
    }

    /// Whether every name and value can travel unescaped (no 0x00, 0x01 or 0x02 bytes).
    public var isWireSafe: Bool {
        entries.allSatisfy { e in
            !e.name.isEmpty && (e.name.utf8.allSatisfy { $0 > 2 }) && e.value.utf8.allSatisfy { $0 > 2 }
        }
    }
}

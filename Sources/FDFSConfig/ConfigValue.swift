/// Parsers for the value syntaxes FastDFS configuration files use. Each throws a
/// `ConfigValueError` whose reason completes "'<value>' ..."; the configuration reader adds the
/// file, line and key.
public enum ConfigValue {
    /// `true`, `yes`, `on`, `1` are true and `false`, `no`, `off`, `0` false (case-insensitive).
    ///
    /// Deliberate deviation: the C reader treats *any* other text as false; we refuse it, so
    /// that a typo such as `use_trunk_file = ture` is not silently read as false.
    public static func parseBool(_ text: String) throws(ConfigValueError) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigValueError("is not a boolean (expected true/yes/on/1 or false/no/off/0)")
        }
    }

    /// A decimal integer (optional sign, no spaces, no unit) within `range`.
    public static func parseInteger(_ text: String, in range: ClosedRange<Int>) throws(ConfigValueError) -> Int {
        guard let value = Int(text) else { throw ConfigValueError("is not an integer") }
        guard range.contains(value) else { throw ConfigValueError("is out of range \(describe(range))") }
        return value
    }

    /// A byte count: a non-negative decimal number with an optional unit `K`, `M`, `G` or `T`
    /// (case-insensitive, binary multiples, optionally followed by `B`), e.g. `256KB` = 262144,
    /// `1M`, `2GB`, `64mb`, `512`, `100B`. Spaces between number and unit are allowed.
    public static func parseSize(_ text: String) throws(ConfigValueError) -> Int64 {
        let bytes = Array(text.utf8)
        let digits = bytes.prefix(while: isDigit)
        guard !digits.isEmpty, let number = Int64(String(decoding: digits, as: UTF8.self)) else {
            throw ConfigValueError("is not a size (expected a number with an optional K, M, G or T unit, e.g. 256KB)")
        }
        var unit = bytes.dropFirst(digits.count).drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            .map { $0 | 0x20 }[...]  // ASCII lower case
        if unit.last == UInt8(ascii: "b") { unit = unit.dropLast() }
        let shift: Int64
        switch unit.count {
        case 0: shift = 0
        case 1 where unit.first == UInt8(ascii: "k"): shift = 10
        case 1 where unit.first == UInt8(ascii: "m"): shift = 20
        case 1 where unit.first == UInt8(ascii: "g"): shift = 30
        case 1 where unit.first == UInt8(ascii: "t"): shift = 40
        default:
            throw ConfigValueError("is not a size (unknown unit; use K, M, G or T with an optional B)")
        }
        let (result, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw ConfigValueError("is too large a size") }
        return result
    }

    /// A size within `range` bytes.
    public static func parseSize(_ text: String, in range: ClosedRange<Int64>) throws(ConfigValueError) -> Int64 {
        let value = try parseSize(text)
        guard range.contains(value) else { throw ConfigValueError("is out of range \(describe(range)) bytes") }
        return value
    }

    /// A percentage `x%` with a decimal number (`10%`, `1.5%`) between 0 and 100; returns x.
    public static func parsePercent(_ text: String) throws(ConfigValueError) -> Double {
        guard text.hasSuffix("%") else { throw ConfigValueError("is not a percentage (expected e.g. 10% or 1.5%)") }
        let number = trimASCIIWhitespace(text.dropLast())
        let dots = number.utf8.filter { $0 == UInt8(ascii: ".") }.count
        guard !number.isEmpty, dots <= 1, number.utf8.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }),
              number.utf8.contains(where: isDigit), let value = Double(String(number)) else {
            throw ConfigValueError("is not a percentage (expected e.g. 10% or 1.5%)")
        }
        guard value <= 100 else { throw ConfigValueError("is more than 100%") }
        return value
    }

    /// A time of day `HH:MM` (hour 0-23, minute 0-59; one-digit fields and an optional `:SS`
    /// are accepted, as the C reader accepts them).
    public static func parseTimeOfDay(_ text: String) throws(ConfigValueError) -> TimeOfDay {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let fields = parts.map { part -> Int? in
            guard (1...2).contains(part.utf8.count), part.utf8.allSatisfy(isDigit) else { return nil }
            return Int(part)
        }
        guard (2...3).contains(fields.count), let hour = fields[0], let minute = fields[1],
              let second = fields.count == 3 ? fields[2] : 0 else {
            throw ConfigValueError("is not a time of day (expected HH:MM)")
        }
        guard hour < 24, minute < 60, second < 60 else {
            throw ConfigValueError("is not a valid time of day (hour 00-23, minute 00-59)")
        }
        return TimeOfDay(hour: hour, minute: minute, second: second)
    }

    /// `reserved_storage_space`: a size (`1024MB`, absolute) or a percentage strictly between
    /// 0 and 100 (`10%`, per store path).
    public static func parseReservedStorageSpace(_ text: String) throws(ConfigValueError) -> ReservedStorageSpace {
        if text.hasSuffix("%") {
            let percent = try parsePercent(text)
            guard percent > 0, percent < 100 else {
                throw ConfigValueError("is not a valid reserved space percentage (must be more than 0% and less than 100%)")
            }
            return .percent(percent)
        }
        do {
            return .bytes(try parseSize(text))
        } catch {
            throw ConfigValueError("is neither a size (e.g. 1024MB) nor a percentage (e.g. 10%)")
        }
    }

    /// Parses a keyword out of a fixed list, case-insensitively.
    static func parseKeyword<T>(_ text: String, _ choices: KeyValuePairs<String, T>) throws(ConfigValueError) -> T {
        let lowered = text.lowercased()
        if let match = choices.first(where: { $0.key == lowered }) { return match.value }
        throw ConfigValueError("is not one of \(choices.map(\.key).joined(separator: ", "))")
    }

    /// Parses a numeric selector (`store_lookup = 2`) and maps it onto an enum.
    static func parseChoice<T>(_ text: String, _ make: (Int) -> T?, _ expected: String) throws(ConfigValueError) -> T {
        guard let number = Int(text) else { throw ConfigValueError("is not an integer (expected \(expected))") }
        guard let value = make(number) else { throw ConfigValueError("is not a valid choice (expected \(expected))") }
        return value
    }

    static func describe<T>(_ range: ClosedRange<T>) -> String {
        "\(range.lowerBound)...\(range.upperBound)"
    }
}

/// A time of day as used by `sync_start_time`, `trunk_create_file_time_base` and friends.
public struct TimeOfDay: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(hour: Int, minute: Int, second: Int = 0) {
        precondition((0..<24).contains(hour) && (0..<60).contains(minute) && (0..<60).contains(second),
                     "invalid time of day")
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// Seconds since midnight.
    public var secondsSinceMidnight: Int { hour * 3600 + minute * 60 + second }

    public static func < (lhs: TimeOfDay, rhs: TimeOfDay) -> Bool { lhs.secondsSinceMidnight < rhs.secondsSinceMidnight }

    /// `HH:MM`, or `HH:MM:SS` when the seconds are not zero.
    public var description: String {
        let hm = twoDigits(hour) + ":" + twoDigits(minute)
        return second == 0 ? hm : hm + ":" + twoDigits(second)
    }
}

/// `reserved_storage_space`: free space kept back from uploads.
public enum ReservedStorageSpace: Hashable, Sendable, CustomStringConvertible {
    /// Absolute bytes, compared against the sum over a storage's store paths.
    case bytes(Int64)
    /// Percentage (0 < x < 100) of each store path's total space.
    case percent(Double)

    public var description: String {
        switch self {
        case .bytes(let n): "\(n) bytes"
        case .percent(let p): "\(p)%"
        }
    }
}

// MARK: - Small shared helpers

func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

/// Trims ASCII white space (space, TAB, CR, LF, VT, FF) as C's `isspace` does.
func trimASCIIWhitespace(_ text: Substring) -> Substring {
    let isSpace: (UInt8) -> Bool = { $0 == 0x20 || (0x09...0x0D).contains($0) }
    let bytes = text.utf8
    guard let first = bytes.firstIndex(where: { !isSpace($0) }),
          let last = bytes.lastIndex(where: { !isSpace($0) }) else { return text[text.endIndex...] }
    return Substring(bytes[first...last])
}

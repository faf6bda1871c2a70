import Foundation
import Testing
import NIOCore
import FDFSModel
import FDFSTesting
@testable import FDFSProtocol

struct WireVector: Decodable, Sendable, CustomTestStringConvertible {
    struct Variable: Decodable, Sendable {
        let part: String
        let offset: Int
        let length: Int
    }

    let name: String
    let family: String
    let profile: String
    let cmd: Int
    let cmd_name: String
    let status: Int?
    let request_hex: String?
    let hex: String?
    let response_hex: String?
    let note: String
    let request_status_byte: Int
    let variable: [Variable]

    var testDescription: String { name }
    var role: FDFSServerRole { family.hasSuffix("->tracker") ? .tracker : .storage }
    var requestBytes: [UInt8] { Hex.decode(request_hex ?? hex ?? "") }
    var responseBytes: [UInt8]? { response_hex.map(Hex.decode) }

    static func loadAll() throws -> [WireVector] {
        try JSONDecoder().decode([WireVector].self, from: SharedVectors.data("fastdfs-vectors.json"))
    }

    /// The vectors, or a single placeholder that makes the parameterised test fail loudly when
    /// the file is missing.
    static let all: [WireVector] = (try? loadAll()) ?? []
}

/// Every string, byte string and integer found in decoded values, so that the prose notes of
/// the vectors can be checked against what our decoders produced.
struct ValueDump {
    var strings: Set<[UInt8]> = []
    var numbers: Set<String> = []

    mutating func addNumber<I: BinaryInteger>(_ v: I) { numbers.insert(String(v)) }

    mutating func addString(_ s: String) {
        strings.insert(Array(s.utf8))
        addNumber(s.utf8.count)
        var name = s
        if name.hasSuffix("-m") {
            name.removeLast(2)
            strings.insert(Array(name.utf8))
        }
        if let remote = try? RemoteFilename(parsing: name) {
            addFileName(remote)
        } else if name.utf8.count >= 37, let block = try? FileNameBlock(encoded: name.utf8.dropFirst(10).prefix(27).map { Character(Unicode.Scalar($0)) }.map(String.init).joined()) {
            // Names our parser refuses: the C tracker still decodes the block at offset 10.
            addBlock(block, size: block.sizeField.size)
        }
    }

    mutating func addBlock(_ block: FileNameBlock, size: Int64) {
        switch block.source {
        case .ipv4(let a): strings.insert(Array(a.description.utf8))
        case .serverID(let id): addNumber(id)
        }
        addNumber(block.createTimestamp)
        addNumber(size)
        if let r = block.sizeField.randomBits { addNumber(r) }
        addNumber(block.crc32)
    }

    mutating func addFileName(_ f: RemoteFilename) { addBlock(f.block, size: f.block.sizeField.size) }

    mutating func add(_ value: Any, depth: Int = 0) {
        guard depth < 12 else { return }
        switch value {
        case let s as String: addString(s); return
        case let b as [UInt8]:
            strings.insert(b)
            addNumber(b.count)
            return
        case let b as ByteBuffer:
            strings.insert(Array(b.readableBytesView))
            addNumber(b.readableBytes)
            return
        case let v as Int: addNumber(v); return
        case let v as Int8: addNumber(v); return
        case let v as Int32: addNumber(v); return
        case let v as Int64: addNumber(v); return
        case let v as UInt8: addNumber(v); return
        case let v as UInt32: addNumber(v); return
        case let v as UInt64: addNumber(v); return
        case let v as Bool: addNumber(v ? 1 : 0); return
        case let lines as [String]:
            if !lines.isEmpty { strings.insert(Array((lines.joined(separator: "\n") + "\n").utf8)) }
        default: break
        }
        if let r = value as? any RawRepresentable {
            let raw = r.rawValue
            if let b = raw as? UInt8 { strings.insert([b]) }
            add(raw, depth: depth + 1)
        }
        if let d = value as? any CustomStringConvertible, !(value is any Collection) { strings.insert(Array(d.description.utf8)) }
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            if let child = mirror.children.first { add(child.value, depth: depth + 1) }
            return
        }
        if mirror.displayStyle == .collection { addNumber(mirror.children.count) }
        for child in mirror.children { add(child.value, depth: depth + 1) }
    }
}

/// Checks the facts a vector's note states (quoted texts and numbers) against a dump.
enum NoteFacts {
    /// The request and response parts of a note, without context and variable-field prose.
    static func segments(_ note: String) -> (request: String, response: String) {
        var n = note
        for cut in ["variable fields:", "no run-dependent fields", "context:", "the server closed", "this storage request", "; note:"] {
            if let r = n.range(of: cut) { n = String(n[..<r.lowerBound]) }
        }
        guard let r = n.range(of: "response:") else { return (n, "") }
        return (String(n[..<r.lowerBound]), String(n[r.upperBound...]))
    }

    static func unescape(_ s: Substring) -> [UInt8] {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 1 < b.count {
                switch b[i + 1] {
                case UInt8(ascii: "n"): out.append(10); i += 2; continue
                case UInt8(ascii: "t"): out.append(9); i += 2; continue
                case UInt8(ascii: "\\"): out.append(92); i += 2; continue
                case UInt8(ascii: "'"): out.append(39); i += 2; continue
                case UInt8(ascii: "x") where i + 3 < b.count:
                    out += Hex.decode(String(decoding: b[(i + 2)...(i + 3)], as: UTF8.self)); i += 4; continue
                default: break
                }
            }
            if b[i] == UInt8(ascii: "<"), i + 3 < b.count, b[i + 3] == UInt8(ascii: ">") {
                out += Hex.decode(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self)); i += 4; continue
            }
            out.append(b[i]); i += 1
        }
        return out
    }

    /// Returns the facts of `text` missing from `dump`, and how many facts were checked.
    static func missing(in text: String, dump: ValueDump) -> (missing: [String], checked: Int) {
        var rest = text
        var missing: [String] = []
        var checked = 0
        let quoted = try! NSRegularExpression(pattern: #"'((?:[^'\\]|\\.)*)'"#)
        for m in quoted.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)).reversed() {
            let inner = rest[Range(m.range(at: 1), in: rest)!]
            rest.replaceSubrange(Range(m.range, in: rest)!, with: " ")
            if inner.isEmpty || inner == "ip:port" { continue }
            checked += 1
            if inner.hasSuffix("...") {
                // The note cut a long value: its beginning must match.
                var cut = inner.dropLast(3)
                while let last = cut.last, last == "\\" || (last == "x" && cut.dropLast().last == "\\") { cut = cut.dropLast() }
                let head = unescape(cut)
                if !dump.strings.contains(where: { $0.starts(with: head) }) { missing.append("'\(inner)'") }
                continue
            }
            let bytes = unescape(inner)
            if !dump.strings.contains(bytes) { missing.append("'\(inner)'") }
        }
        for pattern in [#"\((?:i64|i32|i8|u8|\d+|i64, sign-extended|\d+ bytes)\)"#, #"\(1 = don't calc crc32, 2 = keep silence\)"#,
                        #"\b\d+(?: content)? bytes?\b"#, #"\b\d+-byte\b"#, #"record \d+"#, #"\[status\(1\)[^\]]*\]"#, #"\bi(?:32|64)\b"#,
                        #"<0[12]>"#] {
            rest = rest.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        let address = try! NSRegularExpression(pattern: #"(\d+\.\d+\.\d+\.\d+)(?::(\d+))?"#)
        for m in address.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)).reversed() {
            let ip = String(rest[Range(m.range(at: 1), in: rest)!])
            checked += 1
            if !dump.strings.contains(Array(ip.utf8)) { missing.append(ip) }
            if let pr = Range(m.range(at: 2), in: rest) {
                checked += 1
                if !dump.numbers.contains(String(rest[pr])) { missing.append("port \(rest[pr])") }
            }
            rest.replaceSubrange(Range(m.range, in: rest)!, with: " ")
        }
        let hexNumber = try! NSRegularExpression(pattern: #"0x([0-9a-fA-F]+)"#)
        for m in hexNumber.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)).reversed() {
            let digits = String(rest[Range(m.range(at: 1), in: rest)!])
            rest.replaceSubrange(Range(m.range, in: rest)!, with: " ")
            guard var v = UInt64(digits, radix: 16) else { continue }
            if digits.count == 16 && v >> 32 == 0xFFFF_FFFF { v &= 0xFFFF_FFFF }  // sign-extended CRC32
            checked += 1
            if !dump.numbers.contains(String(v)) { missing.append("0x\(digits)") }
        }
        let integer = try! NSRegularExpression(pattern: #"(?<![A-Za-z_0-9])-?\d+(?![0-9])"#)
        for m in integer.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)) {
            let n = String(rest[Range(m.range, in: rest)!])
            checked += 1
            if !dump.numbers.contains(n) { missing.append(n) }
        }
        return (missing, checked)
    }
}

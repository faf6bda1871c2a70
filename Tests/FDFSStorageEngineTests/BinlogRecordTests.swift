import FDFSStorageEngine
import FDFSTesting
import Foundation
import Testing

@Suite("Binlog record codec")
struct BinlogRecordTests {
    typealias F = BinlogFixtures

    // MARK: Captured binlogs

    /// Every line C FastDFS 6.16.1 wrote in the captured runs parses, except the one link
    /// record with an empty link name (cluster spec §10.1, vectors README "Not captured"), and
    /// re-encoding reproduces each line byte for byte.
    @Test func everyVectorLineParsesAndReencodesExactly() throws {
        var failures: [String] = []
        var lineCount = 0
        for name in F.vectorNames {
            let lines = try F.vectorLines(name)
            #expect(!lines.isEmpty, "\(name)")
            for (number, line) in lines.enumerated() {
                lineCount += 1
                do {
                    let record = try BinlogRecord(lineBytes: line.bytes)
                    #expect(record.encodedBytes == Array(line.bytes), "\(name) line \(number + 1)")
                    #expect(record.encodedLine == String(decoding: line.bytes, as: UTF8.self))
                    #expect(record.fitsCReaderLimits)
                } catch {
                    failures.append("\(name):\(number + 1):\(error)")
                    #expect(error == .emptyFilename(.sourceLink), "\(name) line \(number + 1)")
                }
            }
        }
        #expect(lineCount == 50 + 50 + 50 + 50 + 9 + 7)
        #expect(failures.count == 1)
        #expect(failures.first?.hasPrefix("ids-profile-storageA-final:5:") == true)
    }

    /// The malformed record itself: `<ts> L  <target>`; the C reader rejects it the same way.
    @Test func cEmptyLinkRecordIsItsOwnError() throws {
        let lines = try F.vectorLines("ids-profile-storageA-final")
        let bad = String(decoding: lines[4].bytes, as: UTF8.self)
        #expect(bad == "1795261136 L  M00/00/00/oYYBAGsBgtCARZFwAAAAGsY9pEY351.jpg\n")
        #expect(throws: BinlogError.emptyFilename(.sourceLink)) { try BinlogRecord(line: bad) }
        // The replica form described in §10.1: a zero-length payload.
        #expect(throws: BinlogError.emptyFilename(.replicaLink)) { try BinlogRecord(line: "1795261136 l \n") }
        #expect(BinlogError.emptyFilename(.replicaLink).isEmptyFilename)
        #expect(BinlogError.invalidLine(path: "p", offsetBytes: 3, reason: .emptyFilename(.sourceLink)).isEmptyFilename)
        #expect(!BinlogError.missingField("filename").isEmptyFilename)
    }

    /// Samples of every operation kind in the vectors decode to the expected fields.
    @Test func vectorRecordsDecodeToTheirFields() throws {
        let a = try BinlogRecord(line: "1795260750 A M00/00/00/fwAAPmsBgU6EH_zaAAAAAHvqt4A409.log 20 12\n")
        #expect(a.timestampSeconds == 1795260750)
        #expect(a.operation == .sourceAppend && a.operation.isSource && a.operation.kind == .append)
        #expect(a.filename == "M00/00/00/fwAAPmsBgU6EH_zaAAAAAHvqt4A409.log")
        #expect(a.extra == .range(offsetBytes: 20, lengthBytes: 12))

        let t = try BinlogRecord(line: "1795260799 t M00/00/00/fwAAPmsBgXeEezAWAAAAAKF6ZFk085.log 28 16")
        #expect(t.operation == .replicaTruncate && !t.operation.isSource)
        #expect(t.extra == .sizes(oldSizeBytes: 28, newSizeBytes: 16))

        let r = try BinlogRecord(line: "1795260800 R M00/00/00/fwAAPmsBgYCAFXiqAAAAEC_6d_8085.log M00/00/00/fwAAPmsBgXeEezAWAAAAAKF6ZFk085.log\n")
        #expect(r.filename == "M00/00/00/fwAAPmsBgYCAFXiqAAAAEC_6d_8085.log")
        #expect(r.extra == .renamedFrom("M00/00/00/fwAAPmsBgXeEezAWAAAAAKF6ZFk085.log"))

        let m = try BinlogRecord(line: "1795260787 c M00/00/00/fwAAP2sBgXOEROefAAAAAGHpDVw475.txt-m\n")
        #expect(m.operation == .replicaCreate && m.extra == .none)
    }

    // MARK: Operations

    @Test func operationTable() {
        let letters = BinlogOperation.allCases.map { String($0.letter) }.joined()
        #expect(letters == "CDUAMTLRcduamtlr")
        for op in BinlogOperation.allCases {
            #expect(BinlogOperation(kind: op.kind, isSource: op.isSource) == op)
            #expect(op.asReplica.kind == op.kind && !op.asReplica.isSource)
            #expect(op.isSource == op.letter.isUppercase)
            #expect(op.description == String(op.letter))
        }
        #expect(Set(BinlogOperation.allCases.map(\.kind)).count == BinlogOperation.Kind.allCases.count)
    }

    @Test func encodesEveryOperationKind() throws {
        let name = "M01/0A/FF/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg"
        let other = "M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU456.jpg"
        let cases: [(BinlogOperation, BinlogRecord.Extra, String)] = [
            (.sourceCreate, .none, "7 C \(name)\n"),
            (.replicaDelete, .none, "7 d \(name)\n"),
            (.sourceUpdate, .none, "7 U \(name)\n"),
            (.replicaAppend, .range(offsetBytes: 0, lengthBytes: 9_223_372_036_854_775_807), "7 a \(name) 0 9223372036854775807\n"),
            (.sourceModify, .range(offsetBytes: 2, lengthBytes: 4), "7 M \(name) 2 4\n"),
            (.sourceTruncate, .sizes(oldSizeBytes: 28, newSizeBytes: 16), "7 T \(name) 28 16\n"),
            (.replicaLink, .linkTarget(other), "7 l \(name) \(other)\n"),
            (.sourceRename, .renamedFrom(other), "7 R \(name) \(other)\n"),
        ]
        for (op, extra, line) in cases {
            let record = try BinlogRecord(timestampSeconds: 7, operation: op, filename: name, extra: extra)
            #expect(record.encodedLine == line)
            #expect(record.encodedLength == line.utf8.count)
            #expect(try BinlogRecord(line: line) == record)
            #expect(try BinlogRecord(line: line.dropLast()) == record, "the newline is optional")
            #expect(record.description == String(line.dropLast()))
        }
    }

    // MARK: Errors

    @Test func decoderErrorsSayWhatIsWrong() {
        let long127 = "M00/00/00/" + String(repeating: "a", count: 117)
        let cases: [(String, BinlogError)] = [
            ("1795261136", .missingField("operation")),
            ("", .missingField("operation")),
            ("1795261136 C", .missingField("filename")),
            ("17x C M00/a", .badTimestamp("17x")),
            ("-1 C a", .badTimestamp("-1")),
            ("01 C a", .badTimestamp("01")),
            (" C a", .badTimestamp("")),
            ("9223372036854775808 C a", .badTimestamp("9223372036854775808")),
            ("1 X a", .unknownOperation("X")),
            ("1 CC a", .unknownOperation("CC")),
            ("1  C a", .unknownOperation("")),
            ("1 C a b", .unexpectedField(" b")),
            ("1 C a ", .unexpectedField(" ")),
            ("1 D  a", .emptyFilename(.sourceDelete)),
            ("1 A a", .missingField("offset")),
            ("1 A a 1", .missingField("length")),
            ("1 A a 1 x", .badNumber(field: "length", text: "x")),
            ("1 m a -1 2", .badNumber(field: "offset", text: "-1")),
            ("1 T a 01 2", .badNumber(field: "old size", text: "01")),
            ("1 T a 1 99999999999999999999", .badNumber(field: "new size", text: "99999999999999999999")),
            ("1 A a 1 2 3", .unexpectedField(" 3")),
            ("1 A a 1  2", .badNumber(field: "length", text: "")),
            ("1 L a", .missingField("link target filename")),
            ("1 L a ", .missingField("link target filename")),
            ("1 r a", .missingField("old appender filename")),
            ("1 R a b c", .unexpectedField(" c")),
            ("1 C a\tb", .badFilenameByte(field: "filename", byte: 0x09)),
            ("1 C a\u{7F}", .badFilenameByte(field: "filename", byte: 0x7F)),
            ("1 L a b\u{1}", .badFilenameByte(field: "link target filename", byte: 0x01)),
            ("1 C \(long127)x", .filenameTooLong(field: "filename", lengthBytes: 128)),
            ("1 C a\nb", .embeddedNewline),
            ("1 C a\n\n", .embeddedNewline),
            ("1 C " + String(repeating: "a", count: 251), .lineTooLong(lengthBytes: 256)),
        ]
        for (line, expected) in cases {
            #expect(throws: expected, "\(line.debugDescription)") { try BinlogRecord(line: line) }
            #expect(!expected.description.isEmpty)
        }
        #expect(throws: BinlogError.filenameNotUTF8(field: "filename")) {
            try BinlogRecord(lineBytes: Array("1 C M00/00/00/a".utf8)[...] + [0xFF, 0xFE] + [0x0A])
        }
        // The limits themselves are accepted.
        #expect((try? BinlogRecord(line: "1 C \(long127)")) != nil)
        #expect((try? BinlogRecord(line: "9223372036854775807 C a")) != nil)
    }

    @Test func encoderChecksFieldsAndLimits() throws {
        let name = "M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg"
        #expect(throws: BinlogError.extraDoesNotMatchOperation(.sourceCreate)) {
            try BinlogRecord(timestampSeconds: 1, operation: .sourceCreate, filename: name, extra: .range(offsetBytes: 1, lengthBytes: 2))
        }
        #expect(throws: BinlogError.extraDoesNotMatchOperation(.sourceAppend)) {
            try BinlogRecord(timestampSeconds: 1, operation: .sourceAppend, filename: name)
        }
        #expect(throws: BinlogError.extraDoesNotMatchOperation(.replicaLink)) {
            try BinlogRecord(timestampSeconds: 1, operation: .replicaLink, filename: name, extra: .renamedFrom(name))
        }
        #expect(throws: BinlogError.badTimestamp("-5")) { try BinlogRecord(timestampSeconds: -5, operation: .sourceCreate, filename: name) }
        #expect(throws: BinlogError.emptyFilename(.replicaLink)) {
            try BinlogRecord(timestampSeconds: 1, operation: .replicaLink, filename: "", extra: .linkTarget(name))
        }
        #expect(throws: BinlogError.missingField("link target filename")) {
            try BinlogRecord(timestampSeconds: 1, operation: .sourceLink, filename: name, extra: .linkTarget(""))
        }
        #expect(throws: BinlogError.badFilenameByte(field: "filename", byte: 0x20)) {
            try BinlogRecord(timestampSeconds: 1, operation: .sourceCreate, filename: "a b")
        }
        #expect(throws: BinlogError.badFilenameByte(field: "old appender filename", byte: 0x0A)) {
            try BinlogRecord(timestampSeconds: 1, operation: .sourceRename, filename: name, extra: .renamedFrom("a\n"))
        }
        #expect(throws: BinlogError.badNumber(field: "new size", text: "-1")) {
            try BinlogRecord(timestampSeconds: 1, operation: .sourceTruncate, filename: name, extra: .sizes(oldSizeBytes: 1, newSizeBytes: -1))
        }
        #expect(throws: BinlogError.filenameTooLong(field: "filename", lengthBytes: 128)) {
            try BinlogRecord(timestampSeconds: 1, operation: .sourceCreate, filename: String(repeating: "x", count: 128))
        }
        // Two maximal names make a line over the limit.
        let long = "M00/00/00/" + String(repeating: "b", count: 117)
        #expect(throws: BinlogError.lineTooLong(lengthBytes: 10 + 3 + 127 + 1 + 127 + 1)) {
            try BinlogRecord(timestampSeconds: 1795260748, operation: .sourceLink, filename: long, extra: .linkTarget(long))
        }
        // A long link fits our limit but not the C reader's 127-byte remainder.
        let medium = "M00/00/00/" + String(repeating: "c", count: 60)
        let link = try BinlogRecord(timestampSeconds: 1795260748, operation: .sourceLink, filename: medium, extra: .linkTarget(medium))
        #expect(!link.fitsCReaderLimits)
        #expect(try BinlogRecord(line: link.encodedLine) == link)
    }

    /// Decoder and encoder are exact inverses: any mutation of a real line either fails to
    /// decode or decodes to a record that encodes back to the same bytes.
    @Test func mutatedLinesDecodeCanonicallyOrFail() throws {
        let seed = Mutator.seed("binlog record mutations")
        var rng = SeededRandomNumberGenerator(seed: seed)
        var corpus: [[UInt8]] = []
        for name in F.vectorNames { corpus += try F.vectorLines(name).map { Array($0.bytes) } }
        let alphabet = Array("0123456789 CDUAMTLRcduamtlrX/M-_.\n\tab".utf8)
        var accepted = 0
        for iteration in 0..<20_000 {
            let input = Mutator.mutate(corpus.randomElement(using: &rng)!, alphabet: alphabet, &rng)
            guard let record = try? BinlogRecord(lineBytes: input[...]) else { continue }
            accepted += 1
            let expected = input.last == UInt8(ascii: "\n") ? input : input + [UInt8(ascii: "\n")]
            #expect(record.encodedBytes == expected, "seed \(seed) iteration \(iteration): \(String(decoding: input, as: UTF8.self).debugDescription)")
            #expect(expected.count <= BinlogRecord.maxLineBytes)
        }
        #expect(accepted > 1000)
    }
}

// MARK: - Fixtures shared by the binlog tests

enum BinlogFixtures {
    /// The storage directories of the captured C FastDFS runs.
    static let vectorNames = [
        "storageA-final", "storageB-final", "storageA-before-storage-delete", "storageB-before-storage-delete",
        "ids-profile-storageA-final", "ids-profile-storageB-final",
    ]

    static func vectorSyncDirectory(_ name: String) throws -> String {
        try SharedVectors.url("storage/\(name)/sync/binlog.000").deletingLastPathComponent().path
    }

    /// The lines of a vector's `binlog.000`, newline included, with their offsets.
    static func vectorLines(_ name: String) throws -> [(offset: Int, bytes: ArraySlice<UInt8>)] {
        let bytes = [UInt8](try SharedVectors.data("storage/\(name)/sync/binlog.000"))
        #expect(bytes.last == UInt8(ascii: "\n"), "\(name) ends with a newline")
        return lines(bytes)
    }

    static func lines(_ bytes: [UInt8]) -> [(offset: Int, bytes: ArraySlice<UInt8>)] {
        var result: [(Int, ArraySlice<UInt8>)] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
            result.append((start, bytes[start...i]))
            start = i + 1
        }
        return result
    }

    static func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-binlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        try body(url.path)
    }

    static func read(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }

    static func appendBytes(_ bytes: [UInt8], to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
    }

    static func size(_ path: String) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }

    static let nameAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-".utf8)

    /// `Mxx/HH/HH/<name>`, usually of a normal length, sometimes up to the limit.
    static func randomFilename(_ rng: inout SeededRandomNumberGenerator, maxBytes: Int = BinlogRecord.maxFilenameBytes) -> String {
        func hex2(_ v: Int) -> String { String(format: "%02X", v) }
        let prefix = "M\(hex2(Int.random(in: 0...255, using: &rng)))/\(hex2(Int.random(in: 0...255, using: &rng)))/\(hex2(Int.random(in: 0...255, using: &rng)))/"
        let nameLength = Bool.random(using: &rng) ? Int.random(in: 34...50, using: &rng) : Int.random(in: 1...(maxBytes - 10), using: &rng)
        return prefix + String(decoding: (0..<nameLength).map { _ in nameAlphabet.randomElement(using: &rng)! }, as: UTF8.self)
    }

    static func randomNumber(_ rng: inout SeededRandomNumberGenerator) -> Int64 {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: [0, 1, Int64(Int32.max), Int64.max].randomElement(using: &rng)!
        case 1: Int64.random(in: 0...Int64.max, using: &rng)
        default: Int64.random(in: 0...1 << 32, using: &rng)
        }
    }

    static func randomRecord(_ rng: inout SeededRandomNumberGenerator, operation: BinlogOperation? = nil) -> BinlogRecord {
        let op = operation ?? BinlogOperation.allCases.randomElement(using: &rng)!
        let timestamp = Bool.random(using: &rng) ? Int64.random(in: 1_700_000_000...1_800_000_000, using: &rng) : randomNumber(&rng)
        while true {
            let extra: BinlogRecord.Extra = switch op.kind {
            case .create, .delete, .update: .none
            case .append, .modify: .range(offsetBytes: randomNumber(&rng), lengthBytes: randomNumber(&rng))
            case .truncate: .sizes(oldSizeBytes: randomNumber(&rng), newSizeBytes: randomNumber(&rng))
            case .link: .linkTarget(randomFilename(&rng))
            case .rename: .renamedFrom(randomFilename(&rng))
            }
            // Two long names can exceed the line limit: draw again.
            if let record = try? BinlogRecord(timestampSeconds: timestamp, operation: op, filename: randomFilename(&rng), extra: extra) {
                return record
            }
        }
    }

    /// Everything a reader returns up to `end`.
    static func readAll(_ reader: BinlogReader, upTo end: BinlogPosition) throws -> [BinlogEntry] {
        var entries: [BinlogEntry] = []
        while let entry = try reader.next(upTo: end) { entries.append(entry) }
        return entries
    }
}

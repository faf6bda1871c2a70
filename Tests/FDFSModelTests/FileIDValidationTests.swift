import Testing
import FDFSModel
import FDFSTesting

@Suite struct FileIDRoundTripTests {
    static let alnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    static let nameChars = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

    static func randomID(_ rng: inout SeededRandomNumberGenerator) throws -> FileID {
        let group = try GroupName(String((0..<Int.random(in: 1...16, using: &rng)).map { _ in alnum.randomElement(using: &rng)! }))
        let source: FileSource = Bool.random(using: &rng)
            ? .serverID(UInt32.random(in: 1...FileSource.maxServerID, using: &rng))
            : .ipv4(IPv4Address(UInt8.random(in: 0...255, using: &rng), .random(in: 0...255, using: &rng),
                                .random(in: 0...255, using: &rng), .random(in: 1...255, using: &rng)))
        let random = UInt32.random(in: 0...0x7F_FFFF, using: &rng)
        let kind = Int.random(in: 0..<4, using: &rng)
        let size = Int64.random(in: 0...(1 << 40), using: &rng)
        let sizeField: FileSizeField = switch kind {
        case 0: .appender(random: random)
        case 1: .trunk(size: size & 0xFFFF_FFFF, random: random)
        default: .normal(size: size, random: random)
        }
        let block = FileNameBlock(source: source, createTimestamp: Int32.random(in: .min ... .max, using: &rng), sizeField: sizeField,
                                  crc32: UInt32.random(in: 0 ... .max, using: &rng))
        let extLength = Int.random(in: 0...6, using: &rng)
        let ext = String((0..<extLength).map { _ in alnum.randomElement(using: &rng)! })
        let digits = String((0..<7).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        var name = block.encoded
        if sizeField.isTrunk {
            name += TrunkLocator(trunkFileID: .random(in: 0 ... .max, using: &rng), offset: .random(in: 0 ... .max, using: &rng),
                                 allocatedSize: .random(in: 0 ... .max, using: &rng)).encoded
        }
        name += try FileNameSuffix.make(extension: ext, randomDigits: digits)
        var remote = try RemoteFilename(storePathIndex: Int.random(in: 0...255, using: &rng), subdirHigh: .random(in: 0...255, using: &rng),
                                        subdirLow: .random(in: 0...255, using: &rng), name: name)
        if kind == 3 {
            let prefix = String((0..<Int.random(in: 1...16, using: &rng)).map { _ in nameChars.randomElement(using: &rng)! })
            remote = try remote.slaveName(prefix: prefix, extension: Bool.random(using: &rng) ? ext : nil)
        }
        return FileID(group: group, remoteFilename: remote)
    }

    @Test func tenThousandRandomIDsRoundTrip() throws {
        var rng = SeededRandomNumberGenerator(seed: 0x5EED_F11E)
        for i in 0..<10_000 {
            let id = try Self.randomID(&rng)
            let text = id.description
            let parsed = try FileID(parsing: text)
            #expect(parsed == id, "iteration \(i): \(text)")
            #expect(parsed.description == text, "iteration \(i)")
            #expect(try FileNameBlock(bytes: parsed.remoteFilename.block.bytes) == id.remoteFilename.block)
            #expect(text.utf8.count <= FileID.maxLength)
        }
    }
}

@Suite struct MalformedFileIDTests {
    static let good = "M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg"

    /// (file id, the error it must produce)
    static let cases: [(String, FileIDError)] = [
        ("group1wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .missingGroupSeparator("group1wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg")),
        ("/" + good, .badGroupName(.emptyGroupName)),
        ("group12345678901234/" + good, .badGroupName(.groupNameTooLong("group12345678901234", 19))),
        ("grp-1/" + good, .badGroupName(.invalidGroupNameCharacter("grp-1", "-"))),
        ("grp_1/" + good, .badGroupName(.invalidGroupNameCharacter("grp_1", "_"))),
        ("gr p/" + good, .badGroupName(.invalidGroupNameCharacter("gr p", " "))),
        ("..//" + good, .badGroupName(.invalidGroupNameCharacter("..", "."))),
        ("group1/M00/00/00/short.jpg", .remoteFilenameTooShort("M00/00/00/short.jpg", 19)),
        ("group1/", .remoteFilenameTooShort("", 0)),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123" + String(repeating: "x", count: 90), .remoteFilenameTooLong(130)),
        ("group1/N00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .missingStorePathPrefix("N00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg")),
        ("group1/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpgxxxxxx", .missingStorePathPrefix("00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpgxxxxxx")),
        ("group1/Mab/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badStorePath("Mab/")),
        ("group1/M0G/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badStorePath("M0G/")),
        ("group1/M000/0/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badStorePath("M000")),
        ("group1/M00/0a/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badSubdirectory("0a/")),
        ("group1/M00/00/0G/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badSubdirectory("0G/")),
        ("group1/M00/../00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badSubdirectory("../")),
        ("group1/M00//00/00wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badSubdirectory("/00")),
        ("group1/M00/00/00/../../wKgBCmVT8QCAEjRWAAAACw1KEYU1.jpg", .extraSlash),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU/../x.jpg", .extraSlash),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123..jpg", .dotDot),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU1234...", .dotDot),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.j g", .invalidNameCharacter(0x20)),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.j\u{0}g", .invalidNameCharacter(0x00)),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.j\\g", .invalidNameCharacter(0x5C)),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEY.123.jpg", .badBase64(position: 26, character: UInt8(ascii: "."))),
        ("group1/M00/00/00/.KgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .badBase64(position: 0, character: UInt8(ascii: "."))),
        ("group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KE.U123.jpg", .badBase64(position: 25, character: UInt8(ascii: "."))),
        ("group1/M05/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .storePathIndexOutOfRange(5, 2)),
        ("group1/M02/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg", .storePathIndexOutOfRange(2, 2)),
        // trunk flag set (0x88...) but no room for the 16 locator characters
        ("group1/M00/00/00/wKgBCmVT8QCIEjRWAAAACw1KEYU123_slave_x.jpg", .trunkLocatorMissing(42)),
        // found by the fuzzer: padding inside the trunk locator used to crash the decoder
        ("group1/M00/00/00/wKgBCmVT8QCIEjRWAAAACw1KEYUAAAAAQAABAAAAAg.123.jpg", .badBase64(position: 42, character: UInt8(ascii: "."))),
    ]

    @Test(arguments: 0..<cases.count)
    func malformedIDIsRejectedWithTheRightError(_ index: Int) {
        let (text, expected) = Self.cases[index]
        #expect(throws: expected, "\(text)") { try FileID(parsing: text, storePathCount: 2) }
    }

    @Test func atLeastThirtyCases() { #expect(Self.cases.count >= 30) }

    @Test func errorsSayWhatIsWrong() {
        let text = String(describing: FileIDError.storePathIndexOutOfRange(5, 2))
        #expect(text.contains("5") && text.contains("store path"))
        #expect(String(describing: FileIDError.dotDot).contains(".."))
        #expect(String(describing: FileIDError.badBase64(position: 3, character: 0x2E)).contains("position 3"))
    }

    @Test func nameBlockOfWrongLength() {
        #expect(throws: FileIDError.nameBlockWrongLength(26)) { try FileNameBlock(encoded: "wKgBCmVT8QCAEjRWAAAACw1KEY") }
        #expect(throws: FileIDError.nameBlockWrongLength(19)) { try FileNameBlock(bytes: Array(repeating: 0, count: 19)) }
    }
}

@Suite struct NameTests {
    @Test func groupNames() throws {
        #expect(try GroupName("group1").rawValue == "group1")
        #expect(try GroupName("ABCDEFGHIJKLMNOP").rawValue.count == 16)
        #expect(throws: FDFSNameError.emptyGroupName) { try GroupName("") }
        #expect(throws: FDFSNameError.groupNameTooLong("ABCDEFGHIJKLMNOPQ", 17)) { try GroupName("ABCDEFGHIJKLMNOPQ") }
        #expect(try GroupName("a") < GroupName("b"))
    }

    @Test func storageIDs() throws {
        #expect(try StorageID("100001").numericValue == 100_001)
        #expect(try StorageID("127.0.0.1").numericValue == nil)
        #expect(try StorageID("0100").numericValue == nil)
        #expect(try StorageID(numeric: 16_777_215).rawValue == "16777215")
        #expect(throws: FDFSNameError.serverIDOutOfRange(16_777_216)) { try StorageID(numeric: 16_777_216) }
        #expect(throws: FDFSNameError.storageIDTooLong("1234567890123456", 16)) { try StorageID("1234567890123456") }
        #expect(throws: FDFSNameError.invalidStorageIDCharacter("a b")) { try StorageID("a b") }
    }

    @Test func statusesHaveTheirFastDFSNames() {
        #expect(StorageStatus.allNamed.map(\.name) == ["INIT", "WAIT_SYNC", "SYNCING", "IP_CHANGED", "DELETED", "OFFLINE", "ONLINE", "ACTIVE", "RECOVERY", "NONE"])
        #expect(StorageStatus.allNamed.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6, 7, 9, 99])
        #expect(StorageStatus(rawValue: 8).name == "UNKNOWN")
        #expect(StorageStatus(wireByte: 0xFF) == .unknown)
        #expect(StorageStatus.offline.isAvailable && StorageStatus.online.isAvailable && StorageStatus.active.isAvailable)
        #expect(!StorageStatus.syncing.isAvailable)
        #expect(StorageStatus.waitSync < StorageStatus.offline)
        #expect(FDFSStatus.EINVAL.rawValue == 22 && FDFSStatus.EINVAL.name == "EINVAL")
        #expect(FDFSStatus(200).name == "errno 200")
    }

    @Test func base64() throws {
        #expect(FDFSBase64.encode([0xFB, 0xFF], padded: true) == "-_8.")
        #expect(try FDFSBase64.decode("-_8.") == [0xFB, 0xFF])
        #expect(throws: FDFSBase64.DecodeError.invalidCharacter(position: 1, character: UInt8(ascii: "+"))) { try FDFSBase64.decode("a+bc") }
        var rng = SeededRandomNumberGenerator(seed: 7)
        for n in 0..<64 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(try FDFSBase64.decode(FDFSBase64.encode(bytes)) == bytes)
            #expect(try FDFSBase64.decode(FDFSBase64.encode(bytes, padded: true)) == bytes)
        }
    }
}

import Testing
import FDFSModel
import FDFSTesting

@Suite struct FileIDWorkedExampleTests {
    // Protocol spec §6.12: 192.168.1.10, t=1700000000, "hello world" (11 bytes), R=0x123456,
    // crc32 0x0D4A1185, ext jpg with digits 123, path 0, dirs 00/00, group1.
    let block = FileNameBlock(source: .ipv4(IPv4Address(192, 168, 1, 10)), createTimestamp: 1_700_000_000,
                              sizeField: .normal(size: 11, random: 0x123456), crc32: 0x0D4A_1185)

    @Test func encodesTheWorkedExample() throws {
        #expect(Hex.encode(block.bytes) == "c0a8010a6553f100801234560000000b0d4a1185")
        #expect(block.encoded == "wKgBCmVT8QCAEjRWAAAACw1KEYU")
        let suffix = try FileNameSuffix.make(extension: "jpg", randomDigits: "1234567")
        let remote = try RemoteFilename(storePathIndex: 0, subdirHigh: 0, subdirLow: 0, name: block.encoded + suffix)
        let id = FileID(group: try GroupName("group1"), remoteFilename: remote)
        #expect(id.description == "group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg")
    }

    @Test func decodesTheWorkedExample() throws {
        let id = try FileID(parsing: "group1/M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg")
        #expect(id.group.rawValue == "group1")
        let f = id.remoteFilename
        #expect(f.storePathIndex == 0 && f.subdirHigh == 0 && f.subdirLow == 0)
        #expect(f.kind == .normal)
        #expect(f.block.source == .ipv4(IPv4Address(192, 168, 1, 10)))
        #expect(f.block.createTimestamp == 1_700_000_000)
        #expect(f.sizeFromName == 11)
        #expect(f.block.crc32 == 0x0D4A_1185)
        #expect(f.block.sizeField.randomBits == 0x123456)
        #expect(f.fileExtension == "jpg")
        #expect(f.relativePath == "data/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg")
    }

    @Test func variants() throws {
        var b = block
        b.source = .serverID(100_001)
        #expect(b.encoded == "oYYBAGVT8QCAEjRWAAAACw1KEYU")
        #expect(try FileNameBlock(encoded: "oYYBAGVT8QCAEjRWAAAACw1KEYU").source == .serverID(100_001))

        b = block
        b.sizeField = .appender(random: 0x123456)
        #expect(b.encoded == "wKgBCmVT8QCEEjRWAAAAAA1KEYU")
        let appender = try RemoteFilename(parsing: "M00/00/00/wKgBCmVT8QCEEjRWAAAAAA1KEYU123.jpg")
        #expect(appender.kind == .appender)
        #expect(appender.sizeFromName == nil)

        b = block
        b.sizeField = .normal(size: 5_368_709_120, random: 0x123456)
        #expect(b.encoded == "wKgBCmVT8QAAAAABQAAAAA1KEYU")
        #expect(try RemoteFilename(parsing: "M00/00/00/wKgBCmVT8QAAAAABQAAAAA1KEYU123.jpg").sizeFromName == 5_368_709_120)

        let slave = try RemoteFilename(parsing: "M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123_150x150.jpg")
        #expect(slave.kind == .slave)
        #expect(slave.length == 52)
        #expect(slave.block == block)
    }

    @Test func liveExampleFromTheSpec() throws {
        let f = try RemoteFilename(parsing: "M00/00/00/fwAAH2sBediAVdnlAAAADwL5vO4981.txt")
        #expect(Hex.encode(f.block.bytes) == "7f00001f6b0179d88055d9e50000000f02f9bcee")
        #expect(f.block.source == .ipv4(IPv4Address(127, 0, 0, 31)))
        #expect(f.block.createTimestamp == 1_795_258_840)
        #expect(f.block.sizeField.randomBits == 0x55D9E5)
        #expect(f.sizeFromName == 15)
        #expect(f.block.crc32 == 0x02F9_BCEE)
    }

    @Test func trunkNames() throws {
        #expect(TrunkLocator(trunkFileID: 1, offset: 1024, allocatedSize: 2048).encoded == "AAAAAQAABAAAAAgA")
        let f = try RemoteFilename(parsing: "M00/00/00/fwAAH2sBe-yIMoveAAAAGLjNE2IAAAAAQAAAAAAAAEA013.txt")
        #expect(f.kind == .trunk)
        #expect(Hex.encode(f.block.bytes) == "7f00001f6b017bec88328bde00000018b8cd1362")
        #expect(f.block.sizeField.randomBits == 0x328BDE)
        #expect(f.sizeFromName == 24)
        #expect(f.trunk == TrunkLocator(trunkFileID: 1, offset: 0, allocatedSize: 256))
        #expect(f.fileExtension == "txt")
    }

    @Test func slaveNameDerivation() throws {
        let master = try RemoteFilename(parsing: "M00/00/00/fwAAH2sBefGAa2VGAAAAFEDVs0I854.txt")
        #expect(try master.slaveName(prefix: "_big", extension: "txt").text == "M00/00/00/fwAAH2sBefGAa2VGAAAAFEDVs0I854_big.txt")
        #expect(try master.slaveName(prefix: "_big", extension: "").text == "M00/00/00/fwAAH2sBefGAa2VGAAAAFEDVs0I854_big")
        #expect(try master.slaveName(prefix: "_big", extension: nil).text == "M00/00/00/fwAAH2sBefGAa2VGAAAAFEDVs0I854_big.txt")
        let noExt = try RemoteFilename(parsing: "M00/00/00/fwAAH2sBediESj9IAAAAADUkQcI8190047")
        #expect(try noExt.slaveName(prefix: "-s", extension: "png").text == "M00/00/00/fwAAH2sBediESj9IAAAAADUkQcI8190047-s.png")
        #expect(throws: FileIDError.invalidSlavePrefix("-m")) { try noExt.slaveName(prefix: "-m", extension: "") }
        #expect(throws: FileIDError.invalidSlavePrefix("")) { try master.slaveName(prefix: "", extension: "txt") }
        #expect(throws: FileIDError.invalidExtension("toolong")) { try master.slaveName(prefix: "_s", extension: "toolong") }
    }

    @Test func regenerateExampleNamesParse() throws {
        let before = try RemoteFilename(parsing: "M00/00/00/fwAAH2sBediESj9IAAAAADUkQcI8190047")
        let after = try RemoteFilename(parsing: "M00/00/00/fwAAH2sBedeARSIuAAAABTPtoOY8190047")
        #expect(before.kind == .appender)
        #expect(after.kind == .normal)
        #expect(after.sizeFromName == 5)
        #expect(before.fileExtension == "" && after.fileExtension == "")
    }

    @Test func ipv4WithLastOctetZeroIsReadAsServerID() {
        // A documented limitation of the format (spec §6.4).
        #expect(FileSource(nameBytes: (10, 1, 2, 0)) == .serverID(0x0002_010A))
        #expect(FileSource(nameBytes: (127, 0, 0, 1)) == .ipv4(IPv4Address(127, 0, 0, 1)))
    }
}

/// `../shared/vectors/file-ids.txt`: ids from a real 6.16.1 cluster with the C tool's decoding.
@Suite struct SharedFileIDTests {
    struct Entry {
        var label = ""
        var fileID = ""
        var blockHex = ""
        var getFromServer = false
        var fields: [String: String] = [:]
    }

    static func entries() throws -> [Entry] {
        var out: [Entry] = []
        var current: Entry? = nil
        for line in try SharedVectors.text("file-ids.txt").split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("== ") {
                if let c = current { out.append(c) }
                current = Entry(label: String(line.dropFirst(3)))
            } else if line.hasPrefix("file_id: ") {
                current?.fileID = String(line.dropFirst("file_id: ".count))
            } else if line.hasPrefix("name block (20 bytes): ") {
                current?.blockHex = String(line.dropFirst("name block (20 bytes): ".count).prefix(40))
            } else if line.hasPrefix("GET FROM SERVER: ") {
                current?.getFromServer = line.hasSuffix("true")
            } else if let colon = line.firstIndex(of: ":"), current != nil {
                current?.fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmingSpaces()
            }
        }
        if let c = current { out.append(c) }
        return out
    }

    @Test func everySampleIDDecodesLikeTheCTool() throws {
        let entries = try Self.entries()
        #expect(entries.count == 18)
        for e in entries {
            let id = try FileID(parsing: e.fileID)
            #expect(id.description == e.fileID, "format(parse(x)) == x for \(e.label)")
            let f = id.remoteFilename
            #expect(Hex.encode(f.block.bytes) == e.blockHex, "\(e.label)")
            #expect(f.kind.rawValue == e.fields["file type"], "\(e.label)")
            switch f.block.source {
            case .ipv4(let a):
                #expect(e.fields["source storage id"] == "0")
                #expect(a.description == e.fields["source ip address"], "\(e.label)")
            case .serverID(let n):
                #expect(String(n) == e.fields["source storage id"], "\(e.label)")
            }
            if !e.getFromServer {
                // For names the C tool decodes offline, size and CRC come from the name.
                #expect(f.sizeFromName.map(String.init) == e.fields["file size"], "\(e.label)")
                let crc = e.fields["file crc32"] ?? ""
                #expect(crc.hasSuffix("(0x\(String(f.block.crc32, radix: 16).leftPadded(to: 8)))"), "\(e.label): \(crc)")
            } else {
                #expect(f.kind == .appender || f.kind == .slave, "the C tool only asks the server for appender and slave files")
            }
        }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

import FDFSModel
import Testing
@testable import FDFSHTTP

let sampleName = "M00/00/00/fwAAH2sBediAVdnlAAAADwL5vO4981.txt"

@Suite struct HTTPFileURLTests {
    @Test func bothURLFormsNameTheSameFile() throws {
        let withGroup = try HTTPFileURL(target: "/group1/" + sampleName + "?filename=a%20b.txt&ts=5")
        #expect(withGroup.group?.rawValue == "group1")
        #expect(withGroup.remoteFilename.text == sampleName)
        #expect(withGroup.parameters == ["filename": "a b.txt", "ts": "5"])
        #expect(withGroup.path == "/group1/" + sampleName)
        let bare = try HTTPFileURL(target: "/" + sampleName)
        #expect(bare.group == nil && bare.remoteFilename == withGroup.remoteFilename && bare.rawQuery == nil)
        #expect(bare.fileID(defaultGroup: try GroupName("group2")) == "group2/" + sampleName)
    }

    @Test(arguments: [
        ("/group1/M00/00/00/..%2Fetc%2Fpasswd", 400),  // an encoded slash never reaches the file system
        ("/group1/M00/../../../etc/passwd", 400),
        ("/group1/M00/00/00/../x.txt", 400),
        ("/group1/M00/00/00/short.txt", 400),
        ("/group1/M0G/00/00/" + String(sampleName.dropFirst(10)), 400),
        ("/group1/M00/00/00/" + String(sampleName.dropFirst(10)) + "/x", 404),
        ("/", 404),
        ("/favicon.ico", 404),
        ("/bad group/" + sampleName, 400),
        ("no-slash", 400),
    ])
    func badTargetsAreRefused(target: String, status: Int) {
        #expect(throws: HTTPRequestError.self) { try HTTPFileURL(target: target) }
        do { _ = try HTTPFileURL(target: target) } catch { #expect(error.kind.rawValue == status, "\(target): \(error)") }
    }

    @Test func storePathBeyondTheStorageIsRefused() {
        #expect(throws: HTTPRequestError.self) { try HTTPFileURL(target: "/group1/M01/00/00/" + String(sampleName.dropFirst(10)), storePathCount: 1) }
    }
}

@Suite struct ByteRangeTests {
    @Test(arguments: [
        (nil, ByteRangeRequest.whole),
        ("bytes=0-9", .part(lower: 0, upper: 9)),
        ("bytes=10-19", .part(lower: 10, upper: 19)),
        ("bytes=90-", .part(lower: 90, upper: 99)),
        ("bytes=-10", .part(lower: 90, upper: 99)),
        ("bytes=-1000", .part(lower: 0, upper: 99)),
        ("bytes=50-1000", .part(lower: 50, upper: 99)),
        ("bytes=99-99", .part(lower: 99, upper: 99)),
        ("bytes=100-", .unsatisfiable),
        ("bytes=100-200", .unsatisfiable),
        ("bytes=-0", .unsatisfiable),
        ("bytes=0-1,5-6", .whole),  // several ranges: the whole file
        ("bytes=9-3", .whole),
        ("items=0-9", .whole),
        ("bytes=x-9", .whole),
        ("bytes=+1-9", .whole),
        (" BYTES = 0-0 ", .whole),
        ("bytes= 1-2", .part(lower: 1, upper: 2)),
    ] as [(String?, ByteRangeRequest)])
    func rangesOfAHundredBytes(header: String?, expected: ByteRangeRequest) {
        #expect(ByteRangeRequest(header: header, size: 100) == expected)
    }

    @Test func anEmptyFileHasNoSatisfiableRange() {
        #expect(ByteRangeRequest(header: "bytes=0-", size: 0) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=-5", size: 0) == .unsatisfiable)
        #expect(ByteRangeRequest(header: nil, size: 0) == .whole)
    }
}

@Suite struct AntiStealTokenTests {
    // Computed with Python's hashlib: md5(file_id + secret + ts).
    @Test func tokensAreFastDFSs() {
        #expect(AntiStealToken.make(fileID: sampleName, secretKey: "s3cret", timestamp: 1_700_000_000) == "4febaa58eb7e6bf4b879af554a0b6f0a")
        #expect(AntiStealToken.make(fileID: "group1/" + sampleName, secretKey: "s3cret", timestamp: 1_700_000_000)
                == "2edaac365b3d05b44455c4788596d279")
    }

    @Test func checks() {
        let t = AntiStealToken(secretKey: "s3cret", ttlSeconds: 600)
        func check(_ token: String?, _ ts: String?, now: Int64 = 1_700_000_100) -> String? {
            t.refusal(token: token, timestamp: ts, fileIDWithGroup: "group1/" + sampleName, fileIDWithoutGroup: sampleName, now: now)
        }
        #expect(check("4febaa58eb7e6bf4b879af554a0b6f0a", "1700000000") == nil)  // the nginx module's subject
        #expect(check("2edaac365b3d05b44455c4788596d279", "1700000000") == nil)  // the client libraries'
        #expect(check("2EDAAC365B3D05B44455C4788596D279", "1700000000") == nil)
        #expect(check("2edaac365b3d05b44455c4788596d279", "1700000000", now: 1_700_000_601)?.contains("expired") == true)
        #expect(check("2edaac365b3d05b44455c4788596d278", "1700000000")?.contains("does not match") == true)
        #expect(check("2edaac365b3d05b44455c4788596d279", "1700000001")?.contains("does not match") == true)
        #expect(check(nil, "1700000000") != nil)
        #expect(check("2edaac365b3d05b44455c4788596d279", nil) != nil)
        #expect(check("abc", "1700000000")?.contains("32") == true)
        #expect(check("2edaac365b3d05b44455c4788596d279", "soon")?.contains("number") == true)
        let never = AntiStealToken.make(fileID: sampleName, secretKey: "s3cret", timestamp: 0)
        #expect(check(never, "0", now: 4_000_000_000) == nil)  // ts 0 never expires, as in C
    }
}

@Suite struct MIMEAndDateTests {
    @Test func mimeTablesInBothFormats() {
        let table = MIMETypes(text: "# comment\ntext/plain txt TEXT\nimage/jpeg jpg jpeg # inline\ntypes {\n    image/png png;\n}\n",
                              defaultType: "application/x-test")
        #expect(table.type(forExtension: "txt") == "text/plain")
        #expect(table.type(forExtension: "Text") == "text/plain")
        #expect(table.type(forExtension: "jpeg") == "image/jpeg")
        #expect(table.type(forExtension: "png") == "image/png")
        #expect(table.type(forExtension: "zzz") == "application/x-test")
        #expect(table.type(forExtension: "") == "application/x-test")
    }

    @Test func httpDatesRoundTrip() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")  // RFC 9110's example
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        for t: Int64 in [0, 951_782_400, 1_700_000_000, 4_102_444_799] {
            #expect(HTTPDate.parse(HTTPDate.format(t)) == t)
        }
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 UTC") == nil)
        #expect(HTTPDate.parse("Sun, 06 Xyz 1994 08:49:37 GMT") == nil)
    }
}

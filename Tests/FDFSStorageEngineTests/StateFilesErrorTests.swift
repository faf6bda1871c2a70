import FDFSModel
import FDFSTesting
import Foundation
import Testing
@testable import FDFSStorageEngine

/// Damaged state files: every error names the file and the key (or line).
@Suite struct StateFilesErrorTests {
    static let initFlagText = """
        storage_join_time=1795260727
        sync_old_done=1
        sync_src_server=
        sync_until_timestamp=0
        last_ip_addr=127.0.0.62
        last_server_port=23700
        current_trunk_file_id=0
        trunk_last_compress_time=0
        trunk_binlog_compress_stage=0

        """
    static let markText = """
        binlog_index=0
        binlog_offset=3162
        need_sync_old=0
        sync_old_done=0
        until_timestamp=0
        scan_row_count=50
        sync_row_count=14

        """
    static let path = "/base/data/.data_init_flag"

    static func removing(_ key: String, from text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix(key + "=") }.joined(separator: "\n")
    }

    static func replacing(_ key: String, with value: String, in text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(key + "=") ? key + "=" + value : String($0) }.joined(separator: "\n")
    }

    static func error<T>(_ body: () throws(StateFileError) -> T) -> StateFileError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: ["storage_join_time", "sync_old_done", "sync_src_server"])
    func initFlagMandatoryKeys(key: String) {
        let text = Self.removing(key, from: Self.initFlagText)
        let failure = Self.error { () throws(StateFileError) in try StorageInitFlag(parsing: text, path: Self.path) }
        #expect(failure == .missingKey(path: Self.path, key: key))
        #expect(failure?.description == "\(Self.path): key \"\(key)\" is missing")
        #expect(failure?.path == Self.path)
    }

    @Test func initFlagOptionalKeysDefault() throws {
        var text = Self.initFlagText
        for key in ["sync_until_timestamp", "last_ip_addr", "last_server_port", "current_trunk_file_id",
                    "trunk_last_compress_time", "trunk_binlog_compress_stage"] {
            text = Self.removing(key, from: text)
        }
        var flag = try StorageInitFlag(parsing: text, path: Self.path)
        #expect(flag.syncUntilTimestamp == 0 && flag.lastIPAddresses == "" && flag.lastServerPort == 0)
        #expect(flag.isLastServerPortMissing)
        let adopted = flag.adoptServerPortIfMissing(23000)
        #expect(adopted)
        #expect(flag.lastServerPort == 23000)
        let adoptedAgain = flag.adoptServerPortIfMissing(24000)
        #expect(!adoptedAgain)
        #expect(flag.lastServerPort == 23000)
        // An explicit 0 is treated like a missing port (C: `g_last_server_port == 0`).
        let zero = try StorageInitFlag(parsing: Self.replacing("last_server_port", with: "0", in: Self.initFlagText), path: Self.path)
        #expect(zero.isLastServerPortMissing)
    }

    @Test(arguments: [("storage_join_time", "abc"), ("storage_join_time", "12abc"), ("storage_join_time", ""),
                      ("sync_old_done", "yes"), ("last_server_port", "70000"), ("last_server_port", "-1"),
                      ("sync_until_timestamp", "1.5"), ("trunk_binlog_compress_stage", "10")])
    func initFlagInvalidValues(key: String, value: String) {
        let text = Self.replacing(key, with: value, in: Self.initFlagText)
        let failure = Self.error { () throws(StateFileError) in try StorageInitFlag(parsing: text, path: Self.path) }
        guard case .invalidValue(let path, let failedKey, let failedValue, _)? = failure else {
            Issue.record("expected invalidValue for \(key)=\(value), got \(String(describing: failure))")
            return
        }
        #expect(path == Self.path && failedKey == key && failedValue == value)
        #expect(failure!.description.contains(Self.path) && failure!.description.contains("\"\(key)\""))
    }

    @Test func initFlagIgnoresUnknownKeysAndKeepsMarks() throws {
        let text = Self.initFlagText + "last_http_port=8888\nstore_path_mark2=BBB\nstore_path_mark0=AAA\nstore_path_markers=x\n"
        let flag = try StorageInitFlag(parsing: text, path: Self.path)
        #expect(flag.storePathMarks == [0: "AAA", 2: "BBB"])
        #expect(flag.format() == Self.initFlagText + "store_path_mark0=AAA\nstore_path_mark2=BBB\n")
        let failure = Self.error { () throws(StateFileError) in
            try StorageInitFlag(parsing: Self.initFlagText + "store_path_mark007=AAA\n", path: Self.path)
        }
        #expect(failure == .invalidValue(path: Self.path, key: "store_path_mark007", value: "AAA", expected: "store_path_mark0 ... store_path_mark255"))
    }

    @Test func markFileWithSixKeysIsRejected() {
        let path = "/base/data/sync/127.0.0.62_23700.mark"
        let text = Self.removing("sync_row_count", from: Self.markText)
        let failure = Self.error { () throws(StateFileError) in try SyncMark(parsing: text, path: path) }
        #expect(failure == .tooFewKeys(path: path, count: 6, minimum: 7))
        #expect(failure?.description == "\(path): 6 keys, at least 7 expected")
    }

    @Test func markFileWithAnUnknownKeyInsteadOfAKnownOneIsRejected() {
        let path = "/base/data/sync/100002.mark"
        let text = Self.removing("binlog_offset", from: Self.markText) + "something_else=1\n"
        let failure = Self.error { () throws(StateFileError) in try SyncMark(parsing: text, path: path) }
        #expect(failure == .missingKey(path: path, key: "binlog_offset"))
    }

    @Test(arguments: [("binlog_index", "-1"), ("binlog_offset", "-5"), ("binlog_offset", "x"), ("need_sync_old", "2"),
                      ("scan_row_count", "9223372036854775808")])
    func markFileInvalidValues(key: String, value: String) {
        let path = "/m.mark"
        let failure = Self.error { () throws(StateFileError) in
            try SyncMark(parsing: Self.replacing(key, with: value, in: Self.markText), path: path)
        }
        guard case .invalidValue(path, key, value, _)? = failure else {
            Issue.record("expected invalidValue for \(key)=\(value), got \(String(describing: failure))")
            return
        }
    }

    @Test func markFileAcceptsTheIniBooleanWords() throws {
        var text = Self.replacing("need_sync_old", with: "true", in: Self.markText)
        text = Self.replacing("sync_old_done", with: "On", in: text)
        let mark = try SyncMark(parsing: text, path: "/m.mark")
        #expect(mark.needSyncOld && mark.syncOldDone)
        #expect(mark.format().contains("need_sync_old=1\nsync_old_done=1\n"))
    }

    @Test func statFileMinimumAndDefaults() throws {
        let path = "/base/data/storage_stat.dat"
        let keys = StorageStatFile.keys.map(\.key)
        let eleven = keys.prefix(11).map { $0 + "=7\n" }.joined()
        #expect(Self.error { () throws(StateFileError) in try StorageStatFile(parsing: eleven, path: path) }
            == .tooFewKeys(path: path, count: 11, minimum: 12))
        // 12 keys, one unknown: loaded, missing ones are 0, the unknown one is dropped.
        let twelve = eleven + "some_future_counter=9\n"
        let stat = try StorageStatFile(parsing: twelve, path: path)
        #expect(stat.counters.totalUploadCount == 7 && stat.counters.lastSourceUpdate == 7)
        #expect(stat.counters.lastSyncUpdate == 0 && stat.distWriteFileCount == 0)
        #expect(!stat.format().contains("some_future_counter"))
        #expect(stat.format().split(separator: "\n").count == 43)
        let bad = twelve.replacingOccurrences(of: "total_modify_count=7", with: "total_modify_count=seven")
        #expect(Self.error { () throws(StateFileError) in try StorageStatFile(parsing: bad, path: path) }
            == .invalidValue(path: path, key: "total_modify_count", value: "seven", expected: "a decimal integer"))
    }

    @Test func malformedAndDuplicateLines() {
        let path = "/x"
        #expect(Self.error { () throws(StateFileError) in try KeyValueFile(parsing: "a=1\nnot a pair\n", path: path) }
            == .malformedLine(path: path, line: 2, text: "not a pair"))
        #expect(Self.error { () throws(StateFileError) in try KeyValueFile(parsing: "=1\n", path: path) }
            == .malformedLine(path: path, line: 1, text: "=1"))
        #expect(Self.error { () throws(StateFileError) in try KeyValueFile(parsing: "a=1\nb=2\na=3\n", path: path) }
            == .duplicateKey(path: path, key: "a", line: 3))
    }

    @Test func lenientLikeTheIniReader() throws {
        let file = try KeyValueFile(parsing: "# comment\r\n\r\n  a = 1 \r\nb=x=y\r\nc=\n", path: "/x")
        #expect(file.entries.map(\.key) == ["a", "b", "c"])
        #expect(file["a"] == "1" && file["b"] == "x=y" && file["c"] == "")
        #expect(file.entries.map(\.line) == [3, 4, 5])
        #expect(KeyValueFile.format([("a", "1"), ("b", "")]) == "a=1\nb=\n")
    }
}

/// The §7.3 startup decision for one store path.
@Suite struct StateFilesStorePathMarkTests {
    static let own = StorePathMarkRecord(ipAddress: "127.0.0.62", port: 23700, storePathIndex: 0, createTime: 1_795_260_727).encoded()
    static let other = StorePathMarkRecord(ipAddress: "127.0.0.63", port: 23700, storePathIndex: 0, createTime: 1_795_260_754).encoded()

    @Test func decisionTable() {
        #expect(StorePathMark.decide(storePathMark: Self.own, initFlagMark: Self.own) == .accept)
        #expect(StorePathMark.decide(storePathMark: Self.other, initFlagMark: Self.own)
            == .refuse(.different(storePathMark: Self.other, initFlagMark: Self.own)))
        #expect(StorePathMark.decide(storePathMark: Self.other, initFlagMark: nil) == .refuse(.notInInitFlag(storePathMark: Self.other)))
        #expect(StorePathMark.decide(storePathMark: nil, initFlagMark: Self.own) == .generate(.storePathMarkMissing))
        #expect(StorePathMark.decide(storePathMark: nil, initFlagMark: nil) == .generate(.noMark))
        // Compared as text, like strcmp: an empty mark is a mark.
        #expect(StorePathMark.decide(storePathMark: "", initFlagMark: Self.own) == .refuse(.different(storePathMark: "", initFlagMark: Self.own)))
    }

    @Test func refusalExplainsWhoOwnsThePath() {
        let refusal = StorePathMark.Refusal.different(storePathMark: Self.other, initFlagMark: Self.own)
        #expect(refusal.description.contains("ip_addr: 127.0.0.63, port: 23700, store_path_index: 0, create_time: 1795260754"))
        #expect(refusal.description.contains("ip_addr: 127.0.0.62"))
        let garbage = StorePathMark.Refusal.notInInitFlag(storePathMark: "not-a-mark")
        #expect(garbage.description.contains("\"not-a-mark\""))
    }

    @Test func fileFormatAndLoadMark() throws {
        let file = StorePathMark.generate(ipAddress: "127.0.0.62", port: 23700, storePathIndex: 0, now: 1_795_260_727)
        #expect(file.format() == "store_path_mark=MTI3LjAuMC42MgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJRcAAAAADeBAWs\n")
        #expect(try StorePathMark(parsing: file.format(), path: "/p") == file)
        #expect(file.record?.port == 23700)
        #expect(StorePathMark.path(storePath: "/disk1") == "/disk1/data/.fastdfs_vars")
        #expect(Self.failure("other=1\n") == .missingKey(path: "/p", key: "store_path_mark"))
    }

    static func failure(_ text: String) -> StateFileError? {
        do {
            _ = try StorePathMark(parsing: text, path: "/p")
            return nil
        } catch {
            return error
        }
    }

    @Test func recordUsesTheFastDFSAlphabetWithoutPadding() throws {
        // Bytes chosen so that 6-bit groups 62 and 63 occur: `-` and `_` in FastDFS base64
        // (`+` and `/` in standard base64).
        let record = StorePathMarkRecord(ipAddress: "::1", port: 0xFBFF, storePathIndex: 0xFF, createTime: -1)
        let mark = record.encoded()
        #expect(mark.utf8.count == StorePathMarkRecord.encodedLength)
        #expect(mark.contains("-") || mark.contains("_"))
        #expect(!mark.contains("+") && !mark.contains("/") && !mark.contains("."))
        #expect(try StorePathMarkRecord(decoding: mark) == record)
        let standard = mark.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        #expect(throws: StorePathMarkRecord.DecodeError.self) { try StorePathMarkRecord(decoding: standard) }
        #expect(throws: StorePathMarkRecord.DecodeError.wrongLength(characters: 72, bytes: 54)) {
            try StorePathMarkRecord(decoding: String(mark.prefix(72)))
        }
    }

    @Test func createTimeKeepsTheLow32BitsAsC() throws {
        let late = StorePathMarkRecord(ipAddress: "10.0.0.1", port: 23000, storePathIndex: 3, createTime: Int64(Int32.max) + 1)
        #expect(try StorePathMarkRecord(decoding: late.encoded()).createTime == Int64(Int32.min))
    }
}

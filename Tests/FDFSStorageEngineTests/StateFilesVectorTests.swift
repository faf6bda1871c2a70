import FDFSModel
import FDFSTesting
import Foundation
import Testing
@testable import FDFSStorageEngine

/// The state files written by C FastDFS 6.16.1 storages (`../shared/vectors/storage/`): each one
/// parses, holds the expected values, and `format()` reproduces it byte for byte.
enum StateFileVectors {
    static let storages = [
        "storageA-before-storage-delete", "storageA-final", "storageB-before-storage-delete", "storageB-final",
        "ids-profile-storageA-final", "ids-profile-storageB-final",
    ]
    static let markFiles = [
        "storageA-before-storage-delete/sync/127.0.0.63_23700.mark",
        "storageA-final/sync/127.0.0.63_23700.mark.20261121113421",
        "storageB-before-storage-delete/sync/127.0.0.62_23700.mark",
        "storageB-final/sync/127.0.0.62_23700.mark",
        "ids-profile-storageA-final/sync/100002.mark",
        "ids-profile-storageB-final/sync/100001.mark",
    ]

    /// The text and the absolute path of a vector file (missing file: the test fails).
    static func load(_ name: String) throws -> (text: String, path: String) {
        let url = try SharedVectors.url("storage/" + name)
        return (try SharedVectors.text("storage/" + name), url.path)
    }
}

@Suite struct StateFilesVectorTests {
    @Test(arguments: StateFileVectors.storages)
    func initFlagVectorsParseAndReformatExactly(storage: String) throws {
        let (text, path) = try StateFileVectors.load(storage + "/.data_init_flag")
        let flag = try StorageInitFlag(parsing: text, path: path)
        #expect(flag.format() == text)
        #expect(flag.lastServerPort == 23700)
        #expect(!flag.isLastServerPortMissing)
        #expect(flag.syncOldDone)
        #expect(flag.currentTrunkFileID == 0 && flag.trunkLastCompressTime == 0 && flag.trunkBinlogCompressStage == 0)
        // Every captured store path mark was created at the storage's first start, by itself.
        let mark = try #require(flag.storePathMarks[0])
        #expect(flag.storePathMarks.count == 1)
        let record = try StorePathMarkRecord(decoding: mark)
        #expect(record.ipAddress == flag.lastIPAddresses)
        #expect(record.port == 23700)
        #expect(record.storePathIndex == 0)
        #expect(record.createTime == flag.storageJoinTime)
        #expect(record.encoded() == mark)
    }

    @Test func storageAInitFlagValues() throws {
        let (text, path) = try StateFileVectors.load("storageA-final/.data_init_flag")
        let flag = try StorageInitFlag(parsing: text, path: path)
        #expect(flag == StorageInitFlag(
            storageJoinTime: 1_795_260_727, syncOldDone: true, syncSourceServer: "", syncUntilTimestamp: 0,
            lastIPAddresses: "127.0.0.62", lastServerPort: 23700,
            storePathMarks: [0: "MTI3LjAuMC42MgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJRcAAAAADeBAWs"]))
        #expect(flag.lastIPAddressList == ["127.0.0.62"])
    }

    @Test func storageBInitFlagNamesItsSyncSource() throws {
        let (text, path) = try StateFileVectors.load("storageB-final/.data_init_flag")
        let flag = try StorageInitFlag(parsing: text, path: path)
        #expect(flag.storageJoinTime == 1_795_260_754)
        #expect(flag.syncSourceServer == "127.0.0.62")
        #expect(flag.syncUntilTimestamp == 1_795_260_759)
        #expect(flag.lastIPAddresses == "127.0.0.63")

        let (idsText, idsPath) = try StateFileVectors.load("ids-profile-storageB-final/.data_init_flag")
        let ids = try StorageInitFlag(parsing: idsText, path: idsPath)
        #expect(ids.syncSourceServer == "100001")
        #expect(ids.syncUntilTimestamp == 1_795_261_119)
    }

    /// The mark in the brief: standard-looking base64 without padding; 56 bytes, not 54.
    @Test func storePathMarkLayoutIsTheAlignedCStruct() throws {
        let mark = "MTI3LjAuMC42MgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJRcAAAAADeBAWs"
        #expect(mark.utf8.count == 75)
        let bytes = try FDFSBase64.decode(mark)
        #expect(bytes.count == 56)
        #expect(Array(bytes[46...47]) == [0x94, 0x5C])  // 23700, little-endian
        #expect(Array(bytes[48...51]) == [0, 0, 0, 0])  // index 0, padding, 2 alignment bytes
        #expect(Array(bytes[52...55]) == [0x37, 0x81, 0x01, 0x6B])  // 1795260727 = 0x6B018137
        let record = try StorePathMarkRecord(decoding: mark)
        #expect(record == StorePathMarkRecord(ipAddress: "127.0.0.62", port: 23700, storePathIndex: 0, createTime: 1_795_260_727))
        #expect(record.bytes == bytes)
        #expect(!mark.contains("."))  // no padding
    }

    @Test(arguments: StateFileVectors.storages)
    func statVectorsParseAndReformatExactly(storage: String) throws {
        let (text, path) = try StateFileVectors.load(storage + "/storage_stat.dat")
        let stat = try StorageStatFile(parsing: text, path: path)
        #expect(stat.format() == text)
        #expect(text.split(separator: "\n").count == 43)
        #expect(StorageStatFile.keys.map(\.key) == text.split(separator: "\n").map { String($0.split(separator: "=")[0]) })
    }

    @Test func storageAStatValues() throws {
        let (text, path) = try StateFileVectors.load("storageA-final/storage_stat.dat")
        let stat = try StorageStatFile(parsing: text, path: path)
        let c = stat.counters
        #expect(c.totalUploadCount == 16 && c.successUploadCount == 16)
        #expect(c.totalTruncateCount == 2 && c.totalDownloadCount == 7)
        #expect(c.lastSourceUpdate == 1_795_260_827 && c.lastSyncUpdate == 1_795_260_813)
        #expect(c.totalSetMetaCount == 11 && c.totalDeleteCount == 3 && c.totalGetMetaCount == 4)
        #expect(c.totalUploadBytes == 390 && c.totalAppendBytes == 36 && c.totalModifyBytes == 8 && c.totalDownloadBytes == 127)
        #expect(c.totalSyncInBytes == 500 && c.successSyncInBytes == 372)
        #expect(c.totalFileOpenCount == 54 && c.totalFileReadCount == 21 && c.successFileWriteCount == 31)
        #expect(stat.distPathIndexHigh == 0 && stat.distPathIndexLow == 0 && stat.distWriteFileCount == 16)
        #expect(c.value(forKey: "success_sync_in_bytes") == 372)
        #expect(c.value(forKey: "dist_write_file_count") == nil)

        let (idsText, idsPath) = try StateFileVectors.load("ids-profile-storageA-final/storage_stat.dat")
        let ids = try StorageStatFile(parsing: idsText, path: idsPath)
        #expect(ids.counters.totalDeleteLinkCount == 1 && ids.distWriteFileCount == 3)
    }

    @Test(arguments: StateFileVectors.markFiles)
    func markVectorsParseAndReformatExactly(name: String) throws {
        let (text, path) = try StateFileVectors.load(name)
        let mark = try SyncMark(parsing: text, path: path)
        #expect(mark.format() == text)
        #expect(mark.binlogIndex == 0)
    }

    @Test func markValues() throws {
        let (bText, bPath) = try StateFileVectors.load("storageB-final/sync/127.0.0.62_23700.mark")
        #expect(try SyncMark(parsing: bText, path: bPath) == SyncMark(
            binlogIndex: 0, binlogOffset: 3162, needSyncOld: false, syncOldDone: false, untilTimestamp: 0,
            scanRowCount: 50, syncRowCount: 14))

        let (aText, aPath) = try StateFileVectors.load("storageA-before-storage-delete/sync/127.0.0.63_23700.mark")
        #expect(try SyncMark(parsing: aText, path: aPath) == SyncMark(
            binlogIndex: 0, binlogOffset: 3127, needSyncOld: true, syncOldDone: true, untilTimestamp: 1_795_260_759,
            scanRowCount: 50, syncRowCount: 39))

        let (idsText, idsPath) = try StateFileVectors.load("ids-profile-storageA-final/sync/100002.mark")
        #expect(try SyncMark(parsing: idsText, path: idsPath) == SyncMark(
            binlogIndex: 0, binlogOffset: 482, needSyncOld: true, syncOldDone: true, untilTimestamp: 1_795_261_119,
            scanRowCount: 8, syncRowCount: 8))
    }

    /// The vector names follow the rule: storageA (127.0.0.62, ids 100001) names its peer
    /// storageB (127.0.0.63, ids 100002) with its own port.
    @Test func markFileNamesMatchTheVectors() throws {
        #expect(SyncMark.fileName(peerIPAddress: "127.0.0.63", ownPort: 23700) == "127.0.0.63_23700.mark")
        #expect(SyncMark.fileName(peerID: try StorageID("100002")) == "100002.mark")
        #expect(SyncMark.fileName(useStorageID: true, peerID: try StorageID("100001"), peerIPAddress: "127.0.0.67", ownPort: 23700) == "100001.mark")
        #expect(SyncMark.fileName(useStorageID: false, peerID: try StorageID("127.0.0.62"), peerIPAddress: "127.0.0.62", ownPort: 23700) == "127.0.0.62_23700.mark")
        #expect(SyncMark.path(basePath: "/fdfs/storage", fileName: "100002.mark") == "/fdfs/storage/data/sync/100002.mark")
        // The deleted-peer rename in storageA-final happened at 2026-11-21 11:34:21 on a host
        // running in UTC (the same clock put 11:32:07 into the join time 1795260727).
        let deletedAt: Int64 = 1_795_260_727 + 134
        let renamed = SyncMark.deletedFileName("127.0.0.63_23700.mark", unixTime: deletedAt)
        #expect(renamed == "127.0.0.63_23700.mark.20261121113421")
        _ = try SharedVectors.url("storage/storageA-final/sync/" + renamed)
        #expect(SyncMark.deletedFileName("100002.mark", timestamp: "20261121113421") == "100002.mark.20261121113421")
        #expect(SyncMark.renameTimestamp(unixTime: deletedAt, utcOffsetSeconds: 8 * 3600) == "20261121193421")
    }
}

import FDFSStorageEngine
import FDFSTracker

/// The readers of the files daemons keep: binlog lines, mark files, storage_stat.dat,
/// key=value files, and the tracker's .dat files. Byte 0 picks the reader.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStateFiles(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let text = String(decoding: bytes, as: UTF8.self)
    switch data[0] % 9 {
    case 0:
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) { _ = try? BinlogRecord(lineBytes: line) }
    case 1: _ = try? SyncMark(parsing: text, path: "fuzz.mark")
    case 2: _ = try? StorageStatFile(parsing: text, path: "storage_stat.dat")
    case 3: _ = try? KeyValueFile(parsing: text, path: "fuzz.dat")
    case 4: _ = TrackerFiles.parseTrackerStatus(text, path: ".tracker_status")
    case 5: _ = TrackerFiles.parseLegacyGroups(text, path: "storage_groups.dat")
    case 6: _ = TrackerFiles.parseGroups(text, path: "storage_groups_new.dat")
    case 7: _ = TrackerFiles.parseStorages(text, path: "storage_servers_new.dat", groups: [], useStorageID: data[0] & 0x80 != 0)
    default: _ = try? BinlogRecord(line: text)
    }
    return 0
}

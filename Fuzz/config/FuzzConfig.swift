import FDFSConfig

/// The configuration parser: tracker.conf, storage.conf, client.conf and storage_ids.conf from
/// the same text. Only `ConfigError`s may come out (no trap, no hang).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? TrackerConfiguration.parse(text: text, path: "fuzz.conf")
    _ = try? StorageConfiguration.parse(text: text, path: "fuzz.conf")
    _ = try? ClientConfiguration.parse(text: text, path: "fuzz.conf")
    _ = try? StorageIDs.parse(text: text, path: "storage_ids.conf")
    return 0
}

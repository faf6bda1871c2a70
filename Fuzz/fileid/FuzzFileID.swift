import FDFSModel

/// The file-ID parser: `group/Mxx/HH/HH/name` and remote filenames. What parses must name a
/// path inside its store path and print back as it was read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFileID(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let id = try? FileID(parsing: text) {
        precondition(!id.remoteFilename.relativePath.contains(".."), "path escapes: \(id.remoteFilename.relativePath)")
        precondition(!id.remoteFilename.relativePath.hasPrefix("/"), "absolute path: \(id.remoteFilename.relativePath)")
    }
    if let name = try? RemoteFilename(parsing: text) {
        precondition(name.text == text, "\(text) printed back as \(name.text)")
        precondition(!name.relativePath.contains(".."), "path escapes: \(name.relativePath)")
        _ = name.block
        _ = name.kind
    }
    return 0
}

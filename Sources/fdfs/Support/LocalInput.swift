import FDFSClient
import Foundation
import NIOCore

/// The content of an upload, append or modify from a local file or standard input (`-`,
/// spooled to a temporary file first: FastDFS needs the size before the bytes), with a
/// progress bar on a terminal.
struct LocalInput {
    let file: LocalFileContent
    let label: String

    static func open(_ path: String) async throws -> LocalInput {
        guard path == "-" else { return LocalInput(file: try await LocalFileContent.open(path), label: (path as NSString).lastPathComponent) }
        let spool = NSTemporaryDirectory() + "fdfs-stdin-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        guard FileManager.default.createFile(atPath: spool, contents: nil, attributes: [.posixPermissions: 0o600]),
              let out = FileHandle(forWritingAtPath: spool) else {
            throw CLIFailure(.usage, "cannot create a temporary file in \(NSTemporaryDirectory()) for standard input (set TMPDIR)")
        }
        defer { try? FileManager.default.removeItem(atPath: spool) }
        while true {
            let data = FileHandle.standardInput.availableData
            if data.isEmpty { break }
            out.write(data)
        }
        try out.close()
        // The descriptor stays open: the file is read after its name is removed.
        return LocalInput(file: try await LocalFileContent.open(spool), label: "stdin")
    }

    var size: Int64 { file.size }

    /// The upload content; `progress` is advanced as chunks are sent.
    func content() -> UploadContent {
        let bar = ProgressBar(total: file.size, label: label)
        guard let bar else { return .stream(file.chunks(), size: file.size) }
        return .stream(ProgressChunks(base: file.chunks(), bar: bar), size: file.size)
    }

    /// The file's extension if FastDFS can carry it (at most 6 characters of [A-Za-z0-9]).
    static func fileExtension(of path: String) -> String {
        let ext = (path as NSString).pathExtension
        guard !ext.isEmpty, ext.utf8.count <= 6, ext.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }) else {
            return ""
        }
        return ext
    }
}

/// Chunks that move a progress bar as they are taken (and finish it at the end).
struct ProgressChunks<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let bar: ProgressBar

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), bar: bar) }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let bar: ProgressBar
        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else {
                bar.finish()
                return nil
            }
            bar.advance(chunk.readableBytes)
            return chunk
        }
    }
}

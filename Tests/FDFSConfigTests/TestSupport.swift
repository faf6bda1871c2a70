import Foundation
import Testing
import FDFSTesting

/// Paths of the files the tests read, located from this source file: the package root is
/// three levels up (`Tests/FDFSConfigTests/TestSupport.swift`).
enum TestPaths {
    static let packageRoot: String = SharedVectors.packageRoot.path

    /// The sample configuration files shipped in `conf/`.
    static func sample(_ name: String) -> String { packageRoot + "/conf/" + name }

    /// The configuration files captured from a real C cluster.
    static let vectorsDirectory = SharedVectors.directory.appendingPathComponent("conf").path
    static func vector(_ name: String) -> String { vectorsDirectory + "/" + name }
}

/// A fresh directory under the system temporary directory, removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fdfs-config-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// Writes `text` to `directory/name`, creating intermediate directories.
@discardableResult
func writeFile(_ directory: String, _ name: String, _ text: String) throws -> String {
    let path = directory + "/" + name
    let parent = URL(fileURLWithPath: path).deletingLastPathComponent()
    try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Runs `body` and returns the `Error` it throws, failing the test if it does not throw.
func expectThrows<E: Error>(_ type: E.Type, sourceLocation: SourceLocation = #_sourceLocation,
                            _ body: () throws -> Void) -> E? {
    do {
        try body()
        Issue.record("expected an error of type \(E.self), nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as E {
        return error
    } catch {
        Issue.record("expected \(E.self), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

import Foundation
import Testing

/// `fdfs bench` against a sandbox cluster with tiny counts, so the tool cannot rot (the figures
/// themselves come from tools/bench, never from a timed test).
@Suite("fdfs bench", .serialized)
struct BenchCLITests {
    @Test("upload, download, delete and mixed runs count their operations and errors")
    func benchRuns() async throws {
        try await withSandbox(trackerPort: 26500, storagePort: 26510) { c in
            let ids = FileManager.default.temporaryDirectory.appendingPathComponent("bench-ids-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: ids) }

            let up = try await c.fdfs(["bench", "--op", "upload", "--size", "4K,1000", "--count", "20", "--concurrency", "2", "--ids", ids, "--json"])
            #expect(up.status == 0, "\(up)")
            let upJSON = try up.json()
            #expect(upJSON["count"] as? Int == 20)
            #expect((upJSON["errors"] as? [String: Int])?.isEmpty == true)
            #expect(upJSON["sizes"] as? [Int] == [4096, 1000])
            let latency = try #require(upJSON["latency_us"] as? [String: Any])
            #expect((latency["p50"] as? Int ?? 0) > 0 && (latency["p99"] as? Int ?? 0) >= (latency["p50"] as? Int ?? 0))
            #expect((upJSON["ops_per_s"] as? Double ?? 0) > 0 && (upJSON["client_cpu_us_per_op"] as? Double ?? 0) > 0)
            // 10 of 4096 bytes and 10 of 1000 bytes.
            #expect(abs((upJSON["mb_per_s"] as? Double ?? 0) * (upJSON["seconds"] as? Double ?? 0) - 0.05096) < 0.0001)
            let written = try String(contentsOfFile: ids, encoding: .utf8).split(separator: "\n")
            #expect(written.count == 20 && written.allSatisfy { $0.hasPrefix("group1/M00/") })

            let down = try await c.fdfs(["bench", "--op", "download", "--count", "30", "--concurrency", "3", "--ids", ids, "--json",
                                         "--connection", "new"])
            #expect(down.status == 0, "\(down)")
            let downJSON = try down.json()
            #expect(downJSON["count"] as? Int == 30 && (downJSON["errors"] as? [String: Int])?.isEmpty == true)
            #expect(downJSON["connection"] as? String == "new")

            let delete = try await c.fdfs(["bench", "--op", "delete", "--count", "50", "--ids", ids, "--json"])
            #expect(delete.status == 0, "\(delete)")
            #expect(try delete.json()["count"] as? Int == 20, "a delete run ends with its files")

            // The files are gone: every download is an ENOENT error, counted, not a crash.
            let gone = try await c.fdfs(["bench", "--op", "download", "--count", "5", "--concurrency", "1", "--ids", ids, "--json"])
            #expect(gone.status == 4, "\(gone)")
            #expect(gone.stderr.contains("every operation failed") && gone.stderr.contains("ENOENT"), "\(gone)")

            let mixed = try await c.fdfs(["bench", "--op", "mixed", "--count", "40", "--concurrency", "2", "--json"])
            #expect(mixed.status == 0, "\(mixed)")
            #expect(try mixed.json()["count"] as? Int == 40)

            let human = try await c.fdfs(["bench", "--count", "3", "--concurrency", "1"])
            #expect(human.status == 0 && human.text.contains("ops/s") && human.text.contains("p99.9"), "\(human)")

            let bad = try await c.fdfs(["bench", "--size", "4X"])
            #expect(bad.status == 1 && bad.stderr.contains("--size"), "\(bad)")
        }
    }
}

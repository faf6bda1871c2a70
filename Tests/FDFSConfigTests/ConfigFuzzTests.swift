import Testing
import FDFSConfig
import FDFSTesting

/// 100,000 seeded random and mutated configuration texts: parsing and typed loading either
/// succeed or fail with a `ConfigError` that names the file; they never crash.
@Suite struct ConfigFuzzTests {
    static let seeds = [
        "port = 22122\nbase_path = /tmp/x\nstore_lookup = 2\nstore_group = group1\nreserved_storage_space = 10%\n",
        "group_name = group1\nbase_path = /tmp/s\nstore_path_count = 2\nstore_path0 = /a\nstore_path1 = /b\ntracker_server = 127.0.0.1:22122\n[access-log]\nenabled = true\n",
        "tracker_server = [fd00::1,fd00::2]:22122\ntracker_server = 10.0.0.1,8.8.8.8:22122\nbase_path = /tmp\nhttp.anti_steal.check_token = yes\nhttp.anti_steal.secret_key = k\n",
        "100001 group1 127.0.0.1:23000\n100002 group1 10.0.0.2,1.2.3.4 rw=read\n100003 group2 [fd00::3]:23001 rw=none\n",
    ]
    static let alphabet = Array("=#[]:,.%\n\t 0123456789KMGBkmgb-_abcdefgroup/rw".utf8)

    @Test func parsersSurviveRandomAndMutatedText() {
        var rng = SeededRandomNumberGenerator(seed: 0xC0_4F16)
        var loaded = 0
        for _ in 0..<PropertyBudget.iterations(20_000) {
            let b = Mutator.mutate(Array(Self.seeds.randomElement(using: &rng)!.utf8), alphabet: Int.random(in: 0..<4, using: &rng) == 0 ? nil : Self.alphabet, &rng)
            let text = String(decoding: b, as: UTF8.self)
            if (try? TrackerConfiguration.parse(text: text, path: "fuzz.conf")) != nil { loaded += 1 }
            if (try? StorageConfiguration.parse(text: text, path: "fuzz.conf")) != nil { loaded += 1 }
            if (try? ClientConfiguration.parse(text: text, path: "fuzz.conf")) != nil { loaded += 1 }
            do {
                _ = try StorageIDs.parse(text: text, path: "fuzz_ids.conf")
                loaded += 1
            } catch {
                #expect(String(describing: error).contains("fuzz_ids.conf"))
            }
        }
        #expect(loaded > 100)
    }
}

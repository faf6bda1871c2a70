import FDFSConfig
import Foundation
import Testing

@Suite("ini syntax")
struct ConfigDocumentTests {
    @Test func keyValueTrimmingAndFirstEquals() throws {
        let doc = try ConfigDocument.parse(text: "  key1 =  value one  \nkey2=a=b\n\tkey3\t=\t\n", path: "t.conf")
        #expect(doc.items.map(\.key) == ["key1", "key2", "key3"])
        #expect(doc.value("key1") == "value one")
        #expect(doc.value("key2") == "a=b")
        #expect(doc.value("key3") == "")
        #expect(doc.items[1].location == ConfigLocation(path: "t.conf", line: 2))
    }

    @Test func commentsHaveNoTrailingForm() throws {
        let doc = try ConfigDocument.parse(text: "# comment\n   # indented comment\nkey = v # x\n##include nothing\n", path: "t.conf")
        #expect(doc.items.count == 1)
        #expect(doc.value("key") == "v # x")
        #expect(doc.warnings.isEmpty)
    }

    @Test func crlfLineEndings() throws {
        let doc = try ConfigDocument.parse(text: "a = 1\r\nb = 2\r\n", path: "t.conf")
        #expect(doc.value("a") == "1")
        #expect(doc.value("b") == "2")
        #expect(doc.items[1].location.line == 2)
    }

    @Test func linesWithoutEqualsAreIgnoredWithAWarning() throws {
        let doc = try ConfigDocument.parse(text: "port 23000\nkey = v\n", path: "t.conf")
        #expect(doc.items.map(\.key) == ["key"])
        #expect(doc.warnings.count == 1)
        #expect(doc.warnings.first?.location == ConfigLocation(path: "t.conf", line: 1))
    }

    @Test func preprocessingDirectivesAreCommentsWithAWarning() throws {
        let doc = try ConfigDocument.parse(text: "#@set x = 1\n#@if %{x} == 1\na = 1\n#@endif\n", path: "t.conf")
        #expect(doc.items.map(\.key) == ["a"])
        #expect(doc.warnings.count == 3)
        #expect(doc.warnings[0].description.contains("t.conf:1"))
    }

    @Test func sections() throws {
        let text = """
            g1 = 1
            [first]
            a = 2
            [ second ]
            a = 3
            []
            g2 = 4
            [first]
            b = 5
            """
        let doc = try ConfigDocument.parse(text: text, path: "t.conf")
        #expect(doc.value("g1") == "1")
        #expect(doc.value("g2") == "4")
        #expect(doc.value("a") == nil)
        #expect(doc.value("a", section: "first") == "2")
        #expect(doc.value("a", section: "second") == "3")
        #expect(doc.value("b", section: "first") == "5")
        #expect(doc.sectionNames == ["first", "second"])
    }

    @Test func repeatedKeysAreKeptInOrder() throws {
        let doc = try ConfigDocument.parse(text: "tracker_server = a:1\nx = y\ntracker_server = b:2\n", path: "t.conf")
        let items = doc.items("tracker_server")
        #expect(items.map(\.value) == ["a:1", "b:2"])
        #expect(items.map(\.location.line) == [1, 3])
        #expect(doc.value("tracker_server") == "b:2")
    }

    @Test func overlongKeyAndValueAreRejected() throws {
        let longKey = String(repeating: "k", count: 64)
        let keyError = expectThrows(ConfigError.self) { _ = try ConfigDocument.parse(text: "\(longKey) = 1\n", path: "t.conf") }
        #expect(keyError?.description.contains("t.conf:1") == true)

        let okKey = String(repeating: "k", count: 63)
        #expect(try ConfigDocument.parse(text: "\(okKey) = \(String(repeating: "v", count: 255))\n", path: "t.conf").items.count == 1)

        let valueError = expectThrows(ConfigError.self) {
            _ = try ConfigDocument.parse(text: "\n\nkey = \(String(repeating: "v", count: 256))\n", path: "t.conf")
        }
        #expect(valueError?.description.contains("t.conf:3") == true)
        #expect(valueError?.description.contains("'key'") == true)
    }

    @Test func fileSizeLimit() throws {
        var limits = ConfigLimits()
        limits.maxFileBytes = 16
        let error = expectThrows(ConfigError.self) {
            _ = try ConfigDocument.parse(text: "key = 0123456789abcdef\n", path: "t.conf", limits: limits)
        }
        guard case .fileTooLarge? = error else {
            Issue.record("expected fileTooLarge, got \(String(describing: error))")
            return
        }
    }

    @Test func missingFileIsAnError() {
        let error = expectThrows(ConfigError.self) { _ = try ConfigDocument.load(path: "/nonexistent/fdfs/x.conf") }
        #expect(error?.description.contains("/nonexistent/fdfs/x.conf") == true)
    }

    // MARK: #include

    @Test func includeIsRelativeToTheIncludingFile() throws {
        try withTemporaryDirectory { dir in
            try writeFile(dir, "sub/common.conf", "from_common = 1\n#include deeper/leaf.conf\nafter_leaf = 2\n")
            try writeFile(dir, "sub/deeper/leaf.conf", "leaf = 3\n[leafsection]\nin_section = 4\n")
            let main = try writeFile(dir, "main.conf", "first = 0\n#include sub/common.conf\n#INCLUDE\tsub/deeper/leaf.conf\nlast = 5\n")
            let doc = try ConfigDocument.load(path: main)
            #expect(doc.items.map(\.key) == ["first", "from_common", "leaf", "in_section", "after_leaf", "leaf", "in_section", "last"])
            // After an include, parsing continues in the global section.
            #expect(doc.items.first { $0.key == "after_leaf" }?.section == "")
            #expect(doc.items.first { $0.key == "last" }?.section == "")
            #expect(doc.items.first { $0.key == "in_section" }?.section == "leafsection")
            let leaf = try #require(doc.items.first { $0.key == "leaf" })
            #expect(leaf.location == ConfigLocation(path: dir + "/sub/deeper/leaf.conf", line: 1))
            #expect(doc.includedFiles == [dir + "/sub/common.conf", dir + "/sub/deeper/leaf.conf", dir + "/sub/deeper/leaf.conf"])
        }
    }

    @Test func includeCycleIsAnError() throws {
        try withTemporaryDirectory { dir in
            try writeFile(dir, "a.conf", "a = 1\n#include b.conf\n")
            try writeFile(dir, "b.conf", "b = 1\n\n#include ./a.conf\n")
            let error = expectThrows(ConfigError.self) { _ = try ConfigDocument.load(path: dir + "/a.conf") }
            guard case .includeCycle(let location, _, _)? = error else {
                Issue.record("expected includeCycle, got \(String(describing: error))")
                return
            }
            #expect(location == ConfigLocation(path: dir + "/b.conf", line: 3))
            #expect(error?.description.contains("b.conf:3") == true)
            #expect(error?.description.contains("#include") == true)
        }
    }

    @Test func selfIncludeIsACycle() throws {
        try withTemporaryDirectory { dir in
            let path = try writeFile(dir, "self.conf", "#include self.conf\n")
            let error = expectThrows(ConfigError.self) { _ = try ConfigDocument.load(path: path) }
            guard case .includeCycle? = error else {
                Issue.record("expected includeCycle, got \(String(describing: error))")
                return
            }
        }
    }

    @Test func includeDepthIsCapped() throws {
        try withTemporaryDirectory { dir in
            for i in 0..<20 { try writeFile(dir, "f\(i).conf", "k\(i) = \(i)\n#include f\(i + 1).conf\n") }
            try writeFile(dir, "f20.conf", "end = 1\n")
            let error = expectThrows(ConfigError.self) { _ = try ConfigDocument.load(path: dir + "/f0.conf") }
            guard case .includeTooDeep(_, _, let limit)? = error else {
                Issue.record("expected includeTooDeep, got \(String(describing: error))")
                return
            }
            #expect(limit == 16)

            var limits = ConfigLimits()
            limits.maxIncludeDepth = 20
            #expect(try ConfigDocument.load(path: dir + "/f0.conf", limits: limits).value("end") == "1")
        }
    }

    @Test func missingIncludeNamesTheIncludingLine() throws {
        try withTemporaryDirectory { dir in
            let path = try writeFile(dir, "main.conf", "a = 1\n#include nothere.conf\n")
            let error = expectThrows(ConfigError.self) { _ = try ConfigDocument.load(path: path) }
            #expect(error?.description.contains("main.conf:2") == true)
            #expect(error?.description.contains("nothere.conf") == true)
        }
    }

    @Test func httpIncludeIsRefused() {
        let error = expectThrows(ConfigError.self) {
            _ = try ConfigDocument.parse(text: "#include http://example.com/x.conf\n", path: "t.conf")
        }
        guard case .unsupportedInclude(let location, _, _)? = error else {
            Issue.record("expected unsupportedInclude, got \(String(describing: error))")
            return
        }
        #expect(location == ConfigLocation(path: "t.conf", line: 1))
        #expect(error?.description.contains("HTTP") == true)
    }
}

import FDFSConfig
import FDFSModel
import Testing

@Suite("storage_ids.conf")
struct StorageIDsTests {
    @Test func parsesLinesCommentsAndDefaults() throws {
        let text = """
            # comment

            100002\tgroup1   127.0.0.68:23700
            100001 group1 127.0.0.67
              # indented comment
            100003 group2 192.168.0.5,8.8.4.4:23001 rw=readonly
            """
        let ids = try StorageIDs.parse(text: text, path: "ids.conf")
        #expect(ids.entries.map(\.id.rawValue) == ["100001", "100002", "100003"])
        let first = try #require(ids.entry(id: StorageID("100001")))
        #expect(first.groupName == (try GroupName("group1")))
        #expect(first.addresses.map(\.description) == ["127.0.0.67"])
        #expect(first.port == 23000)
        #expect(first.rwMode == .both)
        let third = try #require(ids.entry(id: StorageID("100003")))
        #expect(third.addresses.map(\.description) == ["192.168.0.5", "8.8.4.4"])
        #expect(third.port == 23001)
        #expect(third.rwMode == .read)
        #expect(!ids.containsIPv6)
    }

    @Test func dualAddressesAreOrderedInnerFirst() throws {
        let ids = try StorageIDs.parse(text: "1 g 8.8.8.8,10.0.0.1:23000\n2 g 172.16.0.1,192.168.1.1\n", path: "ids.conf")
        #expect(ids.entries[0].addresses.map(\.description) == ["10.0.0.1", "8.8.8.8"])
        // Two different kinds of inner address: kept as written.
        #expect(ids.entries[1].addresses.map(\.description) == ["172.16.0.1", "192.168.1.1"])
    }

    @Test func sameKindOfAddressTwiceIsAnError() {
        let error = expectThrows(ConfigError.self) { _ = try StorageIDs.parse(text: "1 g 10.0.0.1,10.0.0.2\n", path: "ids.conf") }
        #expect(error?.key == "host")
        #expect(error?.location == ConfigLocation(path: "ids.conf", line: 1))
    }

    @Test func ipv6WithBracketsAndPort() throws {
        let ids = try StorageIDs.parse(text: "7 group1 [FD00:0:0::7]:23700\n8 group1 [2001:db8::8]\n9 group1 [10.0.0.9,2001:db8::9]:23701 rw=none\n", path: "ids.conf")
        #expect(ids.containsIPv6)
        let seven = try #require(ids.entry(id: StorageID("7")))
        #expect(seven.addresses.map(\.description) == ["fd00::7"])
        #expect(seven.port == 23700)
        #expect(ids.entry(id: try StorageID("8"))?.port == 23000)
        let nine = try #require(ids.entry(id: StorageID("9")))
        #expect(nine.addresses.map(\.description) == ["10.0.0.9", "2001:db8::9"])
        #expect(nine.rwMode == .none)
        #expect(ids.entry(ipAddress: "fd00::0:7", port: 23700)?.id == seven.id)
    }

    @Test func rwModes() throws {
        let text = "1 g 10.0.0.1 rw=both\n2 g 10.0.0.2 rw=ALL\n3 g 10.0.0.3 rw=read\n4 g 10.0.0.4 RW=writeonly\n5 g 10.0.0.5 rw=none\n6 g 10.0.0.6 rw=Write\n"
        let ids = try StorageIDs.parse(text: text, path: "ids.conf")
        #expect(ids.entries.map(\.rwMode) == [.both, .both, .read, .write, .none, .write])
        let bad = expectThrows(ConfigError.self) { _ = try StorageIDs.parse(text: "1 g 10.0.0.1 rw=sometimes\n", path: "ids.conf") }
        #expect(bad?.key == "rw")
        let unknown = expectThrows(ConfigError.self) { _ = try StorageIDs.parse(text: "1 g 10.0.0.1 weight=3\n", path: "ids.conf") }
        #expect(unknown?.key == "option")
    }

    @Test func duplicateIDIsAnError() {
        let error = expectThrows(ConfigError.self) {
            _ = try StorageIDs.parse(text: "100001 group1 10.0.0.1\n100001 group1 10.0.0.2\n", path: "ids.conf")
        }
        #expect(error?.location == ConfigLocation(path: "ids.conf", line: 2))
        #expect(error?.key == "id")
        #expect(error?.description.contains("ids.conf:2") == true)
        #expect(error?.description.contains("ids.conf:1") == true)
    }

    @Test func duplicateAddressAndPortIsAnError() throws {
        let error = expectThrows(ConfigError.self) {
            _ = try StorageIDs.parse(text: "1 group1 10.0.0.1:23000\n2 group2 8.8.8.8,10.0.0.1\n", path: "ids.conf")
        }
        #expect(error?.location == ConfigLocation(path: "ids.conf", line: 2))
        #expect(error?.key == "host")
        // Same address on another port is fine.
        #expect(try StorageIDs.parse(text: "1 g 10.0.0.1:23000\n2 g 10.0.0.1:23001\n", path: "ids.conf").entries.count == 2)
    }

    @Test(arguments: ["0123", "0", "16777216", "abc", "-1", "1.5"])
    func badIDs(id: String) {
        let error = expectThrows(ConfigError.self) { _ = try StorageIDs.parse(text: "# x\n\(id) group1 10.0.0.1\n", path: "ids.conf") }
        #expect(error?.key == "id")
        #expect(error?.description.contains("ids.conf:2") == true)
        #expect(error?.description.contains("'\(id)'") == true)
    }

    @Test(arguments: [
        ("1 group1", "line"), ("1 bad-group 10.0.0.1", "group"), ("1 g host.example.com", "host"),
        ("1 g ::1", "host"), ("1 g 10.0.0.1:0", "host"), ("1 g [::1", "host"), ("1 g 10.0.0.1,8.8.8.8,1.1.1.1", "host"),
    ])
    func badLines(line: String, key: String) {
        let error = expectThrows(ConfigError.self) { _ = try StorageIDs.parse(text: line + "\n", path: "ids.conf") }
        #expect(error?.key == key)
        #expect(error?.location.line == 1)
    }

    @Test func hostNamesAreNotSupported() {
        let error = expectThrows(ConfigError.self) { _ = try StorageIDs.parse(text: "1 g storage1.local:23000\n", path: "ids.conf") }
        #expect(error?.description.contains("host names are not supported") == true)
    }

    @Test func lookups() throws {
        let ids = try StorageIDs.parse(text: "100001 group1 127.0.0.67:23700\n100002 group2 10.0.0.1,8.8.8.8:23000\n", path: "ids.conf")
        #expect(ids.entry(id: try StorageID("100002"))?.groupName.rawValue == "group2")
        #expect(ids.entry(id: try StorageID("100003")) == nil)
        #expect(ids.entry(ipAddress: "127.0.0.67", port: 23700)?.id.rawValue == "100001")
        #expect(ids.entry(ipAddress: "127.0.0.67", port: 23000) == nil)
        #expect(ids.entry(ipAddress: "8.8.8.8", port: 23000)?.id.rawValue == "100002")
        #expect(ids.entry(groupName: try GroupName("group2"), ipAddress: "10.0.0.1", port: 23000)?.id.rawValue == "100002")
        #expect(ids.entry(groupName: try GroupName("group1"), ipAddress: "10.0.0.1", port: 23000) == nil)
    }

    @Test func formatMatchesFetchStorageIDsLinesAndRoundTrips() throws {
        let text = """
            100003 group2 [2001:db8::3]:23000 rw=write
            100001 group1 8.8.8.8,10.0.0.1:23700
            100002 group1 127.0.0.68 rw=read
            100004 group3 [10.0.0.4,2001:DB8::4] rw=all
            100005 group3 127.0.0.5:23005 rw=none
            """
        let ids = try StorageIDs.parse(text: text, path: "ids.conf")
        let formatted = ids.formatted()
        #expect(formatted == """
            100001 group1 10.0.0.1,8.8.8.8:23700
            100002 group1 127.0.0.68:23000 rw=read
            100003 group2 [2001:db8::3]:23000 rw=write
            100004 group3 [10.0.0.4,2001:db8::4]:23000
            100005 group3 127.0.0.5:23005 rw=none

            """)
        let reparsed = try StorageIDs.parse(text: formatted, path: "fetched")
        #expect(reparsed == ids)
        #expect(reparsed.formatted() == formatted)
    }
}

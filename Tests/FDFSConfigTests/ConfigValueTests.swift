import FDFSConfig
import Testing

@Suite("value syntax")
struct ConfigValueTests {
    @Test(arguments: [
        ("256KB", Int64(262_144)), ("1M", 1_048_576), ("2GB", 2_147_483_648), ("64mb", 67_108_864),
        ("512", 512), ("100B", 100), ("8k", 8192), ("1T", 1_099_511_627_776), ("16 MB", 16_777_216), ("0", 0),
    ])
    func sizes(text: String, bytes: Int64) throws {
        #expect(try ConfigValue.parseSize(text) == bytes)
    }

    @Test(arguments: ["", "KB", "-1", "1.5M", "12X", "10KBB", "1 2", "99999999999999T"])
    func badSizes(text: String) {
        #expect(throws: ConfigValueError.self) { try ConfigValue.parseSize(text) }
    }

    @Test func percentages() throws {
        #expect(try ConfigValue.parsePercent("10%") == 10)
        #expect(try ConfigValue.parsePercent("1.5%") == 1.5)
        #expect(try ConfigValue.parsePercent("0%") == 0)
        for bad in ["10", "%", "abc%", "1.2.3%", "101%", "-5%", "1e2%"] {
            #expect(throws: ConfigValueError.self, "\(bad)") { try ConfigValue.parsePercent(bad) }
        }
    }

    @Test func reservedStorageSpace() throws {
        #expect(try ConfigValue.parseReservedStorageSpace("10%") == .percent(10))
        #expect(try ConfigValue.parseReservedStorageSpace("1024MB") == .bytes(1_073_741_824))
        #expect(try ConfigValue.parseReservedStorageSpace("20G") == .bytes(21_474_836_480))
        for bad in ["0%", "100%", "150%", "lots"] {
            #expect(throws: ConfigValueError.self, "\(bad)") { try ConfigValue.parseReservedStorageSpace(bad) }
        }
    }

    @Test func booleans() throws {
        for text in ["true", "TRUE", "Yes", "on", "1"] { #expect(try ConfigValue.parseBool(text) == true) }
        for text in ["false", "No", "OFF", "0"] { #expect(try ConfigValue.parseBool(text) == false) }
        for text in ["ture", "2", "enabled", "y"] {
            #expect(throws: ConfigValueError.self, "\(text)") { try ConfigValue.parseBool(text) }
        }
    }

    @Test func integers() throws {
        #expect(try ConfigValue.parseInteger("42", in: 0...100) == 42)
        #expect(try ConfigValue.parseInteger("-3", in: -5...5) == -3)
        #expect(throws: ConfigValueError.self) { try ConfigValue.parseInteger("abc", in: 0...100) }
        #expect(throws: ConfigValueError.self) { try ConfigValue.parseInteger("12abc", in: 0...100) }
        #expect(throws: ConfigValueError.self) { try ConfigValue.parseInteger("101", in: 0...100) }
    }

    @Test func timesOfDay() throws {
        #expect(try ConfigValue.parseTimeOfDay("02:00") == TimeOfDay(hour: 2, minute: 0))
        #expect(try ConfigValue.parseTimeOfDay("23:59") == TimeOfDay(hour: 23, minute: 59))
        #expect(try ConfigValue.parseTimeOfDay("1:30") == TimeOfDay(hour: 1, minute: 30))
        #expect(try ConfigValue.parseTimeOfDay("01:30:15").secondsSinceMidnight == 5415)
        #expect(TimeOfDay(hour: 3, minute: 5).description == "03:05")
        for bad in ["24:00", "12:60", "noon", "12", "12:", ":30", "123:00", "1:2:3:4"] {
            #expect(throws: ConfigValueError.self, "\(bad)") { try ConfigValue.parseTimeOfDay(bad) }
        }
    }

    // MARK: server addresses

    @Test func serverAddresses() throws {
        #expect(try ServerAddress.parse("127.0.0.61:22722", defaultPort: 22122) == ServerAddress(host: "127.0.0.61", port: 22722))
        #expect(try ServerAddress.parse("tracker.local", defaultPort: 22122) == ServerAddress(host: "tracker.local", port: 22122))
        #expect(try ServerAddress.parse("10.0.0.1,8.8.8.8:22122", defaultPort: 1) == ServerAddress(hosts: ["10.0.0.1", "8.8.8.8"], port: 22122))
        let mixed = try ServerAddress.parse("[10.0.0.1,2001:db8::1]:22122", defaultPort: 1)
        #expect(mixed.hosts == ["10.0.0.1", "2001:db8::1"])
        #expect(mixed.description == "[10.0.0.1,2001:db8::1]:22122")
        #expect(try ServerAddress.parse("[::1]", defaultPort: 22122) == ServerAddress(host: "::1", port: 22122))
        #expect(try ServerAddress.parse("[::1]:9", defaultPort: 22122).description == "[::1]:9")
        #expect(try ServerAddress.parse("127.0.0.1:22122", defaultPort: 1).description == "127.0.0.1:22122")
    }

    @Test(arguments: ["", ":22122", "host:0", "host:70000", "host:abc", "::1:22122", "[::1", "[::1]x", "[nothost]:1",
                      "a,b,c:1", "10.0.0.1,10.0.0.2:1", "[fd00::1,2001:db8::1]:1", "bad host:1", "host,:1", "256.1.1.1:22122", "10.0.0:22122"])
    func badServerAddresses(text: String) {
        #expect(throws: ConfigValueError.self) { try ServerAddress.parse(text, defaultPort: 22122) }
    }

    @Test func serverListIsDeduplicatedAndSorted() {
        let list = [
            ServerAddress(host: "192.168.0.2", port: 22122), ServerAddress(host: "127.0.0.1", port: 22123),
            ServerAddress(host: "127.0.0.1", port: 22122), ServerAddress(host: "192.168.0.10", port: 22122),
            ServerAddress(host: "127.0.0.1", port: 22123),
        ]
        #expect(ServerAddress.normalizedList(list).map(\.description) == [
            "127.0.0.1:22122", "127.0.0.1:22123", "192.168.0.10:22122", "192.168.0.2:22122",
        ])
    }

    // MARK: IP literals

    @Test(arguments: [
        ("::1", "::1"), ("::", "::"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("fe80:0:0:1:0:0:0:1", "fe80:0:0:1::1"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"), ("0:0:0:0:0:ffff:0102:0304", "::ffff:1.2.3.4"), ("1::", "1::"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"), ("10.1.2.3", "10.1.2.3"),
    ])
    func ipLiterals(text: String, canonical: String) throws {
        let address = try #require(IPAddressLiteral(text))
        #expect(address.description == canonical)
        #expect(IPAddressLiteral(canonical) == address)
    }

    @Test(arguments: ["", "1.2.3", "256.1.1.1", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", ":1:2", "1.2.3.4::", "host"])
    func badIPLiterals(text: String) {
        #expect(IPAddressLiteral(text) == nil)
    }

    @Test func addressClasses() throws {
        #expect(try #require(IPAddressLiteral("10.1.1.1")).addressClass == .private10)
        #expect(try #require(IPAddressLiteral("172.20.0.1")).addressClass == .private172)
        #expect(try #require(IPAddressLiteral("192.168.1.1")).addressClass == .private192)
        #expect(try #require(IPAddressLiteral("8.8.8.8")).addressClass == .outer)
        #expect(try #require(IPAddressLiteral("fd00::1")).addressClass == .outer)
    }
}

import FDFSServerCore
import NIOCore
import Testing

@Suite("allow_hosts")
struct AllowedHostsTests {
    func address(_ text: String) throws -> SocketAddress { try SocketAddress(ipAddress: text, port: 40000) }

    @Test("an empty list, blank values or * admit everyone", arguments: [[String](), ["  "], ["*"], ["10.0.0.1", "*"]])
    func everyone(values: [String]) throws {
        let hosts = try AllowedHosts(values)
        #expect(hosts.allowsEveryone)
        #expect(hosts.allows(try address("192.168.7.7")))
        #expect(hosts.allows(try address("2001:db8::1")))
    }

    @Test func ipv4Literal() throws {
        let hosts = try AllowedHosts(["10.0.0.7", " 192.168.1.1 "])
        #expect(!hosts.allowsEveryone)
        #expect(hosts.allows(try address("10.0.0.7")))
        #expect(hosts.allows(try address("192.168.1.1")))
        #expect(!hosts.allows(try address("10.0.0.8")))
        #expect(!hosts.allows(try address("127.0.0.1")))
    }

    @Test func ipv6Literal() throws {
        let hosts = try AllowedHosts(["2001:db8::1"])
        #expect(hosts.allows(try address("2001:0db8:0:0:0:0:0:1")))
        #expect(!hosts.allows(try address("2001:db8::2")))
        #expect(!hosts.allows(try address("10.0.0.1")))
    }

    @Test("an IPv4 peer seen on a dual-stack listener matches its IPv4 entry")
    func ipv4MappedPeer() throws {
        let hosts = try AllowedHosts(["10.0.0.7", "172.16.0.0/12"])
        #expect(hosts.allows(try address("::ffff:10.0.0.7")))
        #expect(hosts.allows(try address("::ffff:172.20.1.1")))
        #expect(!hosts.allows(try address("::ffff:10.0.0.8")))
    }

    @Test func cidr() throws {
        let hosts = try AllowedHosts(["10.0.0.0/8", "192.168.1.77/24", "fd00::/8"])
        #expect(hosts.allows(try address("10.255.3.4")))
        #expect(!hosts.allows(try address("11.0.0.1")))
        #expect(hosts.allows(try address("192.168.1.1")), "host bits in the configured address are ignored")
        #expect(!hosts.allows(try address("192.168.2.1")))
        #expect(hosts.allows(try address("fd12:3456::1")))
        #expect(!hosts.allows(try address("fe80::1")))
    }

    @Test func cidrEdges() throws {
        let all = try AllowedHosts(["0.0.0.0/0"])
        #expect(all.allows(try address("203.0.113.9")))
        #expect(!all.allows(try address("::1")), "an IPv4 block does not match IPv6 peers")
        let one = try AllowedHosts(["10.1.2.3/32"])
        #expect(one.allows(try address("10.1.2.3")))
        #expect(!one.allows(try address("10.1.2.2")))
        let odd = try AllowedHosts(["10.1.2.128/25"])
        #expect(odd.allows(try address("10.1.2.200")))
        #expect(!odd.allows(try address("10.1.2.127")))
    }

    @Test func range() throws {
        let hosts = try AllowedHosts(["10.0.1.[1-15,20]"])
        for last in 1...15 { #expect(hosts.allows(try address("10.0.1.\(last)"))) }
        #expect(hosts.allows(try address("10.0.1.20")))
        #expect(!hosts.allows(try address("10.0.1.0")))
        #expect(!hosts.allows(try address("10.0.1.16")))
        #expect(!hosts.allows(try address("10.0.1.21")))
    }

    @Test("a range may stand in the middle of the address")
    func rangeInTheMiddle() throws {
        let hosts = try AllowedHosts(["10.0.[2-3].9"])
        #expect(hosts.allows(try address("10.0.2.9")))
        #expect(hosts.allows(try address("10.0.3.9")))
        #expect(!hosts.allows(try address("10.0.4.9")))
    }

    @Test("a zero-padded bound keeps its width, as libfastcommon expands it")
    func zeroPaddedRange() throws {
        // 10.0.1.01 is not a valid IPv4 literal, so a padded range over the last octet fails...
        #expect(throws: FDFSServerError.self) { try AllowedHosts(["10.0.1.[01-03]"]) }
        // ...while padding inside an IPv6 group is fine: fd00::0001 ... fd00::0003.
        let hosts = try AllowedHosts(["fd00::[0001-0003]"])
        #expect(hosts.allows(try address("fd00::2")))
        #expect(!hosts.allows(try address("fd00::4")))
    }

    @Test("host names are refused with a clear error", arguments: ["tracker.example.com", "localhost", "host[01-08].domain"])
    func hostNames(value: String) {
        #expect {
            try AllowedHosts([value])
        } throws: { error in
            (error as? FDFSServerError)?.kind == .hostNameNotSupported && "\(error)".contains("host names are not supported")
        }
    }

    @Test("malformed values are errors", arguments: [
        "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/x", "::/129",
        "10.0.1.[5-1]", "10.0.1.[]", "10.0.1.[1-2", "10.0.[1-2].[3-4]", "10.0.1.[a-b]", "10.0.1.[1-300]",
        "10.0.0.1 # comment",
    ])
    func malformed(value: String) {
        #expect(throws: FDFSServerError.self) { try AllowedHosts([value]) }
    }

    @Test func rangeExpansionIsBounded() {
        #expect(throws: FDFSServerError.self) { try AllowedHosts(["fd00::[0-70000]"]) }
    }

    @Test func unixDomainPeersNeedEveryone() throws {
        let socket = try SocketAddress(unixDomainSocketPath: "/tmp/fdfs-test.sock")
        #expect(!(try AllowedHosts(["10.0.0.0/8"]).allows(socket)))
        #expect(AllowedHosts.everyone.allows(socket))
    }
}

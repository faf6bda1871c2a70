import FDFSProtocol
import FDFSServerCore
import NIOCore
import Testing

@Suite("ServerSettings")
struct ServerSettingsTests {
    @Test("from configuration keys: an empty bind_addr listens on every IPv4 interface")
    func fromConfiguration() throws {
        let settings = try ServerSettings(bindAddresses: [], port: 22122, maxConnections: 100, networkTimeoutSeconds: 30,
                                          allowHosts: ["10.0.0.0/8"], role: .tracker,
                                          limits: FDFSLimits(maxBufferedBodyBytes: 1000))
        #expect(settings.host == "0.0.0.0")
        #expect(settings.port == 22122)
        #expect(settings.maxConnections == 100)
        #expect(settings.networkTimeout == .seconds(30))
        #expect(settings.framingPolicy.limits.maxBufferedBodyBytes == 1000)
        #expect(settings.allowedHosts.allows(try SocketAddress(ipAddress: "10.1.1.1", port: 1)))
        #expect(!settings.allowedHosts.allows(try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
    }

    @Test func bindAddress() throws {
        let settings = try ServerSettings(bindAddresses: [" 192.168.0.5 "], port: 23000, maxConnections: 1,
                                          networkTimeoutSeconds: 1, allowHosts: [], role: .storage)
        #expect(settings.host == "192.168.0.5")
        #expect(settings.allowedHosts.allowsEveryone)
    }

    @Test func rejectsSeveralBindAddresses() {
        #expect {
            try ServerSettings(bindAddresses: ["10.0.0.1", "10.0.0.2"], port: 23000, maxConnections: 1,
                               networkTimeoutSeconds: 1, allowHosts: [], role: .storage)
        } throws: { ($0 as? FDFSServerError)?.kind == .invalidBindAddress }
    }

    @Test func rejectsOutOfRangeLimits() {
        #expect(throws: FDFSServerError.self) {
            try ServerSettings(bindAddresses: [], port: 23000, maxConnections: 0, networkTimeoutSeconds: 1, allowHosts: [], role: .storage)
        }
        #expect(throws: FDFSServerError.self) {
            try ServerSettings(bindAddresses: [], port: 23000, maxConnections: 1, networkTimeoutSeconds: 0, allowHosts: [], role: .storage)
        }
        #expect(throws: FDFSServerError.self) {
            try ServerSettings(bindAddresses: [], port: 70000, maxConnections: 1, networkTimeoutSeconds: 1, allowHosts: [], role: .storage)
        }
    }

    @Test("run() refuses invalid settings before binding")
    func runValidates() async throws {
        var settings = testSettings()
        settings.networkTimeout = .zero
        let server = FDFSServer(settings: settings, handler: TestHandler(), logger: testLogger)
        await #expect { try await server.run() } throws: { ($0 as? FDFSServerError)?.kind == .invalidSetting }
        await #expect(throws: FDFSServerError.self) { try await server.waitUntilListening() }
    }

    @Test func rejectsHostNamesInAllowHosts() {
        #expect {
            try ServerSettings(bindAddresses: [], port: 23000, maxConnections: 1, networkTimeoutSeconds: 1,
                               allowHosts: ["client.example.com"], role: .storage)
        } throws: { ($0 as? FDFSServerError)?.kind == .hostNameNotSupported }
    }
}

import FDFSProtocol
public import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Which kind of server a connection goes to (for messages).
public enum ServerRole: String, Sendable {
    case tracker, storage
}

/// A server could not be reached or stopped answering: the request did not get a response.
/// (A server that answers with a non-zero status is `FDFSClientError.status` instead.)
public struct ServerUnavailableError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        case refused
        case connectTimedOut(seconds: Int64)
        case networkTimedOut(seconds: Int64)
        case closed
        case other(String)
    }

    public var role: ServerRole
    /// `host:port`.
    public var address: String
    public var reason: Reason

    public init(role: ServerRole, address: String, reason: Reason) {
        self.role = role
        self.address = address
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .refused: "\(role) \(address) refused the connection"
        case .connectTimedOut(let s): "\(role) \(address) did not accept the connection within \(s) s (connect_timeout)"
        case .networkTimedOut(let s): "\(role) \(address) did not answer within \(s) s (network_timeout)"
        case .closed: "\(role) \(address) closed the connection"
        case .other(let why): "\(role) \(address) is unreachable: \(why)"
        }
    }

    /// The unavailability `error` means for a request to `address`, or nil when `error` is
    /// something else (a status answer, a local file error, a bad argument).
    public static func classify(_ error: any Error, role: ServerRole, address: String) -> ServerUnavailableError? {
        if let known = error as? ServerUnavailableError { return known }
        let reason: Reason
        switch error {
        case FDFSClientError.connectionClosed: reason = .closed
        case FDFSClientError.timedOut(let s): reason = .networkTimedOut(seconds: s)
        case let e as ChannelError:
            if case .connectTimeout(let t) = e {
                reason = .connectTimedOut(seconds: t.nanoseconds / 1_000_000_000)
            } else {
                reason = .other("\(e)")
            }
        case let e as IOError where e.errnoCode == ECONNREFUSED: reason = .refused
        case let e as IOError where [ECONNRESET, EPIPE, ENOTCONN].contains(e.errnoCode): reason = .closed
        case let e as IOError: reason = .other(String(cString: strerror(e.errnoCode)))
        case let e as NIOConnectionError:
            let errnos = e.connectionErrors.compactMap { ($0.error as? IOError)?.errnoCode }
            if errnos.contains(ECONNREFUSED) {
                reason = .refused
            } else if let first = e.connectionErrors.first?.error {
                return classify(first, role: role, address: address)
            } else if e.dnsAError != nil || e.dnsAAAAError != nil {
                reason = .other("its host name did not resolve")
            } else {
                reason = .other("\(e)")
            }
        default: return nil
        }
        return ServerUnavailableError(role: role, address: address, reason: reason)
    }
}

/// How the client connects: timeouts (client.conf `connect_timeout`, `network_timeout`), the
/// local address, and how long an unused pooled connection stays open.
public struct ConnectionSettings: Hashable, Sendable {
    public var connectTimeout: TimeAmount = .seconds(10)
    public var networkTimeout: TimeAmount = .seconds(30)
    public var bindAddress: String?
    /// `connection_pool_max_idle_time`: idle connections older than this are closed, not reused.
    public var maxIdleTime: TimeAmount = .seconds(3600)
    public init() {}
}

/// Open connections to trackers and storages, kept per `host:port` for reuse by later
/// requests of the same client. A connection goes back to the pool only after a request
/// that succeeded or got an ENOENT/EEXIST answer (after other errors a FastDFS server may
/// close it, protocol spec §9.3); connections idle for longer than `maxIdleTime` or no longer
/// open are closed instead of reused.
public actor ConnectionPool {
    public let settings: ConnectionSettings
    private var idle: [String: [(connection: FDFSClientConnection, since: NIODeadline)]] = [:]
    /// Bound on idle connections kept per server.
    static let maxIdlePerServer = 8

    public init(settings: ConnectionSettings) { self.settings = settings }

    /// Runs `body` with a connection to `host:port` (pooled or new). Connection failures are
    /// thrown as `ServerUnavailableError`.
    public nonisolated func withConnection<T: Sendable>(role: ServerRole, host: String, port: Int,
                                                        _ body: (FDFSClientConnection) async throws -> T) async throws -> T {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let connection: FDFSClientConnection
        if let reused = await checkout(address) {
            connection = reused
        } else {
            do {
                connection = try await FDFSClientConnection.connect(host: host, port: port, bindAddress: settings.bindAddress,
                                                                    connectTimeout: settings.connectTimeout,
                                                                    networkTimeout: settings.networkTimeout)
            } catch {
                if var unavailable = ServerUnavailableError.classify(error, role: role, address: address) {
                    if case .connectTimedOut = unavailable.reason {
                        unavailable.reason = .connectTimedOut(seconds: settings.connectTimeout.nanoseconds / 1_000_000_000)
                    }
                    throw unavailable
                }
                throw error
            }
        }
        do {
            let result = try await body(connection)
            await checkin(connection, address)
            return result
        } catch {
            if let status = (error as? FDFSClientError)?.status, status == .ENOENT || status == .EEXIST {
                await checkin(connection, address)
            } else {
                await connection.close()
            }
            if let unavailable = ServerUnavailableError.classify(error, role: role, address: address) { throw unavailable }
            throw error
        }
    }

    private func checkout(_ address: String) -> FDFSClientConnection? {
        let now = NIODeadline.now()
        while var list = idle[address], let last = list.popLast() {
            idle[address] = list
            if last.connection.channel.isActive && now - last.since < settings.maxIdleTime { return last.connection }
            last.connection.channel.close(promise: nil)
        }
        return nil
    }

    private func checkin(_ connection: FDFSClientConnection, _ address: String) {
        guard connection.channel.isActive, idle[address, default: []].count < Self.maxIdlePerServer else {
            connection.channel.close(promise: nil)
            return
        }
        idle[address, default: []].append((connection, NIODeadline.now()))
    }

    /// Closes every idle connection.
    public func closeAll() async {
        let all = idle.values.flatMap { $0 }
        idle = [:]
        for entry in all { await entry.connection.close() }
    }
}

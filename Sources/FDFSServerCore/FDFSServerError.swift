/// Why a server could not be configured or started. Errors of the connections themselves
/// never surface here: they end that connection only (logged by the server).
public struct FDFSServerError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// An `allow_hosts` value that is not `*`, an IP address, a CIDR block or a range of
        /// IP addresses.
        case invalidAllowHosts
        /// `allow_hosts` names a host: resolving names is not supported (yet), and silently
        /// ignoring the entry would lock out the clients it was meant to admit.
        case hostNameNotSupported
        /// `bind_addr` names more than one address; a server listens on one.
        case invalidBindAddress
        /// A limit or timeout out of range (`max_connections`, `network_timeout`).
        case invalidSetting
        /// `run()` was called on a server that already ran.
        case alreadyStarted
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }
}

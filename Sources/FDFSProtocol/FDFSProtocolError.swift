public import FDFSModel

/// A packet that does not follow the protocol. Every case maps to a wire status (EINVAL for
/// almost all, as the C servers answer) and says in words what was wrong.
public struct FDFSProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// `pkg_len` is negative. Servers close the connection without replying.
        case negativeLength
        /// A command code the receiver does not know.
        case unknownCommand
        /// A non-streaming body larger than the configured maximum.
        case bodyTooLarge
        /// The fixed part (fields and names in front of streamed content) is larger than the
        /// command allows.
        case fixedPartTooLarge
        /// Metadata larger than its limit.
        case metadataTooLarge
        /// The body length does not match what the command's fields require.
        case wrongBodyLength
        /// A field holds a value the command does not allow.
        case invalidField
        /// A text field that must be a name (group, storage id, file name) is not valid.
        case invalidName
        /// A streamed body ended before its announced length (connection closed).
        case truncated
        /// An address text too long for its field (GET_GROUP_NAME answers ENAMETOOLONG).
        case nameTooLong
    }

    public var kind: Kind
    public var command: UInt8?
    public var detail: String

    public init(_ kind: Kind, command: UInt8? = nil, _ detail: String) {
        self.kind = kind
        self.command = command
        self.detail = detail
    }

    /// The status a server answers with. FastDFS uses EINVAL for every malformed request,
    /// except ENAMETOOLONG for an over-long IP in GET_GROUP_NAME.
    public var status: FDFSStatus { kind == .nameTooLong ? .ENAMETOOLONG : .EINVAL }

    /// Whether a server must close the connection without sending any reply (negative length,
    /// as both C servers do).
    public var closesSilently: Bool { kind == .negativeLength }

    public var description: String {
        if let command { return "command \(command): \(detail)" }
        return detail
    }

    func with(command: UInt8) -> FDFSProtocolError {
        var copy = self
        if copy.command == nil { copy.command = command }
        return copy
    }
}

public import NIOCore
public import FDFSModel

/// The 10-byte header in front of every request and response (protocol spec §1.2):
/// body length (i64 BE, header excluded), command code, status.
public struct FDFSHeader: Hashable, Sendable, CustomStringConvertible {
    public static let size = 10
    /// Command byte of every response.
    public static let responseCommand: UInt8 = 100

    public var bodyLength: Int64
    public var command: UInt8
    public var status: UInt8

    public init(bodyLength: Int64, command: UInt8, status: UInt8 = 0) {
        self.bodyLength = bodyLength
        self.command = command
        self.status = status
    }

    /// A response header: command 100.
    public static func response(bodyLength: Int64, status: FDFSStatus = .success) -> FDFSHeader {
        FDFSHeader(bodyLength: bodyLength, command: responseCommand, status: status.rawValue)
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(bodyLength, endianness: .big)
        buffer.writeInteger(command)
        buffer.writeInteger(status)
    }

    /// Reads a header if 10 bytes are available; nil (nothing consumed) otherwise. Lengths are
    /// not checked here: the frame decoder applies the limits.
    public static func decode(from buffer: inout ByteBuffer) -> FDFSHeader? {
        guard buffer.readableBytes >= size,
              let length = buffer.readInteger(endianness: .big, as: Int64.self),
              let command = buffer.readInteger(as: UInt8.self),
              let status = buffer.readInteger(as: UInt8.self) else { return nil }
        return FDFSHeader(bodyLength: length, command: command, status: status)
    }

    public var description: String { "header(len \(bodyLength), cmd \(command), status \(status))" }
}

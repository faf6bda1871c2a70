public import NIOCore
public import FDFSModel

/// Width of IP address fields: 16 (`IPV4_ADDRESS_SIZE`) or 46 (`IPV6_ADDRESS_SIZE`).
/// The tracker's `response_ip_addr_size` picks it for client replies (protocol spec §10.2).
public enum IPAddressSize: Int, Hashable, Sendable, CaseIterable {
    case ipv4 = 16
    case ipv6 = 46

    /// Query replies use the width minus one (15 or 45) for their IP text.
    public var queryFieldWidth: Int { rawValue - 1 }
}

/// Field widths shared by many commands (protocol spec §2.4).
public enum FieldWidth {
    public static let groupName = 16
    public static let groupNameInRecord = 17
    public static let storageID = 16
    public static let version = 8
    public static let fileExtension = 6
    public static let slavePrefix = 16
    public static let ipPortText = 52
    public static let ipAddress = 46
    public static let maxRemoteFilename = RemoteFilename.maxLength
}

extension ByteBuffer {
    /// Writes `text` into a fixed-width field: truncated to `width` bytes, padded with NUL.
    @inlinable
    public mutating func writeFixedText(_ text: String, width: Int) {
        var written = 0
        for byte in text.utf8 {
            if written == width { break }
            writeInteger(byte)
            written += 1
        }
        if written < width { writeRepeatingByte(0, count: width - written) }
    }

    /// Reads a fixed-width text field; the text ends at the first NUL (anything after it is
    /// ignored, as the C readers do).
    @inlinable
    public mutating func readFixedText(width: Int) -> String? {
        guard let bytes = readBytes(length: width) else { return nil }
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    /// Reads all remaining bytes as text (trailing-remainder fields, spec §2.3).
    @inlinable
    public mutating func readRemainingText() -> String {
        readString(length: readableBytes) ?? ""
    }

    @inlinable
    public mutating func writeInt64(_ value: Int64) { writeInteger(value, endianness: .big) }
    @inlinable
    public mutating func writeInt32(_ value: Int32) { writeInteger(value, endianness: .big) }
}

/// Reading helpers that throw protocol errors instead of returning nil, so message decoders
/// read like the layout tables in the spec.
public struct FieldReader {
    public var buffer: ByteBuffer
    public let command: UInt8

    public init(_ buffer: ByteBuffer, command: UInt8) {
        self.buffer = buffer
        self.command = command
    }

    public var remaining: Int { buffer.readableBytes }

    func short(_ what: String) -> FDFSProtocolError {
        FDFSProtocolError(.wrongBodyLength, command: command, "body too short for \(what)")
    }

    public mutating func int64(_ what: String) throws(FDFSProtocolError) -> Int64 {
        guard let v = buffer.readInteger(endianness: .big, as: Int64.self) else { throw short(what) }
        return v
    }

    public mutating func int32(_ what: String) throws(FDFSProtocolError) -> Int32 {
        guard let v = buffer.readInteger(endianness: .big, as: Int32.self) else { throw short(what) }
        return v
    }

    public mutating func uint16(_ what: String) throws(FDFSProtocolError) -> UInt16 {
        guard let v = buffer.readInteger(endianness: .big, as: UInt16.self) else { throw short(what) }
        return v
    }

    public mutating func uint8(_ what: String) throws(FDFSProtocolError) -> UInt8 {
        guard let v = buffer.readInteger(as: UInt8.self) else { throw short(what) }
        return v
    }

    public mutating func text(width: Int, _ what: String) throws(FDFSProtocolError) -> String {
        guard let v = buffer.readFixedText(width: width) else { throw short(what) }
        return v
    }

    /// A length field that must lie in `range` (names, counts).
    public mutating func length(_ what: String, in range: ClosedRange<Int64>) throws(FDFSProtocolError) -> Int {
        let v = try int64(what)
        guard range.contains(v) else {
            throw FDFSProtocolError(.invalidField, command: command, "\(what) \(v) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(v)
    }

    /// Exactly `count` bytes of text (a length-prefixed name).
    public mutating func text(count: Int, _ what: String) throws(FDFSProtocolError) -> String {
        guard count >= 0, let v = buffer.readString(length: count) else { throw short(what) }
        return v
    }

    public mutating func bytes(count: Int, _ what: String) throws(FDFSProtocolError) -> [UInt8] {
        guard count >= 0, let v = buffer.readBytes(length: count) else { throw short(what) }
        return v
    }

    public mutating func remainingText() -> String { buffer.readRemainingText() }
    public mutating func remainingBytes() -> [UInt8] { buffer.readBytes(length: buffer.readableBytes) ?? [] }

    public mutating func group(_ what: String = "group name", width: Int = FieldWidth.groupName) throws(FDFSProtocolError) -> GroupName {
        let t = try text(width: width, what)
        do {
            return try GroupName(t)
        } catch {
            throw FDFSProtocolError(.invalidName, command: command, "\(what): \(error)")
        }
    }

    /// A body that is exactly one 16-byte storage id field, not empty.
    public mutating func storageIDBody(_ what: String) throws(FDFSProtocolError) -> StorageID {
        try requireLength(remaining == 16, "body must be 16 bytes, got \(remaining)")
        guard let id = try storageID(what) else { throw FDFSProtocolError(.invalidName, command: command, "\(what) is empty") }
        return id
    }

    public mutating func storageID(_ what: String = "storage id") throws(FDFSProtocolError) -> StorageID? {
        let t = try text(width: FieldWidth.storageID, what)
        return try Self.optionalStorageID(t, what, command: command)
    }

    static func optionalStorageID(_ t: String, _ what: String, command: UInt8) throws(FDFSProtocolError) -> StorageID? {
        if t.isEmpty { return nil }
        do {
            return try StorageID(t)
        } catch {
            throw FDFSProtocolError(.invalidName, command: command, "\(what): \(error)")
        }
    }

    public func expectEnd(_ what: String) throws(FDFSProtocolError) {
        guard buffer.readableBytes == 0 else {
            throw FDFSProtocolError(.wrongBodyLength, command: command, "\(buffer.readableBytes) unexpected bytes after \(what)")
        }
    }

    public func requireLength(_ allowed: Bool, _ message: @autoclosure () -> String) throws(FDFSProtocolError) {
        guard allowed else { throw FDFSProtocolError(.wrongBodyLength, command: command, message()) }
    }
}

extension ByteBuffer {
    @inlinable
    public mutating func writeGroup(_ group: GroupName, width: Int = FieldWidth.groupName) {
        writeFixedText(group.rawValue, width: width)
    }

    @inlinable
    public mutating func writeStorageID(_ id: StorageID?) {
        writeFixedText(id?.rawValue ?? "", width: FieldWidth.storageID)
    }
}

public import NIOCore
public import FDFSModel

// Client -> storage: file operations (protocol spec §5).

func checkFileNameCharacters(_ text: String, _ what: String, maxLength: Int, allowEmpty: Bool, command: UInt8) throws(FDFSProtocolError) {
    let b = Array(text.utf8)
    guard b.count <= maxLength, allowEmpty || !b.isEmpty, b.allSatisfy(ASCII.isFileNameCharacter) else {
        throw FDFSProtocolError(.invalidField, command: command,
                                "\(what) '\(text)' must be \(allowEmpty ? 0 : 1)...\(maxLength) characters of A-Z a-z 0-9 . _ -")
    }
}

/// Upload (11) and upload appender (23): store path index (i8, -1 = storage chooses), file
/// size (i64), extension (6), then the content.
public protocol UploadRequest: FDFSStreamingRequest where Response == UploadResponse {
    var storePathIndex: Int8 { get }
    var fileSize: Int64 { get }
    var fileExtension: String { get }
    init(storePathIndex: Int8, fileSize: Int64, fileExtension: String)
}

extension UploadRequest {
    public static var fixedPrefixLength: Int { 15 }
    public var contentLength: Int64 { fileSize }

    public static func framing(prefix: ByteBuffer, headerStatus: UInt8) throws(FDFSProtocolError) -> StreamFraming {
        StreamFraming(fixedLength: 15, contentLength: try prefixField(prefix, at: 1, "file size", in: 0...Int64.max))
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInteger(storePathIndex)
        b.writeInt64(fileSize)
        b.writeFixedText(fileExtension, width: FieldWidth.fileExtension)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let index = Int8(bitPattern: try r.uint8("store path index"))
        let size = try r.int64("file size")
        guard size >= 0 else { throw FDFSProtocolError(.invalidField, command: command, "file size \(size) is negative") }
        let ext = try r.text(width: FieldWidth.fileExtension, "extension")
        try checkFileNameCharacters(ext, "extension", maxLength: 6, allowEmpty: true, command: command)
        return Self(storePathIndex: index, fileSize: size, fileExtension: ext)
    }
}

public struct UploadFileRequest: UploadRequest {
    public static let command = StorageCommand.uploadFile.rawValue
    /// The store-path byte meaning "the storage chooses".
    public static let anyStorePath: Int8 = -1
    public var storePathIndex: Int8
    public var fileSize: Int64
    public var fileExtension: String
    public init(storePathIndex: Int8, fileSize: Int64, fileExtension: String) {
        self.storePathIndex = storePathIndex
        self.fileSize = fileSize
        self.fileExtension = fileExtension
    }
}

public struct UploadAppenderFileRequest: UploadRequest {
    public static let command = StorageCommand.uploadAppenderFile.rawValue
    public var storePathIndex: Int8
    public var fileSize: Int64
    public var fileExtension: String
    public init(storePathIndex: Int8, fileSize: Int64, fileExtension: String) {
        self.storePathIndex = storePathIndex
        self.fileSize = fileSize
        self.fileExtension = fileExtension
    }
}

/// Reply of uploads, slave upload, regenerate and create-link: group + remote filename.
public struct UploadResponse: FDFSBody {
    public var group: GroupName
    public var remoteFilename: String

    public init(group: GroupName, remoteFilename: String) {
        self.group = group
        self.remoteFilename = remoteFilename
    }

    public init(_ fileID: FileID) {
        self.group = fileID.group
        self.remoteFilename = fileID.remoteFilename.text
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeString(remoteFilename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining > 16 && r.remaining <= 16 + 128, "upload reply must be 17...144 bytes, got \(r.remaining)")
        return Self(group: try r.group(), remoteFilename: r.remainingText())
    }
}

/// UPLOAD_SLAVE_FILE (21): master name length, file size, prefix (16), extension (6), master
/// name, then the content.
public struct UploadSlaveFileRequest: FDFSStreamingRequest {
    public typealias Response = UploadResponse
    public static let command = StorageCommand.uploadSlaveFile.rawValue
    public static let fixedPrefixLength = 16
    public var masterFilename: String
    public var fileSize: Int64
    public var prefix: String
    public var fileExtension: String

    public init(masterFilename: String, fileSize: Int64, prefix: String, fileExtension: String) {
        self.masterFilename = masterFilename
        self.fileSize = fileSize
        self.prefix = prefix
        self.fileExtension = fileExtension
    }

    public var contentLength: Int64 { fileSize }

    public static func framing(prefix: ByteBuffer, headerStatus: UInt8) throws(FDFSProtocolError) -> StreamFraming {
        let m = try prefixField(prefix, at: 0, "master filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let s = try prefixField(prefix, at: 8, "file size", in: 0...Int64.max)
        return StreamFraming(fixedLength: 38 + Int(m), contentLength: s)
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(masterFilename.utf8.count))
        b.writeInt64(fileSize)
        b.writeFixedText(prefix, width: FieldWidth.slavePrefix)
        b.writeFixedText(fileExtension, width: FieldWidth.fileExtension)
        b.writeString(masterFilename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let m = try r.length("master filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let size = try r.int64("file size")
        guard size >= 0 else { throw FDFSProtocolError(.invalidField, command: command, "file size \(size) is negative") }
        let prefix = try r.text(width: FieldWidth.slavePrefix, "prefix")
        try checkFileNameCharacters(prefix, "prefix", maxLength: 16, allowEmpty: false, command: command)
        let ext = try r.text(width: FieldWidth.fileExtension, "extension")
        try checkFileNameCharacters(ext, "extension", maxLength: 6, allowEmpty: true, command: command)
        return Self(masterFilename: try r.text(count: m, "master filename"), fileSize: size, prefix: prefix, fileExtension: ext)
    }
}

/// APPEND_FILE (24): name length, append size, appender name, then the data.
public struct AppendFileRequest: FDFSStreamingRequest {
    public typealias Response = AcknowledgementBody
    public static let command = StorageCommand.appendFile.rawValue
    public static let fixedPrefixLength = 16
    public var filename: String
    public var appendSize: Int64

    public init(filename: String, appendSize: Int64) {
        self.filename = filename
        self.appendSize = appendSize
    }

    public var contentLength: Int64 { appendSize }

    public static func framing(prefix: ByteBuffer, headerStatus: UInt8) throws(FDFSProtocolError) -> StreamFraming {
        let l = try prefixField(prefix, at: 0, "filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        return StreamFraming(fixedLength: 16 + Int(l), contentLength: try prefixField(prefix, at: 8, "append size", in: 0...Int64.max))
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(filename.utf8.count))
        b.writeInt64(appendSize)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let l = try r.length("filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let size = try r.length("append size", in: 0...Int64.max)
        return Self(filename: try r.text(count: l, "filename"), appendSize: Int64(size))
    }
}

/// MODIFY_FILE (34): name length, offset, size, appender name, then the data.
public struct ModifyFileRequest: FDFSStreamingRequest {
    public typealias Response = AcknowledgementBody
    public static let command = StorageCommand.modifyFile.rawValue
    public static let fixedPrefixLength = 24
    public var filename: String
    public var offset: Int64
    public var modifySize: Int64

    public init(filename: String, offset: Int64, modifySize: Int64) {
        self.filename = filename
        self.offset = offset
        self.modifySize = modifySize
    }

    public var contentLength: Int64 { modifySize }

    public static func framing(prefix: ByteBuffer, headerStatus: UInt8) throws(FDFSProtocolError) -> StreamFraming {
        let l = try prefixField(prefix, at: 0, "filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        _ = try prefixField(prefix, at: 8, "offset", in: 0...Int64.max)
        return StreamFraming(fixedLength: 24 + Int(l), contentLength: try prefixField(prefix, at: 16, "modify size", in: 0...Int64.max))
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(filename.utf8.count))
        b.writeInt64(offset)
        b.writeInt64(modifySize)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let l = try r.length("filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let offset = try r.length("offset", in: 0...Int64.max)
        let size = try r.length("modify size", in: 0...Int64.max)
        return Self(filename: try r.text(count: l, "filename"), offset: Int64(offset), modifySize: Int64(size))
    }
}

/// TRUNCATE_FILE (36): name length, new size, appender name.
public struct TruncateFileRequest: FDFSRequest {
    public typealias Response = AcknowledgementBody
    public static let command = StorageCommand.truncateFile.rawValue
    public var filename: String
    public var newSize: Int64

    public init(filename: String, newSize: Int64) {
        self.filename = filename
        self.newSize = newSize
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(filename.utf8.count))
        b.writeInt64(newSize)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let l = try r.length("filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let size = try r.length("new size", in: 0...Int64.max)
        try r.requireLength(r.remaining == l, "filename length \(l) but \(r.remaining) bytes follow")
        return Self(filename: try r.text(count: l, "filename"), newSize: Int64(size))
    }
}

/// A storage request of group (16) + remote filename (1...127 bytes): 12, 15, 22.
public protocol StorageFileRequest: FDFSRequest {
    var file: GroupAndFilename { get }
}

extension StorageFileRequest {
    public func encode(into buffer: inout ByteBuffer) { file.encode(into: &buffer) }
    static func decodeFile(_ r: inout FieldReader) throws(FDFSProtocolError) -> GroupAndFilename {
        try GroupAndFilename.decode(from: &r, filenameLength: 1...FieldWidth.maxRemoteFilename)
    }
}

/// DELETE_FILE (12).
public struct DeleteFileRequest: StorageFileRequest {
    public typealias Response = EmptyBody
    public static let command = StorageCommand.deleteFile.rawValue
    public var file: GroupAndFilename
    public init(group: GroupName, filename: String) { file = GroupAndFilename(group: group, filename: filename) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let f = try decodeFile(&r)
        return Self(group: f.group, filename: f.filename)
    }
}

/// GET_METADATA (15); the reply is the metadata in wire form.
public struct GetMetadataRequest: StorageFileRequest {
    public typealias Response = RawBody
    public static let command = StorageCommand.getMetadata.rawValue
    public var file: GroupAndFilename
    public init(group: GroupName, filename: String) { file = GroupAndFilename(group: group, filename: filename) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let f = try decodeFile(&r)
        return Self(group: f.group, filename: f.filename)
    }
}

/// QUERY_FILE_INFO (22); flags travel in the header's status byte.
public struct QueryFileInfoRequest: StorageFileRequest {
    public typealias Response = FileInfoResponse
    public static let command = StorageCommand.queryFileInfo.rawValue
    /// Do not compute the CRC32 of appender and slave files (return 0).
    public static let flagNoCRC32: UInt8 = 0x01
    /// Do not log "file not found".
    public static let flagKeepSilent: UInt8 = 0x02

    public var file: GroupAndFilename
    public var flags: UInt8
    public init(group: GroupName, filename: String, flags: UInt8 = 0) {
        file = GroupAndFilename(group: group, filename: filename)
        self.flags = flags
    }
    public var headerStatus: UInt8 { flags }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let f = try decodeFile(&r)
        return Self(group: f.group, filename: f.filename, flags: headerStatus)
    }
}

/// Reply of 22: size, mtime, CRC32 (sign-extended into i64) and source IP (16 or 46 bytes).
public struct FileInfoResponse: FDFSBody {
    public var fileSize: Int64
    public var modificationTime: Int64
    public var crc32: UInt32
    public var sourceIPAddress: String
    public var ipAddressSize: IPAddressSize

    public init(fileSize: Int64, modificationTime: Int64, crc32: UInt32, sourceIPAddress: String, ipAddressSize: IPAddressSize) {
        self.fileSize = fileSize
        self.modificationTime = modificationTime
        self.crc32 = crc32
        self.sourceIPAddress = sourceIPAddress
        self.ipAddressSize = ipAddressSize
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(fileSize)
        b.writeInt64(modificationTime)
        b.writeInt64(Int64(Int32(bitPattern: crc32)))  // sign-extended, as the C server sends it
        b.writeFixedText(sourceIPAddress, width: ipAddressSize.rawValue)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let size: IPAddressSize
        switch r.remaining {
        case 40: size = .ipv4
        case 70: size = .ipv6
        default: throw FDFSProtocolError(.wrongBodyLength, command: r.command, "file info reply must be 40 or 70 bytes, got \(r.remaining)")
        }
        return Self(fileSize: try r.int64("file size"), modificationTime: try r.int64("mtime"),
                    crc32: UInt32(truncatingIfNeeded: try r.int64("crc32")),
                    sourceIPAddress: try r.text(width: size.rawValue, "source ip"), ipAddressSize: size)
    }
}

/// DOWNLOAD_FILE (14): offset, byte count (0 = to the end), group, remote filename.
/// The reply body is the file content (streamed by servers and clients).
public struct DownloadFileRequest: FDFSRequest {
    public typealias Response = RawBody
    public static let command = StorageCommand.downloadFile.rawValue
    public var offset: Int64
    public var count: Int64
    public var group: GroupName
    public var filename: String

    public init(offset: Int64 = 0, count: Int64 = 0, group: GroupName, filename: String) {
        self.offset = offset
        self.count = count
        self.group = group
        self.filename = filename
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(offset)
        b.writeInt64(count)
        b.writeGroup(group)
        b.writeString(filename)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let offset = try r.length("offset", in: 0...Int64.max)
        let count = try r.length("byte count", in: 0...Int64.max)
        let f = try GroupAndFilename.decode(from: &r, filenameLength: 1...FieldWidth.maxRemoteFilename)
        return Self(offset: Int64(offset), count: Int64(count), group: f.group, filename: f.filename)
    }
}

/// SET_METADATA (13): filename length, metadata length, flag (`O` overwrite / `M` merge),
/// group, filename, metadata.
public struct SetMetadataRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageCommand.setMetadata.rawValue

    public enum Operation: UInt8, Sendable, Hashable {
        case overwrite = 0x4F  // 'O'
        case merge = 0x4D  // 'M'
    }

    public var filename: String
    public var operation: Operation
    public var group: GroupName
    /// The metadata bytes as sent (see `FDFSMetadata` to read them).
    public var metadata: [UInt8]

    public init(group: GroupName, filename: String, operation: Operation, metadata: [UInt8]) {
        self.group = group
        self.filename = filename
        self.operation = operation
        self.metadata = metadata
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(filename.utf8.count))
        b.writeInt64(Int64(metadata.count))
        b.writeInteger(operation.rawValue)
        b.writeGroup(group)
        b.writeString(filename)
        b.writeBytes(metadata)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let f = try r.length("filename length", in: 1...Int64(FieldWidth.maxRemoteFilename))
        let m = try r.length("metadata length", in: 0...Int64(Int32.max))
        let flag = try r.uint8("operation flag")
        guard let op = Operation(rawValue: flag) else {
            throw FDFSProtocolError(.invalidField, command: command, "operation flag 0x\(String(flag, radix: 16)) is neither 'O' nor 'M'")
        }
        let group = try r.group()
        try r.requireLength(r.remaining == f + m, "filename \(f) + metadata \(m) bytes announced, \(r.remaining) present")
        return Self(group: group, filename: try r.text(count: f, "filename"), operation: op, metadata: try r.bytes(count: m, "metadata"))
    }
}

/// REGENERATE_APPENDER_FILENAME (38): the appender's remote filename only.
public struct RegenerateAppenderFilenameRequest: FDFSRequest {
    public typealias Response = UploadResponse
    public static let command = StorageCommand.regenerateAppenderFilename.rawValue
    public var filename: String
    public init(filename: String) { self.filename = filename }
    public func encode(into b: inout ByteBuffer) { b.writeString(filename) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength((1...FieldWidth.maxRemoteFilename).contains(r.remaining), "filename of \(r.remaining) bytes is outside 1...127")
        return Self(filename: r.remainingText())
    }
}

/// CREATE_LINK (20): the duplicate-file helper (protocol spec §5.12).
public struct CreateLinkRequest: FDFSRequest {
    public typealias Response = UploadResponse
    public static let command = StorageCommand.createLink.rawValue
    public var group: GroupName
    public var prefix: String
    public var fileExtension: String
    public var masterFilename: String
    public var sourceFilename: String
    public var signature: [UInt8]

    public init(group: GroupName, prefix: String, fileExtension: String, masterFilename: String, sourceFilename: String, signature: [UInt8]) {
        self.group = group
        self.prefix = prefix
        self.fileExtension = fileExtension
        self.masterFilename = masterFilename
        self.sourceFilename = sourceFilename
        self.signature = signature
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(masterFilename.utf8.count))
        b.writeInt64(Int64(sourceFilename.utf8.count))
        b.writeInt64(Int64(signature.count))
        b.writeGroup(group)
        b.writeFixedText(prefix, width: FieldWidth.slavePrefix)
        b.writeFixedText(fileExtension, width: FieldWidth.fileExtension)
        b.writeString(masterFilename)
        b.writeString(sourceFilename)
        b.writeBytes(signature)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let m = try r.length("master filename length", in: 0...127)
        let s = try r.length("source filename length", in: 1...127)
        let g = try r.length("signature length", in: 1...63)
        guard m + s + g <= 256 else { throw FDFSProtocolError(.invalidField, command: command, "names and signature exceed 256 bytes") }
        let group = try r.group()
        let prefix = try r.text(width: FieldWidth.slavePrefix, "prefix")
        let ext = try r.text(width: FieldWidth.fileExtension, "extension")
        try r.requireLength(r.remaining == m + s + g, "\(m + s + g) name and signature bytes announced, \(r.remaining) present")
        return Self(group: group, prefix: prefix, fileExtension: ext, masterFilename: try r.text(count: m, "master"),
                    sourceFilename: try r.text(count: s, "source"), signature: try r.bytes(count: g, "signature"))
    }
}

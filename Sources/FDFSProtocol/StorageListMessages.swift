public import NIOCore
public import FDFSModel

// Client -> storage: LIST_FILES (250), a swift-fdfs extension (docs/protocol.md, "LIST_FILES").
// C storages do not know the code and answer EINVAL, then close (docs/compatibility.md).

/// Checks a remote filename or a prefix of one against ``ListFilesRequest/isListableName(_:)``.
func checkListedName(_ bytes: [UInt8], _ what: String, allowEmpty: Bool, command: UInt8) throws(FDFSProtocolError) {
    guard ListFilesRequest.isListableName(bytes), allowEmpty || !bytes.isEmpty else {
        throw FDFSProtocolError(.invalidField, command: command,
                                "\(what) must be \(allowEmpty ? 0 : 1)...\(ListFilesRequest.maxNameBytes) characters of A-Z a-z 0-9 . _ - /")
    }
}

/// LIST_FILES (250): one page of the files a storage holds for `group`, in byte order of
/// their remote filenames, from its catalog.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 16 | group name, NUL-padded |
/// | 16 | 8 | limit, 1...1000 |
/// | 24 | 8 | prefix length P, 0...128 |
/// | 32 | P | prefix (`M00/3A`), empty for all |
/// | 32+P | rest, 0...128 | after: the last remote filename of the previous page, empty for the first |
public struct ListFilesRequest: FDFSRequest {
    public typealias Response = ListFilesResponse
    public static let command = StorageCommand.listFiles.rawValue
    /// The largest page a storage serves.
    public static let maxLimit = 1000
    /// The longest prefix, `after` and listed name.
    public static let maxNameBytes = 128

    /// Whether `bytes` may be a prefix, an `after` or a listed name: at most `maxNameBytes`
    /// of ASCII `[A-Za-z0-9._-/]`. The catalog's prefix range relies on names being ASCII
    /// below 0x7F.
    public static func isListableName(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.count <= maxNameBytes && bytes.allSatisfy { ASCII.isFileNameCharacter($0) || $0 == UInt8(ascii: "/") }
    }

    public var group: GroupName
    public var limit: Int
    public var prefix: String
    public var after: String

    public init(group: GroupName, limit: Int = ListFilesRequest.maxLimit, prefix: String = "", after: String = "") {
        self.group = group
        self.limit = limit
        self.prefix = prefix
        self.after = after
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeInt64(Int64(limit))
        b.writeInt64(Int64(prefix.utf8.count))
        b.writeString(prefix)
        b.writeString(after)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let group = try r.group()
        let limit = try r.length("limit", in: 1...Int64(maxLimit))
        let p = try r.length("prefix length", in: 0...Int64(maxNameBytes))
        let prefix = try r.bytes(count: p, "prefix")
        try checkListedName(prefix, "prefix", allowEmpty: true, command: command)
        let after = r.remainingBytes()
        try checkListedName(after, "after", allowEmpty: true, command: command)
        return Self(group: group, limit: limit, prefix: String(decoding: prefix, as: UTF8.self), after: String(decoding: after, as: UTF8.self))
    }
}

/// One file of a LIST_FILES page.
public struct ListedFile: Hashable, Sendable {
    public var remoteFilename: String
    /// The current size in bytes (appender files change).
    public var size: Int64
    /// Unix seconds when the file was created on this storage.
    public var created: Int64
    /// nil for appender files, whose content changes.
    public var crc32: UInt32?
    /// Whether a client stored it on this storage (not a peer's replication).
    public var isSource: Bool
    public var kind: FileKind

    public init(remoteFilename: String, size: Int64, created: Int64, crc32: UInt32?, isSource: Bool, kind: FileKind) {
        self.remoteFilename = remoteFilename
        self.size = size
        self.created = created
        self.crc32 = crc32
        self.isSource = isSource
        self.kind = kind
    }

    /// Bytes of an entry in front of its name.
    static let fixedBytes = 24
    static let flagIsSource: UInt8 = 0x01
    static let flagHasCRC32: UInt8 = 0x02
    /// The kind byte of an entry is the index in this list.
    static let kindByByte: [FileKind] = [.normal, .appender, .slave, .trunk]
}

/// The reply of LIST_FILES: 0...limit entries, sorted by remote filename, back to back.
/// A page shorter than the limit is the last one.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | size in bytes, >= 0 |
/// | 8 | 8 | created, unix seconds |
/// | 16 | 4 | CRC32, unsigned (0 when flag bit 1 is clear) |
/// | 20 | 1 | flags: bit 0 source, bit 1 CRC32 present; other bits 0 |
/// | 21 | 1 | kind: 0 normal, 1 appender, 2 slave, 3 trunk |
/// | 22 | 2 | name length N, 1...128 |
/// | 24 | N | remote filename (`M00/00/3A/...`) |
public struct ListFilesResponse: FDFSBody {
    public var files: [ListedFile]
    public init(files: [ListedFile] = []) { self.files = files }

    public func encode(into b: inout ByteBuffer) {
        for f in files {
            b.writeInt64(f.size)
            b.writeInt64(f.created)
            b.writeInteger(f.crc32 ?? 0, endianness: .big, as: UInt32.self)
            b.writeInteger((f.isSource ? ListedFile.flagIsSource : 0) | (f.crc32 == nil ? 0 : ListedFile.flagHasCRC32))
            b.writeInteger(UInt8(ListedFile.kindByByte.firstIndex(of: f.kind)!))
            b.writeInteger(UInt16(truncatingIfNeeded: f.remoteFilename.utf8.count), endianness: .big, as: UInt16.self)
            b.writeString(f.remoteFilename)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let command = ListFilesRequest.command
        var files: [ListedFile] = []
        while r.remaining > 0 {
            guard files.count < ListFilesRequest.maxLimit else {
                throw FDFSProtocolError(.invalidField, command: command, "more than \(ListFilesRequest.maxLimit) files in one page")
            }
            let size = try r.int64("file size")
            guard size >= 0 else { throw FDFSProtocolError(.invalidField, command: command, "file size \(size) is negative") }
            let created = try r.int64("creation time")
            let crc = UInt32(bitPattern: try r.int32("crc32"))
            let flags = try r.uint8("flags")
            guard flags & ~(ListedFile.flagIsSource | ListedFile.flagHasCRC32) == 0 else {
                throw FDFSProtocolError(.invalidField, command: command, "unknown flags 0x\(String(flags, radix: 16))")
            }
            let hasCRC = flags & ListedFile.flagHasCRC32 != 0
            guard hasCRC || crc == 0 else { throw FDFSProtocolError(.invalidField, command: command, "crc32 set without its flag") }
            let kindByte = try r.uint8("kind")
            guard Int(kindByte) < ListedFile.kindByByte.count else {
                throw FDFSProtocolError(.invalidField, command: command, "unknown file kind \(kindByte)")
            }
            let kind = ListedFile.kindByByte[Int(kindByte)]
            let n = Int(try r.uint16("name length"))
            guard (1...ListFilesRequest.maxNameBytes).contains(n) else {
                throw FDFSProtocolError(.invalidField, command: command, "name length \(n) is outside 1...\(ListFilesRequest.maxNameBytes)")
            }
            let name = try r.bytes(count: n, "remote filename")
            try checkListedName(name, "remote filename", allowEmpty: false, command: command)
            files.append(ListedFile(remoteFilename: String(decoding: name, as: UTF8.self), size: size, created: created,
                                    crc32: hasCRC ? crc : nil, isSource: flags & ListedFile.flagIsSource != 0, kind: kind))
        }
        return Self(files: files)
    }
}

/// HTTP_ENDPOINT (251), a swift-fdfs extension: where the storage serves its files over HTTP.
/// Empty request body. C storages answer EINVAL (unknown command).
public struct HTTPEndpointRequest: EmptyRequest {
    public typealias Response = HTTPEndpointResponse
    public static let command = StorageCommand.httpEndpoint.rawValue
    public init() {}
}

/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | HTTP port, 0...65535 (0: no HTTP) |
/// | 8 | rest, 0...128 | `http.domain_name` (`host` or `host:port`), empty: the storage's IP and the port |
public struct HTTPEndpointResponse: FDFSBody, Hashable {
    public static let maxDomainBytes = 128
    public var port: Int
    public var domainName: String

    public init(port: Int, domainName: String = "") {
        self.port = port
        self.domainName = domainName
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeInt64(Int64(port))
        b.writeString(domainName)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let port = try r.length("HTTP port", in: 0...65535)
        let domain = r.remainingBytes()
        guard domain.count <= maxDomainBytes, domain.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else {
            throw FDFSProtocolError(.invalidField, command: HTTPEndpointRequest.command,
                                    "domain name must be at most \(maxDomainBytes) printable ASCII characters without '/'")
        }
        return Self(port: port, domainName: String(decoding: domain, as: UTF8.self))
    }

    /// `http://host[:port]` of the storage at `ip`; nil when it serves no HTTP.
    public func baseURL(storageIP: String) -> String? {
        guard port > 0 else { return nil }
        if domainName.isEmpty { return "http://\(storageIP):\(port)" }
        return domainName.contains(":") || port == 80 ? "http://\(domainName)" : "http://\(domainName):\(port)"
    }
}

/// RESYNC_PEER (254), a swift-fdfs extension (docs/protocol.md): the storage that receives it
/// pushes every file it holds to the named peer of its group again, from the start of its
/// binlog. An operator command: only from the storage's `admin_hosts` (EACCES otherwise);
/// ENOENT when the storage has no such peer.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 16 | the peer's storage id (or IP address), NUL-padded |
public struct ResyncPeerRequest: FDFSRequest {
    public typealias Response = EmptyBody
    public static let command = StorageCommand.resyncPeer.rawValue
    public var peerID: StorageID

    public init(peerID: StorageID) { self.peerID = peerID }

    public func encode(into b: inout ByteBuffer) { b.writeStorageID(peerID) }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        Self(peerID: try r.storageIDBody("peer id"))
    }
}

/// SCRUB (255), a swift-fdfs extension (docs/protocol.md): body 1 byte, 1 to start a pass (only
/// from the storage's `admin_hosts`, else EACCES), 0 to read the progress.
public struct ScrubRequest: FDFSRequest {
    public typealias Response = ScrubStatusResponse
    public static let command = StorageCommand.scrub.rawValue
    public var start: Bool

    public init(start: Bool) { self.start = start }

    public func encode(into b: inout ByteBuffer) { b.writeInteger(UInt8(start ? 1 : 0)) }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 1, "body must be 1 byte, got \(r.remaining)")
        let v = try r.uint8("action")
        guard v <= 1 else { throw FDFSProtocolError(.invalidField, command: command, "action must be 0 or 1, got \(v)") }
        return Self(start: v == 1)
    }
}

/// SCRUB's reply: eight 8-byte integers: running (0 or 1), passes completed since start, then
/// files checked, damaged, repaired, left damaged, and unknown files adopted and quarantined
/// in the current or last pass.
public struct ScrubStatusResponse: FDFSBody, Hashable {
    public var running: Bool
    public var passes, checked, damaged, repaired, unrepaired, adopted, quarantined: Int64

    public init(running: Bool, passes: Int64, checked: Int64, damaged: Int64, repaired: Int64, unrepaired: Int64,
                adopted: Int64 = 0, quarantined: Int64 = 0) {
        self.running = running
        self.passes = passes
        self.checked = checked
        self.damaged = damaged
        self.repaired = repaired
        self.unrepaired = unrepaired
        self.adopted = adopted
        self.quarantined = quarantined
    }

    public func encode(into b: inout ByteBuffer) {
        for v in [running ? 1 : 0, passes, checked, damaged, repaired, unrepaired, adopted, quarantined] { b.writeInt64(v) }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == 64, "body must be 64 bytes, got \(r.remaining)")
        let running = try r.length("running", in: 0...1)
        var v: [Int64] = []
        for what in ["passes", "checked", "damaged", "repaired", "unrepaired", "adopted", "quarantined"] {
            v.append(Int64(try r.length(what, in: 0...Int64.max)))
        }
        return Self(running: running == 1, passes: v[0], checked: v[1], damaged: v[2], repaired: v[3], unrepaired: v[4],
                    adopted: v[5], quarantined: v[6])
    }
}

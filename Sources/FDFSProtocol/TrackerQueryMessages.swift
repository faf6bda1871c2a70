public import NIOCore
public import FDFSModel

// Client -> tracker: where to upload, where to download (protocol spec §4.1, §4.2).

/// A storage address in query replies: IP text (W-1 bytes) + port (i64).
public struct StorageEndpoint: Hashable, Sendable {
    public var ipAddress: String
    public var port: Int64
    public init(ipAddress: String, port: Int64) {
        self.ipAddress = ipAddress
        self.port = port
    }
}

/// QUERY_STORE_WITHOUT_GROUP_ONE (101): empty body.
public struct QueryStoreWithoutGroupOneRequest: FDFSRequest {
    public typealias Response = QueryStoreResponse
    public static let command = TrackerCommand.queryStoreWithoutGroupOne.rawValue
    public init() {}
    public func encode(into buffer: inout ByteBuffer) {}
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        _ = try EmptyBody.decode(from: &r, headerStatus: headerStatus)
        return Self()
    }
}

/// QUERY_STORE_WITH_GROUP_ONE (104): exactly a 16-byte group name.
public struct QueryStoreWithGroupOneRequest: FDFSRequest {
    public typealias Response = QueryStoreResponse
    public static let command = TrackerCommand.queryStoreWithGroupOne.rawValue
    public var group: GroupName
    public init(group: GroupName) { self.group = group }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeGroup(group) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == FieldWidth.groupName, "body must be the 16-byte group name, got \(r.remaining) bytes")
        return Self(group: try r.group())
    }
}

/// Reply of 101/104: group, one storage, and the store path to upload to (40 or 70 bytes).
public struct QueryStoreResponse: FDFSBody {
    public var group: GroupName
    public var storage: StorageEndpoint
    public var storePathIndex: UInt8
    public var ipAddressSize: IPAddressSize

    public init(group: GroupName, storage: StorageEndpoint, storePathIndex: UInt8, ipAddressSize: IPAddressSize) {
        self.group = group
        self.storage = storage
        self.storePathIndex = storePathIndex
        self.ipAddressSize = ipAddressSize
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeFixedText(storage.ipAddress, width: ipAddressSize.queryFieldWidth)
        b.writeInt64(storage.port)
        b.writeInteger(storePathIndex)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let size: IPAddressSize
        switch r.remaining {
        case 40: size = .ipv4
        case 70: size = .ipv6
        default: throw FDFSProtocolError(.wrongBodyLength, command: r.command, "query-store reply must be 40 or 70 bytes, got \(r.remaining)")
        }
        return Self(group: try r.group(),
                    storage: StorageEndpoint(ipAddress: try r.text(width: size.queryFieldWidth, "storage ip"), port: try r.int64("port")),
                    storePathIndex: try r.uint8("store path index"), ipAddressSize: size)
    }
}

/// QUERY_STORE_WITHOUT_GROUP_ALL (106): empty body.
public struct QueryStoreWithoutGroupAllRequest: FDFSRequest {
    public typealias Response = QueryStoreAllResponse
    public static let command = TrackerCommand.queryStoreWithoutGroupAll.rawValue
    public init() {}
    public func encode(into buffer: inout ByteBuffer) {}
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        _ = try EmptyBody.decode(from: &r, headerStatus: headerStatus)
        return Self()
    }
}

/// QUERY_STORE_WITH_GROUP_ALL (107): exactly a 16-byte group name.
public struct QueryStoreWithGroupAllRequest: FDFSRequest {
    public typealias Response = QueryStoreAllResponse
    public static let command = TrackerCommand.queryStoreWithGroupAll.rawValue
    public var group: GroupName
    public init(group: GroupName) { self.group = group }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeGroup(group) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        try r.requireLength(r.remaining == FieldWidth.groupName, "body must be the 16-byte group name, got \(r.remaining) bytes")
        return Self(group: try r.group())
    }
}

/// Reply of 106/107: group, every writable storage, one trailing store path byte.
public struct QueryStoreAllResponse: FDFSBody {
    public var group: GroupName
    public var storages: [StorageEndpoint]
    public var storePathIndex: UInt8
    public var ipAddressSize: IPAddressSize

    public init(group: GroupName, storages: [StorageEndpoint], storePathIndex: UInt8, ipAddressSize: IPAddressSize) {
        self.group = group
        self.storages = storages
        self.storePathIndex = storePathIndex
        self.ipAddressSize = ipAddressSize
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        for s in storages {
            b.writeFixedText(s.ipAddress, width: ipAddressSize.queryFieldWidth)
            b.writeInt64(s.port)
        }
        b.writeInteger(storePathIndex)
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        // The C client's detection: (len - 17) mod 23 first, then mod 53.
        let records = r.remaining - FieldWidth.groupName - 1
        guard let size = detectEndpointWidth(records) else {
            throw FDFSProtocolError(.wrongBodyLength, command: r.command, "query-store-all reply of \(r.remaining) bytes is not 17 + n x 23 or 17 + n x 53")
        }
        let group = try r.group()
        let storages = try readEndpoints(&r, count: records / (size.rawValue + 7), size: size)
        return Self(group: group, storages: storages, storePathIndex: try r.uint8("store path index"), ipAddressSize: size)
    }
}

/// The width a list of n >= 1 endpoint records of `length` bytes was written with, or nil.
func detectEndpointWidth(_ length: Int) -> IPAddressSize? {
    guard length > 0 else { return nil }
    if length % (IPAddressSize.ipv4.rawValue + 7) == 0 { return .ipv4 }
    if length % (IPAddressSize.ipv6.rawValue + 7) == 0 { return .ipv6 }
    return nil
}

func readEndpoints(_ r: inout FieldReader, count: Int, size: IPAddressSize) throws(FDFSProtocolError) -> [StorageEndpoint] {
    var out: [StorageEndpoint] = []
    for _ in 0..<count {
        out.append(StorageEndpoint(ipAddress: try r.text(width: size.queryFieldWidth, "storage ip"), port: try r.int64("port")))
    }
    return out
}

/// Body of QUERY_FETCH_ONE (102), QUERY_FETCH_ALL (105) and QUERY_UPDATE (103): group + remote
/// filename (22...127 bytes, no terminator).
public struct GroupAndFilename: Hashable, Sendable {
    public var group: GroupName
    public var filename: String
    public init(group: GroupName, filename: String) {
        self.group = group
        self.filename = filename
    }

    func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        b.writeString(filename)
    }

    static func decode(from r: inout FieldReader, filenameLength range: ClosedRange<Int>) throws(FDFSProtocolError) -> Self {
        let n = r.remaining - FieldWidth.groupName
        try r.requireLength(range.contains(n), "file name length \(n) is outside \(range.lowerBound)...\(range.upperBound)")
        return Self(group: try r.group(), filename: r.remainingText())
    }
}

/// A tracker query about one file: 102, 103 or 105.
public protocol TrackerFileQuery: FDFSRequest where Response == QueryFetchResponse {
    var file: GroupAndFilename { get }
    init(file: GroupAndFilename)
}

extension TrackerFileQuery {
    public init(group: GroupName, filename: String) { self.init(file: GroupAndFilename(group: group, filename: filename)) }
    public func encode(into buffer: inout ByteBuffer) { file.encode(into: &buffer) }
    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        Self(file: try GroupAndFilename.decode(from: &r, filenameLength: 22...127))
    }
}

public struct QueryFetchOneRequest: TrackerFileQuery {
    public static let command = TrackerCommand.queryFetchOne.rawValue
    public var file: GroupAndFilename
    public init(file: GroupAndFilename) { self.file = file }
}

public struct QueryFetchAllRequest: TrackerFileQuery {
    public static let command = TrackerCommand.queryFetchAll.rawValue
    public var file: GroupAndFilename
    public init(file: GroupAndFilename) { self.file = file }
}

public struct QueryUpdateRequest: TrackerFileQuery {
    public static let command = TrackerCommand.queryUpdate.rawValue
    public var file: GroupAndFilename
    public init(file: GroupAndFilename) { self.file = file }
}

/// Reply of 102/103 (one storage) and 105 (one or more): group + n x (IP + port).
public struct QueryFetchResponse: FDFSBody {
    public var group: GroupName
    public var storages: [StorageEndpoint]
    public var ipAddressSize: IPAddressSize

    public init(group: GroupName, storages: [StorageEndpoint], ipAddressSize: IPAddressSize) {
        self.group = group
        self.storages = storages
        self.ipAddressSize = ipAddressSize
    }

    public func encode(into b: inout ByteBuffer) {
        b.writeGroup(group)
        for s in storages {
            b.writeFixedText(s.ipAddress, width: ipAddressSize.queryFieldWidth)
            b.writeInt64(s.port)
        }
    }

    public static func decode(from r: inout FieldReader, headerStatus: UInt8) throws(FDFSProtocolError) -> Self {
        let records = r.remaining - FieldWidth.groupName
        guard let size = detectEndpointWidth(records) else {
            throw FDFSProtocolError(.wrongBodyLength, command: r.command, "query-fetch reply of \(r.remaining) bytes is not 16 + n x 23 or 16 + n x 53")
        }
        let group = try r.group()
        return Self(group: group, storages: try readEndpoints(&r, count: records / (size.rawValue + 7), size: size), ipAddressSize: size)
    }
}

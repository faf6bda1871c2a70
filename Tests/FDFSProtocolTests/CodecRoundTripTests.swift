import NIOCore
import Testing
import FDFSModel
@testable import FDFSProtocol

/// Encode-then-decode of hand-built values, covering above all the commands the capture did
/// not contain (trunk, leader election, system-file copy, IP change, CHANGE_STATUS, ...).
@Suite struct CodecRoundTripTests {
    static let g = try! GroupName("group1")
    static let id = try! StorageID("100001")
    static let name = "M00/00/00/wKgBCmVT8QCAEjRWAAAACw1KEYU123.jpg"
    static let brief = StorageBrief(status: .active, port: 23000, id: "100001", ipAddress: "10.0.0.1")
    static let info = TrunkInfo(storePathIndex: 0, subdirHigh: 1, subdirLow: 2, trunkFileID: 7, offset: 1024, size: 256)

    /// One sample of every request type, with a sample of its response.
    static let samples: [(any FDFSRequest, any FDFSBody)] = [
        (SetTrunkServerRequest(group: g, storageID: "100001"), SetTrunkServerResponse(storageID: "100001")),
        (SetTrunkServerRequest(group: g), SetTrunkServerResponse(storageID: "127.0.0.1")),
        (ChangeStatusRequest(status: .offline), EmptyBody()),
        (HTTPEndpointRequest(), HTTPEndpointResponse(port: 8888, domainName: "img.example.com")),
        (HTTPEndpointRequest(), HTTPEndpointResponse(port: 0)),
        (ClusterChallengeRequest(clientNonce: Array(0..<32)),
         ClusterChallengeResponse(serverNonce: Array(32..<64), serverProofs: [Array(64..<96), Array(96..<128)])),
        (ClusterProofRequest(proof: Array(repeating: 0xA5, count: 32)), EmptyBody()),
        (ResyncPeerRequest(peerID: id), EmptyBody()),
        (ScrubRequest(start: true), ScrubStatusResponse(running: true, passes: 2, checked: 1000, damaged: 3, repaired: 2, unrepaired: 1, adopted: 4, quarantined: 5)),
        (SyncDestQueryRequest(), OptionalSyncInfo(SyncInfo(sourceID: id, untilTimestamp: 1_795_260_000))),
        (SyncDestQueryRequest(), OptionalSyncInfo(nil)),
        (ReportIPChangedRequest(group: g, oldIP: "10.0.0.1", newIP: "10.0.0.2"), EmptyBody()),
        (ReportTrunkFreeRequest(freeMB: 1024), EmptyBody()),
        (ReportTrunkFileIDRequest(trunkFileID: 42), EmptyBody()),
        (FetchTrunkFileIDRequest(), Int32Body(42)),
        (NotifyReselectLeaderRequest(), EmptyBody()),
        (JoinLeaderRequest(startTime: 1_795_000_000, version: "6.16.1", port: 22122), EmptyBody()),
        (PingLeaderRequest(connectionAllocCount: 256, connectionCurrentCount: 3, connectionMaxCount: 9),
         PingLeaderResponse(entries: [.init(group: g, trunkServerID: id), .init(group: try! GroupName("group2"), trunkServerID: nil)])),
        (NotifyNextLeaderRequest(leader: IPPort(ip: "10.0.0.9", port: 22122)), EmptyBody()),
        (CommitNextLeaderRequest(leader: IPPort(ip: "fd00::9", port: 22122)), EmptyBody()),
        (GetSysFilesStartRequest(), EmptyBody()),
        (GetSysFilesEndRequest(), EmptyBody()),
        (GetOneSysFileRequest(fileIndex: 3, offset: 8173), SysFilePiece(fileSize: 9000, content: Array("1795260859 group1 127.0.0.63 4 \n".utf8))),
        (TrunkGetBinlogSizeRequest(), Int64Body(123_456)),
        (TrunkDeleteBinlogMarksRequest(), EmptyBody()),
        (TrunkAllocSpaceRequest(group: g, fileSize: 200, storePathIndex: 0), TrunkInfoBody(info)),
        (TrunkAllocConfirmRequest(group: g, info: info, headerStatus: 0), EmptyBody()),
        (TrunkAllocConfirmRequest(group: g, info: info, headerStatus: 5), EmptyBody()),
        (TrunkFreeSpaceRequest(group: g, info: info), EmptyBody()),
        (TrunkSyncBinlogRequest(lines: Array("1795260000 A 0 1 2 7 1024 256\n".utf8)), EmptyBody()),
        (TrunkTruncateBinlogFileRequest(), EmptyBody()),
        (FetchOnePathBinlogRequest(group: g, storePathIndex: 0), FetchOnePathBinlogResponse(binlogText: Array("1795260000 C \(name)\n".utf8))),
        (SyncCreateLinkRequest(timestamp: 1_795_260_000, group: g, firstName: name + "_s", secondName: name), EmptyBody()),
        (SyncCreateFileRequest(timestamp: 1, group: g, filename: name, fileSize: 40, hasContent: false), EmptyBody()),
        (CreateLinkRequest(group: g, prefix: "", fileExtension: "jpg", masterFilename: "", sourceFilename: name, signature: [1, 2, 3]),
         UploadResponse(group: g, remoteFilename: name)),
        (GetGroupNameRequest(ipAddress: "10.0.0.1", port: 23000), GroupNameBody(g)),
        (GetGroupNameRequest(port: 23000), GroupNameBody(g)),
        (StorageJoinRequest(group: g, storagePort: 23000, storePathCount: 2, subdirCountPerPath: 256, uploadPriority: 10,
                            joinTime: 1, upTime: 2, version: "6.16.1", initFlag: false, status: .unknown, storageID: id,
                            currentTrackerIP: "10.0.0.100", trackers: ["10.0.0.100:22122", "10.0.0.101,192.168.0.1:22122"]),
         StorageJoinResponse(status: .waitSync, syncSourceID: id)),
        (ReplicaChangeRequest(briefs: [brief, brief]), EmptyBody()),
        (StorageBeatRequest(), ChangeNotification(flags: [.trackerLeader, .trunkServer, .groupServers], briefs: [brief, brief, brief])),
        (ListStorageRequest(group: g, storageID: "100001"), StorageStatList(storages: [StorageStat(status: .active, id: "100001", ipAddress: "10.0.0.1")], layout: .legacy, ipAddressSize: .ipv6)),
        (ListAllGroupsRequest(), GroupStatList(groups: [GroupStat(groupName: "group1")], layout: .legacy)),
        (DownloadFileRequest(offset: 4, count: 10, group: g, filename: name), RawBody(Array("0123456789".utf8))),
        (ModifyFileRequest(filename: name, offset: 5, modifySize: 0), AcknowledgementBody(echoedBody: [1, 2, 3])),
    ]

    @Test(arguments: 0..<samples.count)
    func sampleRoundTrips(_ index: Int) throws {
        let (request, response) = Self.samples[index]
        try Self.roundTrip(request, response)
    }

    static func roundTrip<R: FDFSRequest>(_ request: R, _ response: any FDFSBody) throws {
        let packet = request.requestPacket()
        let frames = try NormalizedFrames.decode(Array(packet.readableBytesView), cuts: [], policy: .server(role(R.command)))
        // Streaming requests announce content that we do not send here.
        if frames.heads.isEmpty, let streaming = request as? any FDFSStreamingRequest {
            Issue.record("no head for streaming request with content \(streaming.contentLength)")
        }
        let (header, body) = try #require(frames.heads.first)
        #expect(header.command == R.command)
        #expect(header.status == request.headerStatus)
        let decoded = try R.decode(body: ByteBuffer(bytes: body), command: R.command, headerStatus: header.status)
        #expect(decoded == request)
        let typed = try #require(response as? R.Response)
        #expect(try R.Response.decode(body: typed.encodedBody(), command: R.command) == typed)
    }

    static func role(_ code: UInt8) -> FDFSServerRole {
        CommandRegistry.descriptor(for: code, role: .tracker) != nil ? .tracker : .storage
    }

    @Test func everyRegisteredCommandHasADistinctRequestType() {
        let tracker = CommandRegistry.trackerCommands, storage = CommandRegistry.storageCommands
        #expect(tracker.count == 52 && storage.count == 38)
        for d in tracker + storage {
            #expect(d.requestType.command == d.code, "\(d.name)")
        }
        let distinctCodes = Set(tracker.map(\.code)).union(storage.map(\.code))
        #expect(distinctCodes.count == 86)
    }

    @Test func getGroupNameWithAnOverlongIPIsNameTooLong() {
        var body = ByteBuffer()
        body.writeString(String(repeating: "1", count: 46))
        body.writeInt32(23000)
        let error = #expect(throws: FDFSProtocolError.self) { try GetGroupNameRequest.decode(body: body, command: 109) }
        #expect(error?.status == .ENAMETOOLONG)
    }

    @Test func metadataWireFormat() {
        let m = FDFSMetadata([.init("width", "100"), .init("author", "me")])
        #expect(m.wireBytes == Array("width\u{2}100\u{1}author\u{2}me".utf8))
        #expect(FDFSMetadata(wire: m.wireBytes) == m)
        #expect(m.sortedByName.entries.map(\.name) == ["author", "width"])
        #expect(m.merged(with: FDFSMetadata([.init("width", "200"), .init("b", "x")])).entries.map(\.value) == ["me", "x", "200"])
        // An entry without 0x02 is dropped; names are cut to 64 bytes and values to 256.
        let long = FDFSMetadata(wire: Array((String(repeating: "n", count: 70) + "\u{2}" + String(repeating: "v", count: 300) + "\u{1}junk").utf8))
        #expect(long.entries.count == 1 && long.entries[0].name.count == 64 && long.entries[0].value.count == 256)
    }

    @Test func fileInfoCRCIsSignExtended() throws {
        let r = FileInfoResponse(fileSize: 1, modificationTime: 2, crc32: 0x80E6_D1AD, sourceIPAddress: "127.0.0.1", ipAddressSize: .ipv4)
        let bytes = Array(r.encodedBody().readableBytesView)
        #expect(bytes[16..<24] == [0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0xE6, 0xD1, 0xAD])
        #expect(try FileInfoResponse.decode(body: r.encodedBody(), command: 22) == r)
    }
}

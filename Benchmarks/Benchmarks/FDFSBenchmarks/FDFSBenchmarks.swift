import Benchmark
import FDFSModel
import FDFSProtocol
import FDFSStorageEngine
import Foundation
import NIOCore

// Each benchmark reports wall clock, CPU, throughput and the mallocs of one operation
// (`scaledIterations` loops; the figures are per iteration).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 100
    )

    let group = try! GroupName("group1")
    let filename = "M00/00/00/fwAAAWsTPzKADC-hC-vCAEIQX3s905.bin"

    // MARK: Frame decoder

    // 1,000 QUERY_FETCH_ONE requests back to back, as a tracker reads them from its clients.
    var queries = ByteBuffer()
    for _ in 0..<1000 {
        queries.writeImmutableBuffer(QueryFetchOneRequest(file: GroupAndFilename(group: group, filename: filename)).requestPacket())
    }
    Benchmark("frame decoder: 1,000 QUERY_FETCH_ONE packets", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = FDFSFrameDecoder(policy: .server(.tracker))
            var input = queries
            var frames = 0
            while let frame = try decoder.next(&input) {
                frames += 1
                blackHole(frame)
            }
            precondition(frames == 2000, "head and end per packet")
        }
    }

    // An UPLOAD_FILE of 4 KiB arriving in two reads: head + fixed part, then the content.
    let content = [UInt8](repeating: 0x61, count: 4096)
    let uploadHead = UploadFileRequest(storePathIndex: 0, fileSize: 4096, fileExtension: "jpg").requestPacket()
    let uploadContent = ByteBuffer(bytes: content)
    Benchmark("frame decoder: UPLOAD_FILE 4 KiB in two reads") { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = FDFSFrameDecoder(policy: .server(.storage))
            var first = uploadHead
            while let frame = try decoder.next(&first) { blackHole(frame) }
            var second = uploadContent
            while let frame = try decoder.next(&second) { blackHole(frame) }
        }
    }

    // MARK: Codecs

    let fetchRequest = QueryFetchOneRequest(file: GroupAndFilename(group: group, filename: filename))
    let fetchPacket = fetchRequest.requestPacket()
    var fetchReader = fetchPacket
    let fetchHeader = FDFSHeader.decode(from: &fetchReader)!
    let fetchBody = fetchPacket.getSlice(at: FDFSHeader.size, length: fetchPacket.readableBytes - FDFSHeader.size)!
    Benchmark("codec: QUERY_FETCH_ONE request encode") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(fetchRequest.requestPacket()) }
    }
    Benchmark("codec: QUERY_FETCH_ONE request decode through the registry") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try CommandRegistry.decodeRequest(header: fetchHeader, body: fetchBody, role: .tracker))
        }
    }
    let storeResponse = QueryStoreResponse(group: group, storage: StorageEndpoint(ipAddress: "127.0.0.1", port: 23000), storePathIndex: 0,
                                           ipAddressSize: .ipv4)
    let storeBody = storeResponse.responsePacket().getSlice(at: FDFSHeader.size, length: 40)!
    Benchmark("codec: QUERY_STORE response encode + decode") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(storeResponse.responsePacket())
            blackHole(try QueryStoreResponse.decode(body: storeBody, command: QueryStoreWithoutGroupOneRequest.command))
        }
    }

    // MARK: File IDs

    let fileIDText = "group1/" + filename
    Benchmark("file ID: parse") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try FileID(parsing: fileIDText)) }
    }
    let fileID = try! FileID(parsing: fileIDText)
    Benchmark("file ID: format") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(fileID.description) }
    }
    Benchmark("file ID: new name (block, base64, suffix)") { benchmark in
        var rng = SystemRandomNumberGenerator()
        for _ in benchmark.scaledIterations {
            blackHole(try NewFileName.make(source: .ipv4(IPv4Address(127, 0, 0, 1)), createTimestamp: 1_796_445_622, kind: .normal(size: 4096),
                                           crc32: 0x1234_5678, extension: "jpg", storePathIndex: 0, subdirHigh: 0x3A, subdirLow: 0x7F,
                                           using: &rng))
        }
    }

    // MARK: CRC32

    let small = [UInt8](repeating: 0x5A, count: 4096)
    let large = [UInt8](repeating: 0x5A, count: 1 << 20)
    Benchmark("CRC32: 4 KiB") { benchmark in
        for _ in benchmark.scaledIterations {
            var crc = CRC32()
            small.withUnsafeBytes { crc.update($0) }
            blackHole(crc.value)
        }
    }
    Benchmark("CRC32: 1 MiB", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            var crc = CRC32()
            large.withUnsafeBytes { crc.update($0) }
            blackHole(crc.value)
        }
    }

    // MARK: Binlog

    let record = try! BinlogRecord(timestampSeconds: 1_796_445_622, operation: BinlogOperation(kind: .create, isSource: true), filename: filename)
    Benchmark("binlog: encode + decode one record") { benchmark in
        for _ in benchmark.scaledIterations {
            var line: [UInt8] = []
            record.encode(into: &line)
            blackHole(try BinlogRecord(lineBytes: line.dropLast()))
        }
    }
    Benchmark("binlog writer: 1,000 appends (one write each, no fsync)", configuration: .init(scalingFactor: .one)) { benchmark in
        let directory = NSTemporaryDirectory() + "fdfs-bench-binlog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try BinlogWriter(syncDirectory: directory + "/sync", syncPolicy: .never)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for _ in 0..<1000 { blackHole(try writer.append(record)) }
        }
        benchmark.stopMeasurement()
    }
}

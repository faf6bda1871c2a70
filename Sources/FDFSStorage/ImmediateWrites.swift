import FDFSFileSystem
import FDFSModel
public import FDFSProtocol
public import FDFSServerCore
import FDFSStorageEngine
public import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small writes answered on the event loop (docs/architecture.md, "Threads and the request
/// path"): an upload or a replica whose content arrived whole, and deletes. The steps are
/// the ones `handle` runs, in the same order; a request these cannot finish before it has
/// changed anything goes to `handle` unchanged (which then answers it, errors included), and
/// one that fails after a change (a file already in place) is answered here with the error.
extension StorageConnectionHandler {
    /// Uploads and replicas up to this size are held whole and written on the event loop.
    static let immediateContentBytes: Int64 = 128 * 1024

    public func immediateContentLimit(for header: FDFSHeader) -> Int64 {
        switch header.command {
        case StorageCommand.uploadFile.rawValue, StorageCommand.uploadAppenderFile.rawValue,
             StorageToStorageCommand.syncCreateFile.rawValue, StorageToStorageCommand.syncUpdateFile.rawValue:
            Self.immediateContentBytes
        default:
            0
        }
    }

    public func respondImmediately(to header: FDFSHeader, body: ByteBuffer, content: ByteBuffer,
                                   context: ImmediateRequestContext) -> ImmediateResponse? {
        guard admitsImmediately(header, context) else { return nil }
        guard let request = try? CommandRegistry.decodeRequest(header: header, body: body, role: .storage) else { return nil }
        if request is any SyncFileRequest {
            return immediateSyncFile(request, header: header, body: body, content: content, context: context)
        }
        guard request is any UploadRequest, let upload = try? beginUpload(header, body) else { return nil }
        do {
            try write(content, to: upload.0)
        } catch {
            upload.0.abort()
            return nil
        }
        let name: RemoteFilename
        let time: Int64
        do {
            (name, time) = try commitUpload(upload)
        } catch {
            upload.0.abort()
            return nil
        }
        stats.requested(header, fixedPartBytes: body.readableBytes)
        do {
            try recordUpload(upload, name, time: time)
        } catch {
            return Self.statusResponse(error.status, context)
        }
        return ImmediateResponse(UploadResponse(group: store.group, remoteFilename: name.text).responsePacket(allocator: context.allocator))
    }

    /// SYNC_CREATE_FILE / SYNC_UPDATE_FILE with its whole content.
    func immediateSyncFile(_ request: any FDFSRequest, header: FDFSHeader, body: ByteBuffer, content: ByteBuffer,
                           context: ImmediateRequestContext) -> ImmediateResponse? {
        let state = context.local.object { SyncConnectionState() }
        guard let incoming = try? beginSyncStream(request) else { return nil }
        let requestBytes = Int64(FDFSHeader.size) + header.bodyLength
        switch incoming {
        case .syncFile(let w):
            do {
                try write(content, to: w.file)
            } catch {
                w.file.abort()
                return nil
            }
            countSyncRequest(header, body: body, bytes: requestBytes)
            do {
                try placeSyncFile(w, state)
            } catch {
                w.file.abort()
                return Self.statusResponse((error as? StorageError)?.status ?? .EIO, context)
            }
            stats.syncReceived(bytes: requestBytes)
            return ImmediateResponse(EmptyBody().responsePacket(allocator: context.allocator))
        case .discard(let error, let record):
            // Already here (EEXIST): recorded, answered with the error, content dropped.
            guard error.status != .EINVAL else { return nil }
            countSyncRequest(header, body: body, bytes: requestBytes)
            if let record {
                do { try applied(record, state) } catch { return Self.statusResponse((error as? StorageError)?.status ?? .EIO, context) }
            }
            return Self.statusResponse(error.status, context)
        default:
            // Metadata content and ranges: `handle` serves them.
            incoming.abort()
            return nil
        }
    }

    /// DELETE_FILE and SYNC_DELETE_FILE of a data file; nil for any other request. Their
    /// failures (ENOENT, EIO) keep the connection, so they are answered here as `handle`
    /// would; a request that does not decode or names no file of ours (EINVAL, which closes)
    /// goes to `handle`.
    func immediateDelete(_ header: FDFSHeader, body: ByteBuffer, context: ImmediateRequestContext) -> ImmediateResponse? {
        let paths = store.storePaths
        switch header.command {
        case StorageCommand.deleteFile.rawValue:
            guard let r = try? CommandRegistry.decodeRequest(header: header, body: body, role: .storage) as? DeleteFileRequest,
                  let (name, path) = try? store.resolve(group: r.file.group, filename: r.file.filename, storePaths: paths) else { return nil }
            stats.requested(header, fixedPartBytes: body.readableBytes)
            do {
                try store.delete(name, path: path, now: now())
            } catch {
                return Self.statusResponse(error.status, context)
            }
            stats.succeeded(.delete)
        case StorageToStorageCommand.syncDeleteFile.rawValue:
            guard let r = try? CommandRegistry.decodeRequest(header: header, body: body, role: .storage) as? SyncDeleteFileRequest,
                  MetadataName.file(r.filename, storePathCount: paths.count) == nil,
                  let (name, path) = try? store.resolve(group: r.group, filename: r.filename, storePaths: paths) else { return nil }
            let requestBytes = Int64(FDFSHeader.size) + header.bodyLength
            countSyncRequest(header, body: body, bytes: requestBytes)
            do {
                try syncDeleteFile(name, path: path, timestamp: r.timestamp, context.local.object { SyncConnectionState() })
            } catch {
                return Self.statusResponse((error as? StorageError)?.status ?? .EIO, context)
            }
            stats.syncReceived(bytes: requestBytes)
        default:
            return nil
        }
        return ImmediateResponse(EmptyBody().responsePacket(allocator: context.allocator))
    }

    /// The counters `handle` moves when a sync request's head arrives.
    func countSyncRequest(_ header: FDFSHeader, body: ByteBuffer, bytes: Int64) {
        stats.requested(header, fixedPartBytes: body.readableBytes)
        stats.syncReceiving(bytes: bytes)
    }

    /// The content into a temporary file, counted as `handle` counts a body part (a failure
    /// is not counted: `handle` writes the request again and counts that).
    func write(_ content: ByteBuffer, to file: UploadFile) throws {
        try content.withUnsafeReadableBytes { (bytes) throws in try file.write(bytes) }
        stats.fileWritten(success: true)
    }

    static func statusResponse(_ status: FDFSStatus, _ context: ImmediateRequestContext) -> ImmediateResponse {
        var packet = context.allocator.buffer(capacity: FDFSHeader.size)
        FDFSHeader.response(bodyLength: 0, status: status).encode(into: &packet)
        return ImmediateResponse(packet)
    }
}

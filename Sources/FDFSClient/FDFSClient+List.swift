public import FDFSModel
public import FDFSProtocol

extension FDFSClient {
    /// Every file of `group` whose remote filename starts with `prefix`, in name order, each
    /// once, passed to `body` in batches: LIST_FILES (a swift-fdfs extension, protocol notes)
    /// from the catalogs of all ACTIVE storages of the group, merged, so a file that has not
    /// reached every member yet is listed too. Stops after `limit` files; returns how many
    /// were listed. A C FastDFS storage does not know the command (it answers with an error
    /// status or closes the connection).
    @discardableResult
    public func listFiles(group: GroupName, prefix: String = "", limit: Int? = nil, pageSize: Int = ListFilesRequest.maxLimit,
                          _ body: ([ListedFile]) async throws -> Void) async throws -> Int {
        let members = try await withTracker { try await $0.listStorages(group: group) }.filter { $0.status == .active }
        guard !members.isEmpty else { throw FDFSClientError.status(.ENOENT) }
        var cursors: [ListCursor] = members.map {
            ListCursor(endpoint: StorageEndpoint(ipAddress: $0.ipAddress, port: $0.storagePort))
        }
        var reachable = 0
        var lastFailure: (any Error)?
        for i in cursors.indices {
            do {
                try await cursors[i].fill(self, group: group, prefix: prefix, pageSize: pageSize)
                reachable += 1
            } catch let unavailable as ServerUnavailableError {
                cursors[i].exhausted = true
                lastFailure = unavailable
            }
        }
        if reachable == 0, let lastFailure { throw lastFailure }
        var listed = 0
        var batch: [ListedFile] = []
        while limit.map({ listed < $0 }) ?? true {
            // The smallest name at the head of any storage's page; the same name on others is skipped.
            guard let smallest = cursors.indices.filter({ !cursors[$0].page.isEmpty })
                .min(by: { cursors[$0].page.first!.remoteFilename < cursors[$1].page.first!.remoteFilename }) else { break }
            let file = cursors[smallest].page.first!
            for i in cursors.indices where !cursors[i].page.isEmpty && cursors[i].page.first!.remoteFilename == file.remoteFilename {
                cursors[i].page.removeFirst()
                if cursors[i].page.isEmpty { try await cursors[i].fill(self, group: group, prefix: prefix, pageSize: pageSize) }
            }
            batch.append(file)
            listed += 1
            if batch.count >= pageSize {
                try await body(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { try await body(batch) }
        return listed
    }
}

/// One storage's position in a merged listing.
struct ListCursor {
    let endpoint: StorageEndpoint
    var page: ArraySlice<ListedFile> = []
    var after = ""
    var exhausted = false

    init(endpoint: StorageEndpoint) { self.endpoint = endpoint }

    /// Fetches the next page when the current one is used up.
    mutating func fill(_ client: FDFSClient, group: GroupName, prefix: String, pageSize: Int) async throws {
        guard page.isEmpty, !exhausted else { return }
        let after = self.after
        let next = try await client.withStorage(endpoint) { try await $0.listFiles(group: group, prefix: prefix, after: after, limit: pageSize) }
        page = next[...]
        if let last = next.last { self.after = last.remoteFilename }
        if next.count < pageSize { exhausted = true }
    }
}

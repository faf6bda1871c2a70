import Synchronization

/// Batches catalog changes off the request path: `enqueue` returns at once, and one drain
/// task applies everything queued so far in one transaction, then the next batch, in order.
/// The drain waits `coalesceDelay` before each transaction and changes collect meanwhile (and
/// while a transaction commits), so the batch size follows the load: a few changes per commit
/// for one client, hundreds under load.
public actor CatalogWriter {
    public nonisolated let catalog: FileCatalog
    let maxBatch: Int
    let coalesceDelay: Duration
    let onError: @Sendable (CatalogError) -> Void
    /// What `enqueue` fills from any thread and the drain task empties.
    struct Inbox {
        var pending: [CatalogChange] = []
        var enqueued: UInt64 = 0
        var draining = false
    }
    nonisolated let inbox = Mutex(Inbox())
    var applied: UInt64 = 0
    var waiters: [(target: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    /// Transactions committed (for tests and statistics).
    public private(set) var commits = 0
    /// Changes written (or attempted) so far.
    public var changesApplied: UInt64 { applied }

    /// `onError` hears of a batch that could not be written (the catalog then lags the files
    /// until the next rebuild; the request that caused it was already answered).
    public init(catalog: FileCatalog, maxBatch: Int = 4096, coalesceDelay: Duration = .milliseconds(10),
                onError: @escaping @Sendable (CatalogError) -> Void = { _ in }) {
        self.catalog = catalog
        self.maxBatch = maxBatch
        self.coalesceDelay = coalesceDelay
        self.onError = onError
    }

    /// The committed metadata of a file (see `FileCatalog.metadata(of:)`).
    public nonisolated func metadata(of fileID: String) async throws(CatalogError) -> [CatalogMetadataItem] {
        try await catalog.metadata(of: fileID)
    }

    /// A page of `FileCatalog.files(group:prefix:after:limit:)` that includes every change
    /// queued before the call: it waits for those to be committed first, so a file whose
    /// upload was answered is listed and a deleted one is not.
    public func files(group: String, prefix: String = "", after: String = "", limit: Int = 1000) async throws(CatalogError) -> [CatalogEntry] {
        try await flush()
        return try await catalog.readFiles(group: group, prefix: prefix, after: after, limit: limit)
    }

    /// Queues a change; it is written with the next batch. Callable from any thread without
    /// waiting (the storage's request handlers call it on their event loops).
    public nonisolated func enqueue(_ change: CatalogChange) {
        let start = inbox.withLock { box in
            box.pending.append(change)
            box.enqueued += 1
            if box.draining { return false }
            box.draining = true
            return true
        }
        if start { Task { await self.drain() } }
    }

    /// Queues a change and waits until it is committed (SET_METADATA, whose data lives only
    /// here, answers after this).
    public func commit(_ change: CatalogChange) async throws(CatalogError) {
        enqueue(change)
        try await flush()
    }

    /// Waits until every change queued before the call is committed; throws if the batch
    /// holding one of them failed.
    public func flush() async throws(CatalogError) {
        let target = inbox.withLock { $0.enqueued }
        guard applied < target else { return }
        do {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                waiters.append((target, c))
            }
        } catch let error as CatalogError {
            throw error
        } catch {
            throw CatalogError("flush", error)
        }
    }

    func drain() async {
        while true {
            if coalesceDelay > .zero && inbox.withLock({ $0.pending.count }) < maxBatch { try? await Task.sleep(for: coalesceDelay) }
            let maxBatch = maxBatch
            let batch: [CatalogChange] = inbox.withLock { box in
                let batch = Array(box.pending.prefix(maxBatch))
                box.pending.removeFirst(batch.count)
                // Empty: this task ends, and the next enqueue starts another.
                if batch.isEmpty { box.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            var failure: CatalogError? = nil
            do {
                try await catalog.apply(batch)
                commits += 1
            } catch {
                failure = error
                onError(error)
            }
            applied += UInt64(batch.count)
            let done = waiters.filter { $0.target <= applied }
            waiters.removeAll { $0.target <= applied }
            for w in done {
                if let failure { w.continuation.resume(throwing: failure) } else { w.continuation.resume() }
            }
        }
    }
}

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
        /// The binlog position each pending change was recorded through (nil: none given).
        var positions: [BinlogPosition?] = []
        var enqueued: UInt64 = 0
        var draining = false
        /// The batch being committed: still looked at by `deletedAt` until it is.
        var inFlight: [CatalogChange] = []
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
    /// waiting (the storage's request handlers call it on their event loops). `binlogPosition`
    /// is the end of the binlog record the change belongs to: the batch that commits the
    /// change records it too (`FileCatalog.binlogApplied`). Changes must be queued in binlog order.
    public nonisolated func enqueue(_ change: CatalogChange, binlogPosition: BinlogPosition? = nil) {
        let start = inbox.withLock { box in
            box.pending.append(change)
            box.positions.append(binlogPosition)
            box.enqueued += 1
            if box.draining { return false }
            box.draining = true
            return true
        }
        if start { Task { await self.drain() } }
    }

    /// When `fileID` was deleted here: the latest delete queued, being committed or committed
    /// (its tombstone). Callable from any thread; the committed part is one SQLite read.
    public nonisolated func deletedAt(_ fileID: String) throws(CatalogError) -> Int64? {
        let queued: Int64? = inbox.withLock { box in
            var latest: Int64? = nil
            // Both queues read in place (a replicated create asks on every file).
            func scan(_ queue: [CatalogChange]) {
                for case .delete(let id, let at) in queue where id == fileID { latest = max(latest ?? at, at) }
            }
            scan(box.inFlight)
            scan(box.pending)
            return latest
        }
        let committed = try catalog.tombstone(fileID)
        switch (queued, committed) {
        case (let q?, let c?): return max(q, c)
        default: return queued ?? committed
        }
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
            let (batch, position): ([CatalogChange], BinlogPosition?) = inbox.withLock { box in
                let batch = Array(box.pending.prefix(maxBatch))
                let position = box.positions.prefix(batch.count).last(where: { $0 != nil }) ?? nil
                box.pending.removeFirst(batch.count)
                box.positions.removeFirst(batch.count)
                box.inFlight = batch
                // Empty: this task ends, and the next enqueue starts another.
                if batch.isEmpty { box.draining = false }
                return (batch, position)
            }
            if batch.isEmpty { return }
            var failure: CatalogError? = nil
            do {
                try await catalog.apply(batch, binlogPosition: position)
                commits += 1
            } catch {
                failure = error
                onError(error)
            }
            inbox.withLock { $0.inFlight = [] }
            applied += UInt64(batch.count)
            let done = waiters.filter { $0.target <= applied }
            waiters.removeAll { $0.target <= applied }
            for w in done {
                if let failure { w.continuation.resume(throwing: failure) } else { w.continuation.resume() }
            }
        }
    }
}

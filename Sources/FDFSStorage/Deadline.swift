/// A call that took longer than its deadline.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var what: String
    public var timeout: Duration
    public var description: String { "\(what) took longer than \(timeout)" }
}

/// Runs `body`, failing with `DeadlineExceeded` when it takes longer than `timeout`
/// (`onTimeout` unblocks it, e.g. by closing its connection).
func withDeadline<T: Sendable>(_ timeout: Duration, what: String, onTimeout: @escaping @Sendable () async -> Void,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask { try await body() }
        tasks.addTask {
            try await Task.sleep(for: timeout)
            await onTimeout()
            return nil
        }
        defer { tasks.cancelAll() }
        guard let first = try await tasks.next(), let value = first else {
            throw DeadlineExceeded(what: what, timeout: timeout)
        }
        return value
    }
}

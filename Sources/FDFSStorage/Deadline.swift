import NIOCore
import NIOPosix
import Synchronization

/// A call that took longer than its deadline.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var what: String
    public var timeout: Duration
    public var description: String { "\(what) took longer than \(timeout)" }
}

/// Runs `body`, failing with `DeadlineExceeded` when it takes longer than `timeout`:
/// `onTimeout` must unblock it (every caller closes the connection `body` waits on, which
/// fails its request).
///
/// The deadline is a timer on an event loop, cancelled when `body` returns: a sync push runs
/// this once per record, and a timer costs far less than the two child tasks (one sleeping)
/// of a task group.
func withDeadline<T: Sendable>(_ timeout: Duration, what: String, onTimeout: @escaping @Sendable () async -> Void,
                               _ body: () async throws -> T) async throws -> T {
    let expired = Mutex(false)
    let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) {
        expired.withLock { $0 = true }
        Task { await onTimeout() }
    }
    defer { timer.cancel() }
    do {
        return try await body()
    } catch where expired.withLock({ $0 }) {
        throw DeadlineExceeded(what: what, timeout: timeout)
    }
}

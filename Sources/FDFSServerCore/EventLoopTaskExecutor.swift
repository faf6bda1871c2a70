public import NIOCore

/// Runs a task's jobs on one NIO event loop: the loop a connection's channel lives on.
///
/// A connection's handler is an async function fed by `NIOAsyncChannel`. Without a preference
/// its jobs run on the global cooperative pool, so every request crosses threads twice (the
/// event loop wakes a pool thread with the request, the pool thread wakes the event loop with
/// the response) and, for the default actors the handler calls (the store, the tracker core),
/// possibly more. With the channel's own loop as the task's executor preference (SE-0417), a
/// small request is decoded, handled, and answered on one thread with no wake-up in between:
/// the pattern of the C servers' worker threads. Default actors run the jobs of such a task on
/// the same loop; work that may block for long (SQLite commits, large file reads and writes,
/// fsync) must stay behind its own executor (GRDB's queue, NIO's blocking pool).
@available(macOS 15.0, *)
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

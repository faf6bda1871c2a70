public import FDFSModel

/// A request the tracker refuses: the status byte of the reply and, for the log, why.
public struct TrackerError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: FDFSStatus
    public var message: String

    public init(_ status: FDFSStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }
}

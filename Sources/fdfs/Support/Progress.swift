import Foundation

/// A progress bar on standard error for transfers of more than `threshold` bytes, drawn only
/// when standard error is a terminal: bytes done, rate and time left, redrawn at most ten
/// times a second.
final class ProgressBar: @unchecked Sendable {
    // @unchecked: every mutable field is accessed under `lock`.
    static let threshold: Int64 = 4 * 1024 * 1024
    let total: Int64
    let label: String
    private let start = Date()
    private var done: Int64 = 0
    private var lastDraw = Date.distantPast
    private let lock = NSLock()

    /// Nil when there is nothing to draw (not a terminal, or a small transfer).
    init?(total: Int64, label: String) {
        guard total > Self.threshold, isatty(STDERR_FILENO) == 1 else { return nil }
        self.total = total
        self.label = label
    }

    func set(_ bytes: Int64) {
        lock.lock()
        defer { lock.unlock() }
        done = bytes
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= 0.1 || done >= total {
            lastDraw = now
            draw(now)
        }
    }

    func advance(_ bytes: Int) {
        lock.lock()
        let next = done + Int64(bytes)
        lock.unlock()
        set(next)
    }

    func finish() {
        set(done)
        try? FileHandle.standardError.write(contentsOf: Data("\n".utf8))
    }

    private func draw(_ now: Date) {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = max(0.001, now.timeIntervalSince(start))
        let rate = Double(done) / elapsed
        let left = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "\r%@ [%@] %3d%% %@ / %@  %@/s  %@ left ", label, bar, Int(fraction * 100),
                          Self.bytes(Double(done)), Self.bytes(Double(total)), Self.bytes(rate), Self.duration(left))
        try? FileHandle.standardError.write(contentsOf: Data(line.utf8))
    }

    static func bytes(_ n: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = n
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
    }
}

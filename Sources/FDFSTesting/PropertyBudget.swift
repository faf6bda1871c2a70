import Foundation

/// How many seeded iterations a property test runs. CI runs the counts the tests name
/// (bounded: the property tests share two cores with the cluster tests); set
/// `FDFS_PROPERTY_SCALE=N` to run N times as many, e.g. for a long run before a release.
/// The inputs are a seeded sequence, so a longer run covers the shorter one's inputs first and
/// a failure's seed and iteration replay it either way.
public enum PropertyBudget {
    public static let scale: Int = {
        guard let text = ProcessInfo.processInfo.environment["FDFS_PROPERTY_SCALE"], let n = Int(text), n >= 1 else { return 1 }
        return n
    }()

    public static func iterations(_ count: Int) -> Int { count * scale }
}

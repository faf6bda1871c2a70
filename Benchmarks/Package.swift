// swift-tools-version:6.1
// Micro-benchmarks of swift-fdfs's hot paths (ordo-one/benchmark), in a package of their own so
// that the main build never compiles them. Run: cd Benchmarks && swift package benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, whatever the clone is called.
let fdfs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "swift-fdfs-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FDFSBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FDFSModel", package: fdfs),
                .product(name: "FDFSProtocol", package: fdfs),
                .product(name: "FDFSStorageEngine", package: fdfs),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/FDFSBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

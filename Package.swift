// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-fdfs",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "FDFSModel", targets: ["FDFSModel"]),
        .library(name: "FDFSProtocol", targets: ["FDFSProtocol"]),
        .library(name: "FDFSConfig", targets: ["FDFSConfig"]),
        .library(name: "FDFSClient", targets: ["FDFSClient"]),
        .library(name: "FDFSTracker", targets: ["FDFSTracker"]),
        // For the micro-benchmarks in Benchmarks/.
        .library(name: "FDFSStorageEngine", targets: ["FDFSStorageEngine"]),
        .executable(name: "fdfs-trackerd", targets: ["fdfs-trackerd"]),
        .executable(name: "fdfs-storaged", targets: ["fdfs-storaged"]),
        .executable(name: "fdfs", targets: ["fdfs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Linked against the system libsqlite3 (Debian: libsqlite3-dev; tools/test installs it).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Latency percentiles of `fdfs bench`.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // MD5 of the FastDFS anti-steal token on the HTTP side.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // `/metrics` of the daemons: a Prometheus registry per daemon (swift-prometheus is the
        // swift-metrics backend; its registry API carries the HELP texts).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(name: "FDFSModel", swiftSettings: strict),
        .target(
            name: "FDFSProtocol",
            dependencies: ["FDFSModel", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .target(name: "FDFSConfig", dependencies: ["FDFSModel"], swiftSettings: strict),
        // Durable files: atomic replace (temp + fsync + rename + directory fsync), EINTR-safe I/O.
        .target(name: "FDFSFileSystem", dependencies: ["CFDFSSystem"], swiftSettings: strict),
        // Linux calls Glibc's Swift module lacks (renameat2, getrandom), and the carry-less
        // multiplication CRC32.
        .target(name: "CFDFSSystem"),
        .target(
            name: "FDFSStorageEngine",
            dependencies: ["FDFSModel", "FDFSFileSystem", "CFDFSSystem", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // The daemons' Prometheus metrics: request counters, latency histograms, scrape-time gauges.
        .target(
            name: "FDFSMetrics",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FDFSServerCore",
            dependencies: [
                "FDFSProtocol", "FDFSMetrics",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The HTTP port of the daemons: files with ranges and tokens, /healthz.
        .target(
            name: "FDFSHTTP",
            dependencies: [
                "FDFSModel", "FDFSServerCore", "FDFSMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FDFSClient",
            dependencies: [
                "FDFSModel", "FDFSProtocol", "FDFSFileSystem", "FDFSConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FDFSTracker",
            dependencies: [
                "FDFSModel", "FDFSProtocol", "FDFSConfig", "FDFSServerCore", "FDFSClient", "FDFSFileSystem", "FDFSHTTP", "FDFSMetrics",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FDFSStorage",
            dependencies: [
                "FDFSModel", "FDFSProtocol", "FDFSStorageEngine", "FDFSClient", "FDFSServerCore", "FDFSFileSystem", "FDFSConfig", "FDFSHTTP",
                "FDFSMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "fdfs-storaged",
            dependencies: [
                "FDFSStorage", "FDFSConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "fdfs-trackerd",
            dependencies: [
                "FDFSTracker", "FDFSConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "fdfs",
            dependencies: [
                "FDFSClient", "FDFSConfig", "FDFSModel", "FDFSProtocol", "FDFSFileSystem", "FDFSServerCore", "FDFSHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Test support shared by the test targets: golden-vector files, seeded randomness,
        // scripted peers.
        .target(
            name: "FDFSTesting",
            dependencies: [
                "FDFSModel", "FDFSProtocol", "FDFSClient", "FDFSTracker", "FDFSServerCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "FDFSModelTests", dependencies: ["FDFSModel", "FDFSTesting"], swiftSettings: strict),
        .testTarget(
            name: "FDFSProtocolTests",
            dependencies: [
                "FDFSProtocol", "FDFSModel", "FDFSTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FDFSServerCoreTests",
            dependencies: [
                "FDFSServerCore", "FDFSProtocol", "FDFSTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FDFSTrackerTests",
            dependencies: ["FDFSTracker", "FDFSProtocol", "FDFSModel", "FDFSConfig", "FDFSTesting", "FDFSClient", "FDFSServerCore",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FDFSStorageEngineTests",
            dependencies: ["FDFSStorageEngine", "FDFSModel", "FDFSFileSystem", "FDFSTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FDFSStorageTests",
            dependencies: [
                "FDFSStorage", "FDFSTracker", "FDFSServerCore", "FDFSClient", "FDFSProtocol", "FDFSModel", "FDFSTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FDFSCLITests",
            dependencies: ["FDFSClient", "FDFSProtocol", "FDFSModel", "FDFSTesting", "FDFSHTTP"],
            exclude: ["Golden"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FDFSHTTPTests",
            dependencies: ["FDFSHTTP", "FDFSMetrics", "FDFSModel", "FDFSTesting", "FDFSServerCore", .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "FDFSConfigTests", dependencies: ["FDFSConfig", "FDFSModel", "FDFSTesting"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

// Coverage-guided fuzz targets (libFuzzer, docs/fuzzing.md): only when tools/fuzz builds
// with FDFS_FUZZ=1 (and -sanitize=fuzzer,address), into .build-fuzz.
if Context.environment["FDFS_FUZZ"] == "1" {
    let fuzz: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]
    let targets: [(String, String, [Target.Dependency])] = [
        ("fuzz-frame", "Fuzz/frame", ["FDFSProtocol", .product(name: "NIOCore", package: "swift-nio")]),
        ("fuzz-message", "Fuzz/message", ["FDFSProtocol", .product(name: "NIOCore", package: "swift-nio")]),
        ("fuzz-fileid", "Fuzz/fileid", ["FDFSModel"]),
        ("fuzz-config", "Fuzz/config", ["FDFSConfig"]),
        ("fuzz-statefiles", "Fuzz/statefiles", ["FDFSStorageEngine", "FDFSTracker"]),
        ("fuzz-http", "Fuzz/http", ["FDFSHTTP", "FDFSModel", .product(name: "NIOCore", package: "swift-nio"),
                                    .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio")]),
    ]
    for (name, path, dependencies) in targets {
        package.targets.append(.executableTarget(name: name, dependencies: dependencies, path: path, swiftSettings: fuzz))
    }
}


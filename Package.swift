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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(name: "FDFSModel", swiftSettings: strict),
        .target(
            name: "FDFSProtocol",
            dependencies: ["FDFSModel", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .target(name: "FDFSConfig", dependencies: ["FDFSModel"], swiftSettings: strict),
        // Test support shared by the test targets: golden-vector files, seeded randomness.
        .target(name: "FDFSTesting", swiftSettings: strict),
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
        .testTarget(name: "FDFSConfigTests", dependencies: ["FDFSConfig", "FDFSModel", "FDFSTesting"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

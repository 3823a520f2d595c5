// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "circle-archive",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "circle-archive", targets: ["circle-archive"]),
        .library(name: "ArchiveStore", targets: ["ArchiveStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Tests only: reads docker-compose.yml and Datasette's metadata.yml.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // The schema: migrations/*.sql compiled into the binary. List every new file here.
        .target(
            name: "ArchiveMigrations",
            path: "migrations",
            resources: [
                .embedInCode("0001_initial.sql"), .embedInCode("0002_archive_counters.sql"), .embedInCode("0003_backfill.sql"),
                .embedInCode("0004_canonical_project_slugs.sql"),
                .embedInCode("0005_enrichment.sql"), .embedInCode("0006_enrichment_queue_appends.sql"),
                .embedInCode("0007_workflows_by_stopped_at.sql"),
                .embedInCode("0008_run_summaries.sql"),
            ],
            swiftSettings: swiftSettings
        ),
        // What circle-archive knows about CircleCI: JSON, timestamps, webhook events and API
        // records. Free of storage and of HTTP.
        .target(
            name: "ArchiveModel",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ArchiveStore",
            dependencies: [
                "ArchiveModel",
                "ArchiveMigrations",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Rows as table, CSV, JSON, JSON lines or Markdown: one layer for the CLI and the dashboard.
        .target(
            name: "ArchiveOutput",
            dependencies: ["ArchiveModel", "ArchiveStore"],
            swiftSettings: swiftSettings
        ),
        // The read-only dashboard: report figures as pages, charts and CSV/JSON, for serve and
        // `circle-archive dashboard`.
        .target(
            name: "ArchiveDashboard",
            dependencies: [
                "ArchiveModel",
                "ArchiveOutput",
                "ArchiveStore",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ArchiveServer",
            dependencies: [
                "ArchiveBackfill",
                "ArchiveDashboard",
                "ArchiveModel",
                "ArchiveStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // `backfill`: reads CircleCI's API v2 into the store.
        .target(
            name: "ArchiveBackfill",
            dependencies: [
                "ArchiveModel",
                "ArchiveStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // System zlib, for reading gzip input.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "CircleArchiveCLI",
            dependencies: [
                "ArchiveBackfill",
                "ArchiveModel",
                "ArchiveOutput",
                "ArchiveServer",
                "ArchiveStore",
                "CZlib",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "circle-archive",
            dependencies: ["CircleArchiveCLI"],
            swiftSettings: swiftSettings
        ),
        // Generates realistic events for bench/; not part of the product.
        .executableTarget(
            name: "circle-archive-bench",
            dependencies: ["ArchiveModel", "ArchiveServer", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // Fixtures and helpers shared by the test targets.
        .target(
            name: "ArchiveTestSupport",
            dependencies: [
                "ArchiveModel",
                "ArchiveServer",
                "ArchiveStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ArchiveTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArchiveStoreTests",
            dependencies: ["ArchiveModel", "ArchiveStore", "ArchiveMigrations", "ArchiveTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArchiveServerTests",
            dependencies: [
                "ArchiveModel",
                "ArchiveServer",
                "ArchiveStore",
                "ArchiveTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArchiveBackfillTests",
            dependencies: [
                "ArchiveBackfill",
                "ArchiveModel",
                "ArchiveStore",
                "ArchiveTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "CircleArchiveCLI", "ArchiveMigrations", "ArchiveModel", "ArchiveOutput", "ArchiveServer", "ArchiveStore", "ArchiveTestSupport",
                "circle-archive",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

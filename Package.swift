// swift-tools-version:6.0
// Raftlite: a fault-tolerant distributed SQL database (SQLite + Raft), speaking rqlite's HTTP API.
import PackageDescription

let package = Package(
    name: "Raftlite",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "raftlited", targets: ["raftlited"]),
        .executable(name: "raftlite-sim", targets: ["raftlite-sim"]),
        .executable(name: "raftlite", targets: ["raftlite"]),
    ],
    dependencies: [
        // Command-line parsing for the tools that use GNU-style flags (raftlite-sim, later the shell).
        // raftlited keeps rqlite's Go-style single-dash flags, which need their own parser.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Structured logging for the daemon and its libraries.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Metrics API used by the node and the HTTP layer, exported in the Prometheus text format at /metrics.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // SHA-256 and HMAC for signing S3 requests (AWS Signature Version 4) in auto-backup.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: C libraries from Debian packages (libmicrohttpd-dev, libsqlite3-dev, zlib1g-dev)
        .target(
            name: "CMicroHTTPD",
            linkerSettings: [.linkedLibrary("microhttpd")]),
        .target(
            name: "CSQLite",
            linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "CZlib",
            linkerSettings: [.linkedLibrary("z")]),

        // MARK: Libraries
        /// Go-compatible JSON values: a parser that keeps integers apart from floats, and an encoder
        /// whose bytes match rqlite's (compact or 4-space pretty, Go float formatting, HTML escaping).
        .target(name: "JSON"),
        /// Small shared vocabulary: Go duration strings (parse and format), version information.
        .target(name: "Common"),
        /// Swift over SQLite's C API: connections, statements, values, rqlite's type mapping.
        .target(name: "SQLiteDB", dependencies: ["CSQLite"], exclude: ["DESIGN.md"]),
        /// libmicrohttpd wrapper: Request/Response values, suspend/resume, body limits.
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD"], exclude: ["DESIGN.md"]),
        /// The rqlite-compatible HTTP API: routing, parameter parsing, response encoding.
        .target(
            name: "API",
            dependencies: [
                "HTTPServer", "SQLiteDB", "JSON", "Common", "SQLRewrite", "CZlib",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        /// Deterministic rewriting of RANDOM()/RANDOMBLOB()/'now' before statements are replicated.
        .target(name: "SQLRewrite", exclude: ["DESIGN.md"]),
        /// The node shell: the worker thread owning the SQLite write connection, the read pool, status.
        .target(
            name: "Node",
            dependencies: [
                "API", "SQLiteDB", "CSQLite", "JSON", "Common", "Command", "RaftCore", "RaftWire", "Storage", "Transport",
                "CZlib", "Backup",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["DESIGN.md"]),
        /// The Raft algorithm as a pure, deterministic state machine: no IO, clocks, threads or Foundation.
        .target(name: "RaftCore", exclude: ["DESIGN.md"]),
        /// The binary encoding of Raft messages between nodes (bounds-checked: peers are untrusted).
        .target(name: "RaftWire", dependencies: ["RaftCore"]),
        /// Replicated log entry payloads: statements and parameters, load images, cluster metadata.
        .target(name: "Command", dependencies: ["SQLiteDB", "CZlib"]),
        /// Durable Raft state: the segmented, checksummed log and the term/vote file.
        .target(name: "Storage", dependencies: ["CZlib"]),
        /// Node-to-node TCP: handshake, checksummed frames, pipelined one-way messages, pooled calls.
        .target(name: "Transport", dependencies: ["CZlib"], exclude: ["DESIGN.md"]),
        /// Deterministic simulation of RaftCore clusters: virtual time, faulty network and disks, invariants.
        .target(name: "RaftSimulation", dependencies: ["RaftCore"]),
        /// Automatic backup to S3-compatible storage or a directory, and automatic restore at start-up.
        .target(
            name: "Backup",
            dependencies: ["Common", "JSON", "SQLiteDB", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),

        // MARK: Executables
        .executableTarget(
            name: "raftlited",
            dependencies: [
                "Node", "API", "HTTPServer", "SQLiteDB", "Common", "Backup",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .executableTarget(
            name: "raftlite-sim",
            dependencies: [
                "RaftSimulation", "RaftCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        /// The interactive SQL shell (rqlite's `rqlite`): line editing, dot-commands, leader redirects.
        .executableTarget(
            name: "raftlite",
            dependencies: ["JSON", "Common", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // MARK: Tests
        /// Shared by the test targets: a raw-socket HTTP client, real-process launcher, polling helpers.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "Common"]),
        .testTarget(name: "SQLiteDBTests", dependencies: ["SQLiteDB"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"]),
        .testTarget(name: "SQLRewriteTests", dependencies: ["SQLRewrite"]),
        .testTarget(name: "APITests", dependencies: ["API", "HTTPServer", "SQLiteDB", "JSON"]),
        .testTarget(
            name: "RaftCoreTests", dependencies: ["RaftCore", "RaftSimulation"],
            resources: [.copy("testdata")]),
        .testTarget(name: "RaftWireTests", dependencies: ["RaftWire", "RaftCore"]),
        .testTarget(name: "CommandTests", dependencies: ["Command", "SQLiteDB"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["raftlited", "JSON", "TestSupport"]),
        .testTarget(name: "BackupTests", dependencies: ["Backup", "TestSupport", "SQLiteDB", "JSON", "Common"]),
        .testTarget(name: "NodeTests", dependencies: ["Node", "API", "Command"]),
    ]
)

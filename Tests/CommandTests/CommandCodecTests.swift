import Testing

@testable import Command
import SQLiteDB

@Suite struct CommandCodecTests {
    static let sample = StatementBatch(
        statements: [
            Statement(sql: "CREATE TABLE t (a, b)"),
            Statement(
                sql: "INSERT INTO t VALUES(?, :b)",
                parameters: [
                    Parameter(value: .integer(-9_223_372_036_854_775_808)), Parameter(name: "b", value: .real(-0.5)),
                ]),
            Statement(
                sql: "INSERT INTO t VALUES(?, ?) RETURNING *",
                parameters: [Parameter(value: .text("héllo ✓")), Parameter(value: .blob([0, 255, 7]))], forceQuery: true),
            Statement(sql: "UPDATE t SET a = ? WHERE b IS ?", parameters: [Parameter(value: .bool(true)), Parameter(value: .null)]),
        ],
        transaction: true, timings: true, timeout: 1.25)

    @Test(arguments: [
        Command.execute(sample), .query(sample), .request(sample),
        .execute(StatementBatch(statements: [])),
        .load(image: Array("SQLite format 3\0".utf8) + [UInt8](repeating: 0, count: 10_000)),
        .setNodeMetadata(id: "node-1", raftAddress: "10.0.0.1:4002", apiURL: "http://10.0.0.1:4001"),
        .loadBegin(id: UInt64.max, size: 3 << 30, chunks: 3072, sha256: [UInt8](repeating: 0xab, count: 32)),
        .loadChunk(id: 7, sequence: 41, rawSize: 1 << 20, zlib: [UInt8](repeating: 0x5a, count: 9000)),
        .loadCommit(id: 7), .loadAbort(id: 7),
    ])
    func roundTrip(_ command: Command) throws {
        #expect(try Command.decode(command.encode()) == command)
    }

    @Test func largeBatchesAndImagesAreCompressed() throws {
        let many = Command.execute(
            StatementBatch(statements: (0..<600).map { Statement(sql: "INSERT INTO t VALUES(\($0))") }))
        let encoded = many.encode()
        #expect(encoded[2] == 1)
        #expect(try Command.decode(encoded) == many)

        let long = Command.execute(StatementBatch(statements: [Statement(sql: String(repeating: "x", count: 5000))]))
        #expect(long.encode()[2] == 1)
        #expect(Command.execute(Self.sample).encode()[2] == 0)

        let image = Command.load(image: [UInt8](repeating: 0, count: 1 << 20))
        #expect(image.encode().count < 10_000)
    }

    @Test func incompressibleDataStaysPlain() throws {
        var rng = SystemRandomNumberGenerator()
        let noise = (0..<8192).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let cmd = Command.execute(
            StatementBatch(statements: [Statement(sql: "INSERT INTO t VALUES(?)", parameters: [Parameter(value: .blob(noise))])]))
        // One 4096+ byte statement would trigger compression, but this one's SQL is short: plain.
        #expect(cmd.encode()[2] == 0)
        #expect(try Command.decode(cmd.encode()) == cmd)
    }

    @Test func kindIsReadFromTheHeaderAlone() {
        let cases: [(Command, CommandKind, Bool)] = [
            (.execute(Self.sample), .execute, true), (.query(Self.sample), .query, false),
            (.request(Self.sample), .request, true), (.load(image: [1, 2, 3]), .load, true),
            (.setNodeMetadata(id: "a", raftAddress: "h:1", apiURL: ""), .setNodeMetadata, false),
            (.loadBegin(id: 1, size: 2, chunks: 1, sha256: []), .loadBegin, false),
            (.loadChunk(id: 1, sequence: 0, rawSize: 2, zlib: [1]), .loadChunk, false),
            (.loadCommit(id: 1), .loadCommit, true), (.loadAbort(id: 1), .loadAbort, false),
            // Compressed bodies too: the header is never compressed.
            (.execute(StatementBatch(statements: (0..<600).map { Statement(sql: "INSERT INTO t VALUES(\($0))") })), .execute, true),
        ]
        for (command, kind, changes) in cases {
            #expect(Command.peekKind(command.encode()) == kind)
            #expect(kind.changesDatabase == changes)
        }
        #expect(Command.peekKind([]) == nil)
        #expect(Command.peekKind([1, 99, 0]) == nil)
        #expect(Command.peekKind([2, 1, 0]) == nil)
    }

    @Test func everyTruncationIsRejectedWithoutTrapping() {
        let encoded = Command.request(Self.sample).encode()
        for length in 0..<encoded.count {
            #expect(throws: CommandDecodingError.self) { try Command.decode(Array(encoded[..<length])) }
        }
        #expect(throws: CommandDecodingError.self) { try Command.decode(encoded + [0]) }
    }

    @Test func garbageIsRejectedWithoutTrapping() {
        var rng = SplitMix(seed: 42)
        for _ in 0..<5000 {
            let n = Int(rng.next() % 64)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if bytes.count > 2 && rng.next() % 2 == 0 {
                bytes[0] = 1
                bytes[1] = UInt8(1 + rng.next() % 5)
                bytes[2] = UInt8(rng.next() % 2)
            }
            _ = try? Command.decode(bytes)
        }
        #expect(throws: CommandDecodingError.self) { try Command.decode([2, 1, 0]) }
        #expect(throws: CommandDecodingError.self) { try Command.decode([1, 99, 0]) }
        #expect(throws: CommandDecodingError.self) { try Command.decode([1, 1, 7]) }
        // A compressed body whose stream is corrupt.
        #expect(throws: CommandDecodingError.self) { try Command.decode([1, 4, 1, 10, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]) }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

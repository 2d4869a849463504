import Foundation
import Testing

@testable import SQLiteDB

/// A temporary directory removed when the value is deinitialised.
final class TempDir {
    let path: String

    init() {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/raftlite-sqlitedb-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

func stmt(_ sql: String, _ parameters: [Parameter] = [], forceQuery: Bool = false) -> Statement {
    Statement(sql: sql, parameters: parameters, forceQuery: forceQuery)
}

func positional(_ values: SQLValue...) -> [Parameter] { values.map { Parameter(value: $0) } }

/// The rows of a result, or a test failure.
func rows(_ result: StatementResult?, sourceLocation: SourceLocation = #_sourceLocation) -> QueryRows {
    guard case .rows(let rows) = result else {
        Issue.record("expected rows, got \(String(describing: result))", sourceLocation: sourceLocation)
        return QueryRows()
    }
    return rows
}

func write(_ result: StatementResult?, sourceLocation: SourceLocation = #_sourceLocation) -> ExecuteResult {
    guard case .write(let write) = result else {
        Issue.record("expected a write result, got \(String(describing: result))", sourceLocation: sourceLocation)
        return ExecuteResult()
    }
    return write
}

func errorText(_ result: StatementResult?) -> String? {
    if case .error(let message, _) = result { return message }
    return nil
}

/// Opens a fresh read-write database in `dir` with table `foo(id INTEGER PRIMARY KEY, name TEXT, age INTEGER)`.
func openFoo(_ dir: TempDir, name: String = "db.sqlite") throws -> Connection {
    let c = try Connection.open(path: dir.file(name))
    _ = try c.execute([stmt("CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)")])
    return c
}

/// Runs one query and returns its rows.
func select(_ c: Connection, _ sql: String, _ parameters: [Parameter] = []) throws -> QueryRows {
    rows(try c.query([stmt(sql, parameters)]).first)
}

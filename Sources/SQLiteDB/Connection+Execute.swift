import CSQLite

/// rqlite's execute / query / request semantics (rqlite `db/db.go`: `executeWithConn`, `queryWithConn`,
/// `Request`; go-sqlite3 `SQLiteConn.exec`/`query`, `SQLiteRows.Next`). See DESIGN.md for the rules.
extension Connection {
    /// The per-statement error text rqlite reports when `db_timeout` expires on the write path.
    public static let executeTimeoutMessage = "execute timeout"
    /// The per-statement error text rqlite reports when `db_timeout` expires on the read path.
    public static let queryTimeoutMessage = "query timeout"
    /// The per-statement error text for a write sent through the query path.
    public static let writeViaQueryMessage = "attempt to change database via query operation"

    /// Executes write statements.
    ///
    /// - Empty SQL strings are skipped (no result).
    /// - Each statement yields `.write` (or `.rows` when `forceQuery`, e.g. RETURNING) or `.error`.
    /// - Without `transaction`, a failing statement records `.error` and later ones still run.
    /// - With `transaction`, the first failure is recorded, everything is rolled back and processing stops.
    ///   (As in rqlite, a failing `forceQuery` statement does not stop the transaction.)
    /// - Multi-statement SQL text runs every statement; the result is that of the last one (see DESIGN.md).
    /// - `timeout` (seconds, rqlite `db_timeout`): a statement still running at the deadline is interrupted
    ///   and reports `execute timeout` (`query timeout` for `forceQuery`).
    ///
    /// Throws only for request-level failures (BEGIN/COMMIT), as rqlite fails the whole request then.
    public func execute(
        _ statements: [Statement], transaction: Bool = false, timings: Bool = false, timeout: Double? = nil
    ) throws -> [StatementResult] {
        _ = try db()
        return try withDeadline(timeout) { deadline in
            try inTransaction(transaction) { abort in
                var results: [StatementResult] = []
                for statement in statements where !statement.sql.isEmpty {
                    let (result, failed) = executeStatement(statement, timings: timings, deadline: deadline)
                    results.append(result)
                    if failed && transaction {
                        abort()
                        break
                    }
                }
                return results
            }
        }
    }

    /// Executes read statements. A statement that is not read-only yields
    /// `attempt to change database via query operation`; SQL that fails to prepare yields its error. Errors
    /// never stop later statements (even with `transaction`, as in rqlite).
    public func query(
        _ statements: [Statement], transaction: Bool = false, timings: Bool = false, timeout: Double? = nil
    ) throws -> [StatementResult] {
        _ = try db()
        return try withDeadline(timeout) { deadline in
            try inTransaction(transaction) { _ in
                var results: [StatementResult] = []
                for statement in statements where !statement.sql.isEmpty {
                    let readOnly: Bool
                    do {
                        readOnly = try isReadOnly(statement.sql)
                    } catch {
                        results.append(.error(Self.message(error), time: 0))
                        continue
                    }
                    guard readOnly else {
                        results.append(.error(Self.writeViaQueryMessage, time: 0))
                        continue
                    }
                    switch queryStatement(statement, timings: timings, deadline: deadline) {
                    case .success(let rows): results.append(.rows(rows))
                    case .failure(let error): results.append(.error(error.message, time: 0))
                    }
                }
                return results
            }
        }
    }

    /// Executes a mix of reads and writes in order (rqlite's unified endpoint). Each statement is classified
    /// with `isReadOnly`: reads return `.rows`, writes `.write` (or `.rows` with `forceQuery`). With
    /// `transaction` the first failing read or write stops processing and rolls everything back. A statement
    /// whose SQL fails to prepare records its error and — as in rqlite — does not stop the transaction.
    public func request(
        _ statements: [Statement], transaction: Bool = false, timings: Bool = false, timeout: Double? = nil
    ) throws -> [StatementResult] {
        _ = try db()
        return try withDeadline(timeout) { deadline in
            try inTransaction(transaction) { abort in
                var results: [StatementResult] = []
                for statement in statements where !statement.sql.isEmpty {
                    let readOnly: Bool
                    do {
                        readOnly = try isReadOnly(statement.sql)
                    } catch {
                        results.append(.error(Self.message(error), time: 0))
                        continue
                    }
                    let failed: Bool
                    if readOnly {
                        switch queryStatement(statement, timings: timings, deadline: deadline) {
                        case .success(let rows):
                            results.append(.rows(rows))
                            failed = false
                        case .failure(let error):
                            results.append(.error(error.message, time: 0))
                            failed = true
                        }
                    } else {
                        let outcome = executeStatement(statement, timings: timings, deadline: deadline)
                        results.append(outcome.result)
                        failed = outcome.failed
                    }
                    if failed && transaction {
                        abort()
                        break
                    }
                }
                return results
            }
        }
    }

    // MARK: - One statement

    /// rqlite `executeStmtWithConn`: returns the result and whether it is a failure that aborts a
    /// transaction (a failing `forceQuery` statement does not).
    func executeStatement(_ statement: Statement, timings: Bool, deadline: UInt64) -> (result: StatementResult, failed: Bool) {
        if statement.forceQuery {
            switch queryStatement(statement, timings: timings, deadline: deadline) {
            case .success(let rows): return (.rows(rows), false)
            case .failure(let error): return (.error(error.message, time: 0), false)
            }
        }
        let start = raftlite_monotonic_ns()
        if deadline != 0 && start >= deadline {
            return (.error(Self.executeTimeoutMessage, time: 0), true)
        }
        do {
            let (lastInsertID, rowsAffected) = try executeText(statement.sql, statement.parameters)
            let time = timings ? Self.seconds(since: start) : 0
            return (.write(ExecuteResult(lastInsertID: lastInsertID, rowsAffected: rowsAffected, time: time)), false)
        } catch {
            return (.error(timeoutAware(error, deadline: deadline, message: Self.executeTimeoutMessage), time: 0), true)
        }
    }

    /// go-sqlite3 `SQLiteConn.exec`: runs every statement of the text in turn, consuming positional
    /// parameters statement by statement; each statement is stepped once; the result is the last-insert
    /// rowid and `sqlite3_changes` read right after the *last* segment (0/0 if that segment is empty).
    func executeText(_ sql: String, _ parameters: [Parameter]) throws -> (Int64, Int64) {
        let db = try db()
        let text = SQLText(sql)
        var offset = 0
        var argStart = 0
        while true {
            let segment = try prepareSegment(text, at: offset, cacheKey: offset == 0 ? sql : nil)
            var result: (Int64, Int64)?
            if let prepared = segment.statement {
                defer { finish(prepared) }
                let needed = prepared.parameterCount
                if parameters.count - argStart < needed {
                    throw DatabaseError(
                        resultCode: SQLITE_ERROR,
                        message: "not enough args to execute query: want \(needed) got \(parameters.count)")
                }
                try bindParameters(parameters, start: argStart, count: needed, to: prepared)
                let totalBefore = sqlite3_total_changes64(db)
                let rc = sqlite3_step(prepared.handle)
                let rowid = sqlite3_last_insert_rowid(db)
                var changes = Int64(sqlite3_changes(db))
                if sqlite3_total_changes64(db) == totalBefore && changes != 0 {
                    // No row changed and the count was not reset: not a DML statement, so SQLite repeats
                    // the last DML's count. Report the last one a client ran.
                    changes = visibleChanges
                } else {
                    visibleChanges = changes
                }
                if rc != SQLITE_ROW && rc != SQLITE_OK && rc != SQLITE_DONE {
                    throw DatabaseError.last(db)
                }
                argStart += needed
                result = (rowid, changes)
            }
            if segment.isLast { return result ?? (0, 0) }
            offset = segment.nextOffset
        }
    }

    /// rqlite `queryStmtWithConn` over go-sqlite3 `SQLiteConn.query`: only the *last* statement of a
    /// multi-statement text is run (earlier ones are prepared, never stepped); rows are mapped with rqlite's
    /// type rules.
    func queryStatement(_ statement: Statement, timings: Bool, deadline: UInt64) -> Result<QueryRows, DatabaseError> {
        let start = raftlite_monotonic_ns()
        if deadline != 0 && start >= deadline {
            return .failure(DatabaseError(resultCode: SQLITE_INTERRUPT, message: Self.queryTimeoutMessage))
        }
        do {
            var rows = try queryText(statement.sql, statement.parameters)
            if timings { rows.time = Self.seconds(since: start) }
            return .success(rows)
        } catch {
            let message = timeoutAware(error, deadline: deadline, message: Self.queryTimeoutMessage)
            return .failure(DatabaseError(resultCode: (error as? DatabaseError)?.resultCode ?? SQLITE_ERROR, message: message))
        }
    }

    func queryText(_ sql: String, _ parameters: [Parameter]) throws -> QueryRows {
        let text = SQLText(sql)
        var offset = 0
        var argStart = 0
        while true {
            let segment = try prepareSegment(text, at: offset, cacheKey: offset == 0 ? sql : nil)
            let needed = segment.statement?.parameterCount ?? 0
            if parameters.count - argStart < needed {
                if let prepared = segment.statement { finish(prepared) }
                throw DatabaseError(
                    resultCode: SQLITE_ERROR,
                    message: "not enough args to execute query: want \(needed) got \(parameters.count - argStart)")
            }
            guard segment.isLast else {
                if let prepared = segment.statement { finish(prepared) }
                argStart += needed
                offset = segment.nextOffset
                continue
            }
            guard let prepared = segment.statement else { return QueryRows() }
            defer { finish(prepared) }
            try bindParameters(parameters, start: argStart, count: needed, to: prepared)
            return try readRows(prepared)
        }
    }

    /// Steps a statement to completion, mapping values per rqlite (`normalizeRowValues`,
    /// `populateEmptyTypes`) over go-sqlite3 (`SQLiteRows.Next`).
    func readRows(_ prepared: PreparedStatement) throws -> QueryRows {
        let count = prepared.columnCount
        let columns = (0..<count).map { prepared.columnName($0) }
        let declared = (0..<count).map { prepared.declaredType($0) }
        var types = declared
        var needsTypes = types.contains("")
        var values: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(prepared.handle)
            if rc == SQLITE_DONE || rc == SQLITE_MISUSE { break }
            guard rc == SQLITE_ROW else { throw DatabaseError.last(handle) }
            var row: [SQLValue] = []
            row.reserveCapacity(count)
            for i in 0..<count {
                row.append(try TypeMapping.value(prepared.handle, Int32(i), declared: declared[i], type: types[i]))
            }
            values.append(row)
            if needsTypes {
                for i in 0..<count where types[i].isEmpty {
                    types[i] = TypeMapping.inferredType(row[i])
                }
                needsTypes = false
            }
        }
        return QueryRows(columns: columns, types: types, values: values)
    }

    // MARK: - Transactions and deadlines

    /// Runs `body` inside BEGIN/COMMIT when `transaction` is set. `body` may call `abort` to roll back (no
    /// COMMIT then). When the connection is already inside a transaction (e.g. the node applies a batch of
    /// log entries in one transaction), a SAVEPOINT gives the same all-or-nothing effect for the request.
    func inTransaction<T>(_ transaction: Bool, _ body: (_ abort: () -> Void) throws -> T) throws -> T {
        guard transaction else { return try body({}) }
        let nested = !isAutocommit
        try run(nested ? "SAVEPOINT raftlite_request" : "BEGIN")
        var aborted = false
        let rollback = {
            if nested {
                try? self.run("ROLLBACK TO raftlite_request")
                try? self.run("RELEASE raftlite_request")
            } else if !self.isAutocommit {
                try? self.run("ROLLBACK")
            }
        }
        let result: T
        do {
            result = try body({
                if !aborted {
                    aborted = true
                    rollback()
                }
            })
        } catch {
            if !aborted { rollback() }
            throw error
        }
        if !aborted {
            // The deadline applies to statements, not to the commit.
            let saved = deadlineSlot.pointee
            deadlineSlot.pointee = 0
            defer { deadlineSlot.pointee = saved }
            do {
                try run(nested ? "RELEASE raftlite_request" : "COMMIT")
            } catch {
                rollback()
                throw error
            }
        }
        return result
    }

    /// Installs the progress-handler deadline for `timeout` seconds (none when nil or <= 0).
    func withDeadline<T>(_ timeout: Double?, _ body: (_ deadline: UInt64) throws -> T) throws -> T {
        guard let timeout, timeout > 0, let handle else { return try body(0) }
        let deadline = raftlite_monotonic_ns() &+ UInt64(min(timeout, 1e9) * 1e9)
        deadlineSlot.pointee = deadline
        raftlite_set_deadline_handler(handle, Self.progressInterval, deadlineSlot)
        defer {
            deadlineSlot.pointee = 0
            raftlite_set_deadline_handler(handle, 0, nil)
        }
        return try body(deadline)
    }

    func timeoutAware(_ error: Error, deadline: UInt64, message: String) -> String {
        if let error = error as? DatabaseError, error.isInterrupt, deadline != 0, raftlite_monotonic_ns() >= deadline {
            return message
        }
        return Self.message(error)
    }

    static func message(_ error: Error) -> String {
        (error as? DatabaseError)?.message ?? String(describing: error)
    }

    static func seconds(since start: UInt64) -> Double {
        Double(raftlite_monotonic_ns() &- start) / 1e9
    }
}

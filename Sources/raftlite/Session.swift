import JSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The shell's state and its read-evaluate-print loop.
final class Session {
    let client: HTTPClient
    let output = Output()
    let interactive: Bool
    /// Progress lines for long backups and restores go to standard error when it is a terminal.
    let progressOnTerminal: Bool
    var editor: LineEditor!

    // Settings (`.show`)
    var consistency = "weak"
    var mode = OutputMode.column
    var timer = false
    var changes = false
    var forceWrites = false
    var blobArray = false

    /// Set when any statement or command failed; the exit status in non-interactive use.
    var failed = false
    var quitRequested = false
    var readDepth = 0

    init(client: HTTPClient) {
        self.client = client
        interactive = isatty(0) == 1
        progressOnTerminal = isatty(2) == 1
    }

    var prompt: String { client.endpoint.display + "> " }

    /// Runs until `.quit` or end of input; true if something failed (non-interactive only).
    func run() -> Bool {
        var historyPath: String?
        if let home = getenv("HOME") { historyPath = String(cString: home) + "/.raftlite_history" }
        var limit = 100
        if let raw = getenv("RAFTLITE_HISTFILESIZE"), let n = Int(String(cString: raw)), n >= 0 { limit = n }
        editor = LineEditor(interactive: interactive, historyPath: historyPath, historyLimit: limit)
        if interactive {
            installInterruptHandler()
            greet()
        }
        var pending = ""
        while !quitRequested {
            let promptText = pending.isEmpty ? prompt : String(repeating: " ", count: max(prompt.count - 5, 0)) + "...> "
            switch editor.readLine(prompt: interactive ? promptText : "") {
            case .end:
                if !pending.trimmingSpaces.isEmpty { execute([pending.trimmingSpaces]) }
                quitRequested = true
            case .interrupt:
                pending = ""
            case .line(let line):
                editor.remember(line)
                pending = handle(line: line, pending: pending)
            }
            output.flush()
        }
        output.flush()
        client.close()
        if interactive && editor.interactive { editor.saveHistory() }
        return interactive ? false : failed
    }

    /// On a terminal, says which node answers (and its version), or why none does, before the first prompt.
    private func greet() {
        var text = "Welcome to the Raftlite shell. Enter \".help\" for usage hints.\n"
        do {
            let response = try client.send("GET", "readyz?noleader", timeoutOverride: min(client.timeout > 0 ? client.timeout : 5, 5))
            let version = response.header("X-RQLITE-VERSION").map { " running version \($0)" } ?? ""
            text += "Connected to \(client.endpoint.display)\(version).\n"
        } catch {
            text += "Error: \(error)\n"
        }
        writeAll(editor.terminalFD, Array(text.utf8))
    }

    /// Processes one input line given the statement text accumulated so far; returns the new accumulation.
    func handle(line: String, pending: String) -> String {
        let trimmed = line.trimmingSpaces
        if pending.trimmingSpaces.isEmpty {
            if trimmed.hasPrefix(".") {
                command(trimmed)
                return ""
            }
            let word = trimmed.lowercased()
            if ["quit", "exit", "quit;", "exit;"].contains(word) {
                quitRequested = true
                return ""
            }
            if trimmed.isEmpty { return "" }
        }
        let text = pending.isEmpty ? line : pending + "\n" + line
        let (statements, rest) = StatementSplitter.split(text)
        if !statements.isEmpty { execute(statements) }
        return rest.trimmingSpaces.isEmpty ? "" : rest
    }

    // MARK: SQL

    func fail(_ message: String) {
        failed = true
        output.error(message)
    }

    /// Sends statements to `/db/request` (or `/db/execute` with `.forcewrites on`) and prints each result.
    func execute(_ statements: [String]) {
        var params: [String] = []
        if !forceWrites { params.append("level=\(consistency)") }
        if timer { params.append("timings") }
        if blobArray { params.append("blob_array") }
        let path = (forceWrites ? "db/execute" : "db/request") + (params.isEmpty ? "" : "?" + params.joined(separator: "&"))
        let started = monotonicSeconds()
        guard let envelope = postStatements(path, statements) else { return }
        let elapsed = monotonicSeconds() - started
        printResults(envelope, statements: statements, elapsed: elapsed)
    }

    /// POSTs a JSON array of statements; the decoded envelope, or nil after printing the error.
    func postStatements(_ path: String, _ statements: [String]) -> JSONValue? {
        let body = JSONValue.array(statements.map { .string($0) }).encoded()
        do {
            let response = try client.send("POST", path, contentType: "application/json", body: .bytes(body))
            guard response.status == 200 else {
                fail(response.failureMessage)
                return nil
            }
            let envelope = try JSONValue.parse(response.body, replacingInvalidUTF8: true)
            if case .string(let message)? = envelope["error"], !message.isEmpty {
                fail(message)
                return nil
            }
            return envelope
        } catch let error as JSONParseError {
            fail("unreadable response: \(error)")
        } catch {
            fail("\(error)")
        }
        return nil
    }

    func printResults(_ envelope: JSONValue, statements: [String], elapsed: Double) {
        guard case .array(let results)? = envelope["results"] else {
            fail("response has no results")
            return
        }
        for result in results {
            if case .string(let message)? = result["error"], !message.isEmpty {
                fail(message)
                continue
            }
            if let rows = Rows(result) {
                rows.render(mode, to: output)
            } else {
                var affected: Int64 = 0
                if case .integer(let n)? = result["rows_affected"] { affected = n }
                output.line("\(affected) \(affected == 1 || affected == 0 ? "row" : "rows") affected")
                if changes {
                    var id: Int64 = 0
                    if case .integer(let n)? = result["last_insert_id"] { id = n }
                    output.line("last insert ID: \(id)")
                }
            }
            if timer {
                var time = elapsed / Double(max(results.count, 1))
                switch result["time"] {
                case .double(let t)?: time = t
                case .integer(let t)?: time = Double(t)
                default: break
                }
                output.line("Run Time: \(fixedSix(time)) seconds")
            }
        }
    }

    /// Runs a read for a dot-command through `/db/query` at the current level and prints it.
    func query(_ sql: String) {
        let path = "db/query?level=\(consistency)" + (timer ? "&timings" : "")
        let started = monotonicSeconds()
        guard let envelope = postStatements(path, [sql]) else { return }
        printResults(envelope, statements: [sql], elapsed: monotonicSeconds() - started)
    }

    // MARK: HTTP helpers for commands

    /// GETs a JSON document and prints it as a tree.
    func showJSON(_ path: String) {
        do {
            let response = try client.send("GET", path)
            guard response.isSuccess else { return fail(response.failureMessage) }
            let value = try JSONValue.parse(response.body, replacingInvalidUTF8: true)
            for line in treeLines(value) { output.line(line) }
        } catch {
            fail("\(error)")
        }
    }

    func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

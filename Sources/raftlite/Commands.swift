import JSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let helpText = """
    .backup FILE                   Write a SQLite backup of the database to FILE
    .blobarray [on|off]            Show BLOBs as byte arrays
    .boot FILE                     Boot a single-node cluster from a SQLite file (bypasses Raft)
    .changes [on|off]              Show the last insert ID after writes
    .consistency [LEVEL]           Show or set the read level: none, weak, linearizable, strong
    .dump FILE [T1,T2,...]         Write a SQL text dump to FILE, optionally only some tables
    .exit                          Leave the shell (also .quit, quit, exit, Ctrl-D)
    .expvar [KEY]                  Show the node's /debug/vars
    .extensions                    Show the node's loaded SQLite extensions
    .forcewrites [on|off]          Send every statement through /db/execute
    .help                          Show this message
    .indexes                       Show the CREATE statements of all indexes
    .leader                        Show the current leader
    .mode [column|csv|json|line]   Show or set how rows are printed
    .nodes [all]                   Show the cluster's voting nodes (all: read-only nodes too)
    .output [FILE]                 Send results to FILE (no FILE, or stdout: back to the screen)
    .read FILE                     Run the statements and commands in FILE
    .ready                         Check whether the node is ready (/readyz)
    .reap                          Reap the node's snapshot store
    .remove NODEID                 Remove a node from the cluster
    .restore FILE                  Load a SQLite file or SQL dump into the database
    .schema [PATTERN]              Show CREATE statements (optionally of matching tables)
    .show                          Show the current settings
    .snapshot [TRAILINGLOGS]       Take a Raft snapshot on the node
    .status [KEY]                  Show the node's status (KEY: a dot path such as store.raft)
    .stepdown [NODEID]             Transfer leadership (to NODEID if given)
    .sysdump FILE                  Write status, nodes, readiness and vars of every node to FILE
    .tables                        List table names
    .timer [on|off]                Show run times
    """

extension Session {
    /// Runs one dot-command line.
    func command(_ line: String) {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let name = parts[0].lowercased()
        let args = Array(parts.dropFirst())
        let rest = line.dropFirst(parts[0].count).trimmingSpaces

        switch name {
        case ".help":
            output.line(helpText)
        case ".quit", ".exit":
            quitRequested = true
        case ".tables":
            query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        case ".schema":
            var sql = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            if let pattern = args.first { sql += " AND tbl_name LIKE '\(pattern.replacingAll("'", with: "''"))'" }
            query(sql + " ORDER BY tbl_name, type DESC, name")
        case ".indexes", ".indices":
            query("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY tbl_name, name")
        case ".timer": toggle(&timer, args, name)
        case ".changes": toggle(&changes, args, name)
        case ".forcewrites": toggle(&forceWrites, args, name)
        case ".blobarray": toggle(&blobArray, args, name)
        case ".consistency":
            guard let level = args.first?.lowercased() else { return output.line(consistency) }
            guard ["none", "weak", "linearizable", "strong"].contains(level) else {
                return fail("invalid consistency level \"\(args[0])\": use none, weak, linearizable or strong")
            }
            consistency = level
        case ".mode":
            guard let m = args.first?.lowercased() else { return output.line(mode.rawValue) }
            guard let chosen = OutputMode(rawValue: m) else {
                return fail("invalid mode \"\(args[0])\": use column, csv, json or line")
            }
            mode = chosen
        case ".show": show()
        case ".output":
            do { try output.redirect(to: args.first == nil || args.first == "stdout" ? nil : rest) } catch { fail("\(error)") }
        case ".status":
            showJSON("status" + (args.first.map { "?key=\($0.queryEscaped)" } ?? ""))
        case ".expvar":
            showJSON("debug/vars" + (args.first.map { "?key=\($0.queryEscaped)" } ?? ""))
        case ".extensions":
            showJSON("status?key=extensions")
        case ".nodes":
            showJSON(args.first?.lowercased() == "all" ? "nodes?nonvoters" : "nodes")
        case ".leader":
            showJSON("leader")
        case ".ready":
            ready()
        case ".snapshot":
            if let n = args.first, Int(n) == nil { return fail("trailing logs must be an integer, got \"\(n)\"") }
            simple("POST", "snapshot" + (args.first.map { "?trailing_logs=\($0)" } ?? "")) { status, _ in
                status == 204 ? "no new data to snapshot" : "snapshot taken"
            }
        case ".reap":
            showJSONAfter("POST", "reap")
        case ".remove":
            guard let id = args.first else { return fail("usage: .remove NODEID") }
            let body = JSONValue.object([("id", .string(id))]).encoded()
            simple("DELETE", "remove", contentType: "application/json", body: .bytes(body)) { _, _ in "node \(id) removed" }
        case ".stepdown":
            if let id = args.first {
                let body = JSONValue.object([("id", .string(id))]).encoded()
                simple("POST", "leader?wait", contentType: "application/json", body: .bytes(body)) { _, _ in
                    "leadership transferred to node \(id)"
                }
            } else {
                simple("POST", "leader?wait") { _, _ in "leadership transferred" }
            }
        case ".backup":
            guard !rest.isEmpty else { return fail("please specify an output file for the backup") }
            download("db/backup", to: rest, what: "backup", done: "backup file written successfully")
        case ".dump":
            guard let file = args.first else { return fail("please specify an output file for the SQL text") }
            var path = "db/backup?fmt=sql"
            if args.count > 1 { path += "&tables=" + args.dropFirst().joined(separator: ",").queryEscaped }
            download(path, to: file, what: "dump", done: "SQL text file written successfully")
        case ".restore":
            guard !rest.isEmpty else { return fail("please specify the SQLite file or SQL dump to restore") }
            restore(rest)
        case ".boot":
            guard !rest.isEmpty else { return fail("please specify the SQLite file to boot from") }
            boot(rest)
        case ".read":
            guard !rest.isEmpty else { return fail("please specify the file to read") }
            read(rest)
        case ".sysdump":
            guard !rest.isEmpty else { return fail("please specify the output file") }
            sysdump(rest)
        default:
            fail("unknown command or invalid arguments: \"\(parts[0])\". Enter \".help\" for help")
        }
    }

    private func toggle(_ setting: inout Bool, _ args: [String], _ name: String) {
        guard let value = args.first?.lowercased() else {
            output.line(setting ? "on" : "off")
            return
        }
        switch value {
        case "on", "yes", "true", "1": setting = true
        case "off", "no", "false", "0": setting = false
        default: fail("invalid option '\(args[0])' for \(name): use 'on' or 'off'")
        }
    }

    private func show() {
        let onOff = { (b: Bool) in b ? "on" : "off" }
        let settings: [(String, String)] = [
            ("host", client.endpoint.display),
            ("consistency", consistency),
            ("mode", mode.rawValue),
            ("timer", onOff(timer)),
            ("changes", onOff(changes)),
            ("forcewrites", onOff(forceWrites)),
            ("blobarray", onOff(blobArray)),
            ("output", output.path ?? "stdout"),
        ]
        for (k, v) in settings { output.line(String(repeating: " ", count: 12 - k.count) + k + ": " + v) }
    }

    private func ready() {
        do {
            let response = try client.send("GET", "readyz")
            let text = response.text.trimmingSpaces
            if response.status == 200 {
                output.line(text.isEmpty ? "ready" : text)
            } else {
                if !text.isEmpty { output.line(text) }
                fail("node is not ready (\(response.status) \(response.reason))")
            }
        } catch {
            fail("\(error)")
        }
    }

    /// A request whose success prints one line (given the status and body) and whose failure is the server's text.
    private func simple(
        _ method: String, _ path: String, contentType: String? = nil, body: RequestBody = .none,
        success: (Int, String) -> String
    ) {
        do {
            let response = try client.send(method, path, contentType: contentType, body: body)
            guard response.isSuccess else { return fail(response.failureMessage) }
            output.line(success(response.status, response.text))
        } catch {
            fail("\(error)")
        }
    }

    private func showJSONAfter(_ method: String, _ path: String) {
        do {
            let response = try client.send(method, path)
            guard response.isSuccess else { return fail(response.failureMessage) }
            if response.body.isEmpty { return }
            let value = try JSONValue.parse(response.body, replacingInvalidUTF8: true)
            for line in treeLines(value) { output.line(line) }
        } catch {
            fail("\(error)")
        }
    }

    // MARK: Backup, restore, boot

    /// Streams a GET body into `file`, created only once the server answers with success (a failed backup
    /// leaves an existing file alone); a progress line on a terminal.
    private func download(_ path: String, to file: String, what: String, done: String) {
        var fd: Int32 = -1
        let progress = Progress(label: what == "backup" ? "Backing up" : "Dumping", enabled: progressOnTerminal)
        var written = 0
        do {
            let response = try client.send("GET", path, sink: { chunk, total in
                if fd < 0 {
                    fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                    if fd < 0 { throw ShellError("cannot open \"\(file)\": \(errnoText())") }
                }
                try chunk.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { throw ShellError("cannot write \"\(file)\": \(errnoText())") }
                        offset += n
                    }
                }
                written += chunk.count
                progress.update(written, total)
            })
            progress.finish()
            guard response.isSuccess else {
                if fd >= 0 { close(fd) }
                return fail(response.failureMessage)
            }
            if fd < 0 { fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }  // an empty backup
            guard fd >= 0, fsync(fd) == 0 || errno == EINVAL else {
                if fd >= 0 { close(fd) }
                return fail("cannot write \"\(file)\": \(errnoText())")
            }
            close(fd)
            output.line(done)
        } catch {
            progress.finish()
            if fd >= 0 {
                close(fd)
                unlink(file)  // a partial file is not a backup
            }
            fail("\(error)")
        }
    }

    /// `.restore FILE`: a SQLite file (by its header) as a binary load, anything else as SQL text.
    private func restore(_ file: String) {
        guard let (size, isSQLite) = inspect(file) else { return }
        let progress = Progress(label: "Restoring", enabled: progressOnTerminal)
        do {
            let response = try client.send(
                "POST", "db/load", contentType: isSQLite ? "application/octet-stream" : "text/plain",
                body: .file(path: file, size: size), useTimeout: false,
                uploadProgress: { sent, total in progress.update(sent, total) })
            progress.finish()
            guard response.isSuccess else { return fail(response.failureMessage) }
            if let envelope = try? JSONValue.parse(response.body, replacingInvalidUTF8: true) {
                if case .string(let message)? = envelope["error"], !message.isEmpty { return fail(message) }
                if case .array(let results)? = envelope["results"] {
                    for r in results {
                        if case .string(let message)? = r["error"], !message.isEmpty { return fail(message) }
                    }
                }
            }
            output.line("database restored successfully")
        } catch {
            progress.finish()
            fail("\(error)")
        }
    }

    /// `.boot FILE`: streams a SQLite file to `/boot`.
    private func boot(_ file: String) {
        guard let (size, isSQLite) = inspect(file) else { return }
        guard isSQLite else { return fail("\"\(file)\" is not a SQLite database file") }
        let progress = Progress(label: "Booting", enabled: progressOnTerminal)
        do {
            let response = try client.send(
                "POST", "boot", contentType: "application/octet-stream", body: .file(path: file, size: size),
                useTimeout: false, uploadProgress: { sent, total in progress.update(sent, total) })
            progress.finish()
            guard response.isSuccess else { return fail(response.failureMessage) }
            output.line("node booted successfully")
        } catch {
            progress.finish()
            fail("\(error)")
        }
    }

    /// The size of a file and whether it starts with the SQLite header; nil after printing why not.
    private func inspect(_ file: String) -> (Int, Bool)? {
        var st = stat()
        guard stat(file, &st) == 0 else {
            fail("cannot open \"\(file)\": \(errnoText())")
            return nil
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            fail("\"\(file)\" is not a regular file")
            return nil
        }
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else {
            fail("cannot open \"\(file)\": \(errnoText())")
            return nil
        }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 16)
        let n = header.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, 16) }
        let isSQLite = n == 16 && header == Array("SQLite format 3\u{0}".utf8)
        return (Int(st.st_size), isSQLite)
    }

    // MARK: .read, .sysdump

    private func read(_ file: String) {
        guard readDepth < 16 else { return fail(".read nested too deeply") }
        guard let data = readWholeFile(file) else { return fail("cannot open \"\(file)\": \(errnoText())") }
        readDepth += 1
        defer { readDepth -= 1 }
        var pending = ""
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if quitRequested { return }
            var l = String(line)
            if l.hasSuffix("\r") { l.removeLast() }
            pending = handle(line: l, pending: pending)
        }
        if !pending.trimmingSpaces.isEmpty { execute([pending.trimmingSpaces]) }
    }

    private func sysdump(_ file: String) {
        var text = ""
        var targets: [String] = []
        do {
            let response = try client.send("GET", "nodes?ver=2&nonvoters")
            if response.isSuccess, let value = try? JSONValue.parse(response.body, replacingInvalidUTF8: true),
                case .array(let nodes)? = value["nodes"]
            {
                for node in nodes {
                    if case .string(let url)? = node["api_addr"], url.hasPrefix("http://") {
                        targets.append(String(url.dropFirst(7)))
                    }
                }
            }
        } catch {}
        if targets.isEmpty { targets = [client.endpoint.display] }
        for target in targets {
            guard let endpoint = Endpoint.parse(target) else { continue }
            let node = HTTPClient(
                endpoints: [endpoint], prefix: client.prefix, credentials: nil, timeout: client.timeout)
            node.authorization = client.authorization
            for path in ["status?pretty", "nodes?pretty", "readyz", "debug/vars"] {
                text += "=== \(endpoint.display)\(node.target(path))\n"
                do {
                    let response = try node.send("GET", path)
                    text += "\(response.status) \(response.reason)\n" + response.text + "\n\n"
                } catch {
                    text += "error: \(error)\n\n"
                }
            }
            node.close()
        }
        if writeWholeFile(file, Array(text.utf8)) {
            output.line("system dump written to \(file)")
        } else {
            fail("cannot write \"\(file)\": \(errnoText())")
        }
    }
}

/// A progress line on standard error (only when it is a terminal), redrawn at most ten times a second.
final class Progress {
    let label: String
    let enabled: Bool
    private var lastDraw = 0.0
    private var drawn = false

    init(label: String, enabled: Bool) {
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int, _ total: Int?) {
        guard enabled else { return }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        if drawn && now - lastDraw < 0.1 && done != total { return }
        lastDraw = now
        drawn = true
        var line = "\r\(label): \(byteCount(done))"
        if let total, total > 0 { line += " of \(byteCount(total)) (\(done * 100 / total)%)" }
        writeAll(2, Array((line + "\u{1b}[K").utf8))
    }

    func finish() {
        guard enabled, drawn else { return }
        writeAll(2, Array("\r\u{1b}[K".utf8))
        drawn = false
    }
}

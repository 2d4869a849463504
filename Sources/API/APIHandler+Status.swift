import Common
import HTTPServer
import JSON
import SQLiteDB

extension APIHandler {
    /// The `http` section of `/status`, a Go map (keys sorted).
    func httpStatusSection() -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("auth", .string(configuration.auth != nil ? "enabled" : "disabled")),
            ("bind_addr", .string(configuration.bindAddress)),
            ("tls", .object([("enabled", .string("false"))])),
        ]
        if let origin = configuration.allowOrigin { members.append(("allow_origin", .string(origin))) }
        members.append(("queue", .object([("_default", writeQueueStatus())])))
        for (k, v) in configuration.extraHTTPStatus where !members.contains(where: { $0.0 == k }) {
            members.append((k, v))
        }
        return JSONValue.object(members).sortedTopLevel()
    }

    func handleStatus(_ ctx: Context) {
        var sections = status.statusSections().filter { $0.0 != "http" }
        sections.append(("http", httpStatusSection()))
        let doc = JSONValue.object(sections).sortedTopLevel()
        if let key = ctx.params["key"], !key.isEmpty {
            // rqlite re-decodes the document into Go maps and re-encodes the selected value compactly, even
            // with `pretty`: keys sorted at every level, numbers as float64.
            let sub = APIHandler.subValue(doc, path: key)
            ctx.send(Responses.json(200, sub.asGoGeneric().encoded()))
            return
        }
        ctx.send(Responses.json(200, doc.encoded(pretty: ctx.params.pretty)))
    }

    /// rqlite's `getSubJSON`: follow `a.b.c` through objects; a missing key yields `{}`, and reaching a
    /// non-object before the path ends yields that value.
    static func subValue(_ value: JSONValue, path: String) -> JSONValue {
        var current = value
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let members) = current else { return current }
            guard let next = members.last(where: { $0.0 == part })?.1 else { return .object([]) }
            current = next
        }
        return current
    }

    /// A `/nodes` or `/leader` node object (rqlite's `Node` struct: zero-valued optional fields omitted).
    static func nodeObject(_ n: NodeInfo) -> JSONValue {
        var m: [(String, JSONValue)] = []
        if !n.id.isEmpty { m.append(("id", .string(n.id))) }
        if !n.apiAddr.isEmpty { m.append(("api_addr", .string(n.apiAddr))) }
        if !n.addr.isEmpty { m.append(("addr", .string(n.addr))) }
        m.append(("version", .string(n.version)))
        m.append(("voter", .bool(n.voter)))
        m.append(("reachable", .bool(n.reachable)))
        m.append(("leader", .bool(n.leader)))
        if n.time != 0 {
            m.append(("time", .double(n.time)))
            let ts = GoDuration.format(seconds: n.time)
            if !ts.isEmpty { m.append(("time_s", .string(ts))) }
        }
        if !n.error.isEmpty { m.append(("error", .string(n.error))) }
        return .object(m)
    }

    func handleNodes(_ ctx: Context) {
        let params = ctx.params
        let timeout = params.timeout(default: configuration.defaultTimeout)
        status.nodes(includeNonVoters: params.nonVoters, timeout: timeout) { result in
            switch result {
            case .success(let nodes):
                let sorted = nodes.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
                let doc: JSONValue
                if params["ver"] == "2" {
                    doc = .object([("nodes", .array(sorted.map(APIHandler.nodeObject)))])
                } else {
                    // Legacy format: a Go map keyed by node ID (sorted; a repeated ID keeps the last node).
                    var byID: [String: NodeInfo] = [:]
                    for n in sorted { byID[n.id] = n }
                    let keys = byID.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                    doc = .object(keys.map { ($0, APIHandler.nodeObject(byID[$0]!)) })
                }
                ctx.send(Responses.json(200, doc.encoded(pretty: params.pretty)))
            case .failure(.leaderNotFound):
                ctx.send(Responses.textError(503, "leader not found"))
            case .failure(.notLeader):
                ctx.send(Responses.textError(503, "store nodes: not leader"))
            case .failure(.message(let m)):
                ctx.send(Responses.textError(m == "store not open" ? 503 : 500, "store nodes: " + m))
            }
        }
    }

    func handleLeader(_ ctx: Context) {
        let params = ctx.params
        status.leader(timeout: params.timeout(default: configuration.defaultTimeout)) { result in
            switch result {
            case .success(let node):
                ctx.send(Responses.json(200, APIHandler.nodeObject(node).encoded(pretty: params.pretty)))
            case .failure:
                ctx.send(Responses.textError(503, "leader not found"))
            }
        }
    }

    /// `/readyz` (§1.11): text lines, 200 or 503.
    func handleReadyz(_ ctx: Context) {
        let send = ctx.send
        @Sendable func reply(_ code: Int, _ lines: [String]) {
            send(
                HTTPResponse(
                    status: code, headers: [("Content-Type", Responses.textContentType)],
                    text: lines.map { "[+]" + $0 }.joined(separator: "\n")))
        }
        if ctx.params.noLeader {
            reply(200, ["node ok"])
            return
        }
        let readiness = status.readiness()
        guard readiness.leaderKnown else {
            reply(503, ["node ok", "leader does not exist"])
            return
        }
        let timeout = ctx.params.timeout(default: configuration.defaultTimeout)
        let wantSync = ctx.params.has("sync")
        let database = self.database
        let status = self.status
        status.leader(timeout: timeout) { leaderResult in
            switch leaderResult {
            case .failure(.leaderNotFound):
                reply(503, ["node ok", "leader does not exist"])
                return
            case .failure(.message(let m)):
                reply(503, ["node ok", "leader not contactable: " + m])
                return
            case .failure(.notLeader):
                reply(503, ["node ok", "leader does not exist"])
                return
            case .success:
                break
            }
            guard status.readiness().storeReady else {
                reply(503, ["node ok", "leader ok", "store not ready"])
                return
            }
            let lines = ["node ok", "leader ok", "store ok"]
            @Sendable func dbCheck(_ lines: [String]) {
                let probe = QueryRequest(statements: [Statement(sql: "SELECT 1")], level: .none)
                database.query(probe) { result in
                    switch result {
                    case .success(let response):
                        if let err = response.results.lazy.compactMap({ r -> String? in
                            if case .error(let m, _) = r { return m }
                            return nil
                        }).first {
                            reply(503, lines + ["db not ok: (\(err), \(APIHandler.describe(response.results)))"])
                        } else {
                            reply(200, lines + ["db ok"])
                        }
                    case .failure(let e):
                        reply(503, lines + ["db not ok: (\(APIHandler.describe(e)), [])"])
                    }
                }
            }
            if wantSync {
                status.waitForSync(timeout: timeout) { error in
                    if let error {
                        reply(503, lines + ["sync " + error])
                        return
                    }
                    dbCheck(lines + ["sync ok"])
                }
            } else {
                dbCheck(lines)
            }
        }
    }

    /// An expvar value as `expvar.Map.String()` writes it: `{"a": 1, "b": {"c": 2}}` with sorted keys,
    /// `": "` and `", "` separators; other values as compact JSON.
    static func appendExpvar(_ v: JSONValue, to out: inout [UInt8]) {
        guard case .object(let members) = v else {
            out.append(contentsOf: v.encoded())
            return
        }
        out.append(UInt8(ascii: "{"))
        var first = true
        for (k, item) in members.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) {
            if !first { out.append(contentsOf: [UInt8(ascii: ","), 0x20]) }
            first = false
            JSONWriter.appendQuoted(k, to: &out)
            out.append(contentsOf: [UInt8(ascii: ":"), 0x20])
            appendExpvar(item, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func describe(_ error: ServiceError) -> String {
        switch error {
        case .leaderNotFound: return "leader not found"
        case .notLeader: return "not leader"
        case .message(let m): return m
        }
    }

    static func describe(_ results: [StatementResult]) -> String {
        String(decoding: ResultEncoder().envelope(results: results), as: UTF8.self)
    }

    /// `/debug/vars` in expvar's framing: `{\n"key": value,\n...\n}\n`, keys sorted; `?key=` keeps one.
    func handleDebugVars(_ ctx: Context) {
        var vars = status.debugVars()
        vars.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        var out: [UInt8] = Array("{\n".utf8)
        var first = true
        let key = ctx.params["key"] ?? ""
        for (k, v) in vars where key.isEmpty || k == key {
            if !first { out.append(contentsOf: Array(",\n".utf8)) }
            first = false
            JSONWriter.appendQuoted(k, to: &out)
            out.append(contentsOf: Array(": ".utf8))
            if k == "memstats" || k == "cmdline" {
                // expvar.Func values are json.Marshal output.
                out.append(contentsOf: v.encoded())
            } else {
                APIHandler.appendExpvar(v, to: &out)
            }
        }
        out.append(contentsOf: Array("\n}\n".utf8))
        ctx.send(Responses.json(200, out))
    }
}

extension JSONValue {
    /// The value as Go sees it after `json.Unmarshal` into `interface{}`: objects become maps (keys sorted,
    /// a repeated key keeps its last value) and every number a float64.
    func asGoGeneric() -> JSONValue {
        switch self {
        case .integer(let i): return .double(Double(i))
        case .array(let items): return .array(items.map { $0.asGoGeneric() })
        case .object(let members):
            var last: [String: JSONValue] = [:]
            for (k, v) in members { last[k] = v }
            return .object(
                last.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { ($0.key, $0.value.asGoGeneric()) })
        default: return self
        }
    }

    /// An object with its own keys sorted bytewise (a Go map at this level); nested values untouched.
    func sortedTopLevel() -> JSONValue {
        guard case .object(let members) = self else { return self }
        return .object(members.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) })
    }
}

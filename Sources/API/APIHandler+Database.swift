import HTTPServer
import JSON
import SQLiteDB
import SQLRewrite

extension APIHandler {
    /// Statements of a POST body, or a 400 response already sent.
    func statements(from ctx: Context, allowPlainText: Bool) -> [Statement]? {
        do {
            let plain = allowPlainText && RequestParser.isPlainText(ctx.request.header("Content-Type"))
            return try RequestParser.parse(body: ctx.request.body, plainText: plain)
        } catch {
            ctx.send(Responses.textError(400, error.message))
            return nil
        }
    }

    /// The rewriter for a request: `norwrandom` / `norwtime` switch its halves off (REFERENCE §3).
    func rewriter(_ params: QueryParameters) -> SQLRewriter {
        SQLRewriter(
            rewriteRandom: !params.has("norwrandom"), rewriteTime: !params.has("norwtime"),
            random: configuration.randomSource, now: configuration.wallClock)
    }

    /// Drops empty statements, rewrites non-deterministic SQL and flags RETURNING statements when `rewrite`
    /// (unless `noparse`, which queued writes ignore), and reports whether any statement changes a forbidden
    /// pragma.
    func prepare(_ statements: [Statement], params: QueryParameters, rewrite: Bool, ignoreNoParse: Bool = false) -> (
        [Statement], disallowed: Bool
    ) {
        var out: [Statement] = []
        out.reserveCapacity(statements.count)
        let rewriter: SQLRewriter? = rewrite && (ignoreNoParse || !params.noParse) ? self.rewriter(params) : nil
        for var s in statements where !s.sql.isEmpty {
            if SQLAnalysis.isDisallowedPragma(s.sql) { return ([], true) }
            if let rewriter {
                let outcome = rewriter.process(s.sql)
                s.sql = outcome.sql
                if outcome.returning { s.forceQuery = true }
            }
            out.append(s)
        }
        return (out, false)
    }

    func sendEnvelope(_ ctx: Context, results: [StatementResult], error: String? = nil, raftIndex: UInt64 = 0,
                      servedBy: String? = nil) {
        let encoder = ResultEncoder(ctx.params)
        let elapsed = configuration.clock() - ctx.start
        let body = encoder.envelope(
            results: results, error: error, time: elapsed, raftIndex: ctx.params.raftIndex ? raftIndex : 0)
        var extra: [(name: String, value: String)] = []
        if let servedBy { extra.append(("X-RQLITE-SERVED-BY", servedBy)) }
        ctx.send(Responses.json(200, body, extra: extra))
    }

    /// The one place where request-level failures become rqlite's responses (§1.3 routing errors).
    func sendFailure(_ ctx: Context, _ error: ServiceError, jsonEndpoint: Bool = true) {
        switch error {
        case .notLeader(let url):
            if ctx.params.redirect {
                guard let url, !url.isEmpty else {
                    ctx.send(Responses.textError(500, "leader not found"))
                    return
                }
                let query = ctx.request.rawQuery.isEmpty ? "" : "?" + ctx.request.rawQuery
                ctx.send(
                    Responses.redirect(
                        method: ctx.method, location: url + ctx.path + query, status: 301,
                        contentType: jsonEndpoint ? Responses.jsonContentType : nil))
            } else if jsonEndpoint {
                sendEnvelope(ctx, results: [], error: "not leader")
            } else {
                ctx.send(Responses.textError(500, "not leader"))
            }
        case .leaderNotFound:
            ctx.send(Responses.textError(503, "leader not found"))
        case .unauthorized:
            // The leader refused the credentials a forwarded request carried (REFERENCE §6).
            ctx.send(Responses.textError(401, ServiceError.unauthorizedText))
        case .message(let m):
            if jsonEndpoint {
                sendEnvelope(ctx, results: [], error: m)
            } else {
                ctx.send(Responses.textError(500, m))
            }
        }
    }

    func complete(_ ctx: Context) -> @Sendable (Result<DatabaseResponse, ServiceError>) -> Void {
        let advertised = configuration.advertisedAddress
        return { [self] result in
            switch result {
            case .success(let response):
                sendEnvelope(
                    ctx, results: response.results, raftIndex: response.raftIndex,
                    servedBy: response.servedBy ?? advertised)
            case .failure(let error):
                sendFailure(ctx, error)
            }
        }
    }

    func handleExecute(_ ctx: Context) {
        if ctx.params.has("queue") {
            handleQueuedExecute(ctx)
            return
        }
        guard let parsed = statements(from: ctx, allowPlainText: true) else { return }
        let (stmts, disallowed) = prepare(parsed, params: ctx.params, rewrite: true)
        if disallowed {
            sendEnvelope(ctx, results: [], error: "disallowed pragma")
            return
        }
        if stmts.isEmpty {
            sendEnvelope(ctx, results: [], servedBy: configuration.advertisedAddress)
            return
        }
        var request = ExecuteRequest(
            statements: stmts, transaction: ctx.params.transaction, timings: ctx.params.timings,
            dbTimeout: ctx.params.seconds("db_timeout"))
        request.redirect = ctx.params.redirect
        request.timeout = ctx.params.timeout(default: configuration.defaultTimeout)
        request.credentials = credentials(ctx.request)
        database.execute(request, completion: complete(ctx))
    }

    func queryRequest(_ ctx: Context, _ statements: [Statement], linearizableTimeout: Double?) -> QueryRequest {
        let p = ctx.params
        var request = QueryRequest(
            statements: statements, transaction: p.transaction, timings: p.timings, level: p.level,
            freshness: p.seconds("freshness"), freshnessStrict: p.freshnessStrict, dbTimeout: p.seconds("db_timeout"),
            linearizableTimeout: linearizableTimeout)
        request.redirect = p.redirect
        request.timeout = p.timeout(default: configuration.defaultTimeout)
        request.credentials = credentials(ctx.request)
        return request
    }

    func handleQuery(_ ctx: Context) {
        let parsed: [Statement]
        if ctx.method == "GET" {
            parsed = [Statement(sql: ctx.params["q"] ?? "")]
        } else {
            guard let s = statements(from: ctx, allowPlainText: true) else { return }
            parsed = s
        }
        // Only a strong read goes through Raft, so only it is rewritten (and RETURNING does not matter).
        let prepared = prepare(parsed, params: ctx.params, rewrite: ctx.params.level == .strong)
        let stmts = ctx.params.level == .strong
            ? prepared.0.map { Statement(sql: $0.sql, parameters: $0.parameters) } : prepared.0
        let disallowed = prepared.disallowed
        if disallowed {
            sendEnvelope(ctx, results: [], error: "disallowed pragma")
            return
        }
        if stmts.isEmpty {
            sendEnvelope(ctx, results: [], servedBy: configuration.advertisedAddress)
            return
        }
        let lin = ctx.params.seconds("linearizable_timeout") ?? configuration.defaultLinearizableTimeout
        database.query(queryRequest(ctx, stmts, linearizableTimeout: lin), completion: complete(ctx))
    }

    func handleRequest(_ ctx: Context) {
        guard let parsed = statements(from: ctx, allowPlainText: false) else { return }
        let (stmts, disallowed) = prepare(parsed, params: ctx.params, rewrite: true)
        if disallowed {
            sendEnvelope(ctx, results: [], error: "disallowed pragma")
            return
        }
        if stmts.isEmpty {
            sendEnvelope(ctx, results: [], servedBy: configuration.advertisedAddress)
            return
        }
        // rqlite does not propagate linearizable_timeout from the unified endpoint.
        database.request(queryRequest(ctx, stmts, linearizableTimeout: nil), completion: complete(ctx))
    }
}

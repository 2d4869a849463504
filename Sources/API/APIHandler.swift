import Dispatch
import Common
import HTTPServer
import JSON
import SQLiteDB

/// The rqlite-compatible HTTP API: one request value in, one response value out (REFERENCE §1).
///
/// Routing follows rqlite's table exactly (prefix vs exact matches); inside a route the permission is
/// checked first (401, empty body), then the method (405, empty body). `OPTIONS` answers 200 before
/// anything else, and the query string is validated before routing (400 text errors).
public final class APIHandler: HTTPHandler, Sendable {
    public let configuration: APIConfiguration
    let database: any DatabaseService
    let status: any StatusService
    let admin: (any ClusterAdminService)?
    let backups: (any BackupService)?
    /// Queued writes (`/db/execute?queue`), batched and written through `database`.
    let writeQueue: WriteQueue

    /// `admin` serves `/remove`, `POST /leader`, `/snapshot` and `/reap`; nil answers them 501.
    public init(
        database: any DatabaseService, status: any StatusService, admin: (any ClusterAdminService)? = nil,
        backups: (any BackupService)? = nil, configuration: APIConfiguration
    ) {
        self.database = database
        self.status = status
        self.admin = admin
        self.backups = backups
        self.configuration = configuration
        self.writeQueue = WriteQueue(
            settings: WriteQueue.Settings(
                capacity: configuration.writeQueueCapacity, batchSize: configuration.writeQueueBatchSize,
                timeout: configuration.writeQueueTimeout, transaction: configuration.writeQueueTransaction,
                retryInterval: configuration.writeQueueRetryInterval, drainTimeout: configuration.writeQueueDrainTimeout),
            database: database, sequenceStart: configuration.writeQueueSequenceStart ?? WallClock.unixNanoseconds())
    }

    /// Stops accepting queued writes and writes what is queued (retrying until the configured drain timeout).
    /// Blocks the caller: the daemon calls it on shutdown, before stopping the HTTP server and the node.
    public func shutdown() {
        writeQueue.shutdown()
    }

    /// A node serving everything; its `ClusterAdminService` conformance, if any, is used too.
    public convenience init(node: any DatabaseService & StatusService, configuration: APIConfiguration) {
        self.init(
            database: node, status: node, admin: node as? any ClusterAdminService, backups: node as? any BackupService,
            configuration: configuration)
    }

    /// Headers on every response (§1.2).
    var commonHeaders: [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [
            ("X-RQLITE-VERSION", configuration.version.isEmpty ? "unknown" : configuration.version)
        ]
        if let origin = configuration.allowOrigin { h.append(("Access-Control-Allow-Origin", origin)) }
        h.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
        if configuration.auth != nil {
            h.append(("Access-Control-Allow-Headers", "Content-Type, Authorization"))
            h.append(("Access-Control-Allow-Credentials", "true"))
            h.append(("WWW-Authenticate", "Basic realm=\"rqlite\""))
        } else {
            h.append(("Access-Control-Allow-Headers", "Content-Type"))
        }
        return h
    }

    public func handle(_ request: HTTPRequest, respond: @escaping HTTPResponder) {
        let common = commonHeaders
        let endpoint = APIHandler.route(for: request.path).map { "\($0)" } ?? "unknown"
        let started = DispatchTime.now().uptimeNanoseconds
        let method = request.method
        let send: @Sendable (HTTPResponse) -> Void = { response in
            var r = response
            r.headers = common + r.headers
            // Counted before the answer leaves: a client that scrapes /metrics next sees its request.
            RequestMetrics.record(endpoint: endpoint, method: method, status: r.status, since: started)
            respond(r)
        }
        if request.method == "OPTIONS" {
            send(HTTPResponse(status: 200))
            return
        }
        let params: QueryParameters
        do {
            params = try QueryParameters(rawQuery: request.rawQuery)
        } catch {
            send(Responses.textError(400, error.message))
            return
        }
        route(Context(request: request, params: params, send: send, start: configuration.clock()))
    }

    /// Everything a route handler needs.
    struct Context: Sendable {
        var request: HTTPRequest
        var params: QueryParameters
        var send: @Sendable (HTTPResponse) -> Void
        var start: Double
        var method: String { request.method }
        var path: String { request.path }
    }

    enum Route {
        case root, consoleNoSlash, console, execute, query, request, backup, load, sql, boot, snapshot, reap,
            remove, status, nodes, leader, readyz, licenses, debugVars, pprof, metrics
    }

    static func route(for path: String) -> Route? {
        switch path {
        case "", "/": return .root
        case "/console": return .consoleNoSlash
        case "/boot": return .boot
        case "/snapshot": return .snapshot
        case "/reap": return .reap
        case "/leader": return .leader
        case "/licenses": return .licenses
        case "/debug/vars": return .debugVars
        case "/metrics": return .metrics
        default: break
        }
        let prefixes: [(String, Route)] = [
            ("/console/", .console), ("/db/execute", .execute), ("/db/query", .query), ("/db/request", .request),
            ("/db/backup", .backup), ("/db/load", .load), ("/db/sql", .sql), ("/remove", .remove),
            ("/status", .status), ("/nodes", .nodes), ("/readyz", .readyz), ("/debug/pprof", .pprof),
        ]
        for (prefix, route) in prefixes where path.hasPrefix(prefix) { return route }
        return nil
    }

    func route(_ ctx: Context) {
        guard let route = APIHandler.route(for: ctx.path) else {
            ctx.send(HTTPResponse(status: 404))
            return
        }
        let json = Responses.jsonContentType
        switch route {
        case .root:
            ctx.send(Responses.redirect(method: ctx.method, location: "/console/", status: 302, contentType: nil))
        case .consoleNoSlash:
            ctx.send(Responses.redirect(method: ctx.method, location: "/console/", status: 301, contentType: nil))
        case .console:
            guard gate(ctx, perms: [.ui], methods: ["GET", "HEAD"]) else { return }
            ctx.send(StaticFiles.serve(directory: configuration.publicDirectory, request: ctx.request, prefix: "/console/"))
        case .execute:
            guard gate(ctx, perms: [.execute], methods: ["POST"], contentType: json) else { return }
            handleExecute(ctx)
        case .query:
            guard gate(ctx, perms: [.query], methods: ["GET", "POST"], contentType: json) else { return }
            handleQuery(ctx)
        case .request:
            guard gate(ctx, perms: [.query, .execute], methods: ["POST"], contentType: json) else { return }
            handleRequest(ctx)
        case .backup:
            guard gate(ctx, perms: [.backup], methods: ["GET"]) else { return }
            handleBackup(ctx)
        case .load:
            guard gate(ctx, perms: [.load], methods: ["POST"]) else { return }
            handleLoad(ctx)
        case .sql:
            guard gate(ctx, perms: [.query], methods: ["GET", "POST"], contentType: json) else { return }
            if ctx.method == "GET" && ctx.params["q"] == nil {
                ctx.send(Responses.textError(400, "query not specified"))
                return
            }
            handleSQLPreview(ctx)
        case .boot:
            guard gate(ctx, perms: [.load], methods: ["POST"]) else { return }
            handleBoot(ctx)
        case .snapshot:
            guard gate(ctx, perms: [.snapshot], methods: ["POST"]) else { return }
            handleSnapshot(ctx)
        case .reap:
            guard gate(ctx, perms: [.snapshot], methods: ["POST"]) else { return }
            handleReap(ctx)
        case .remove:
            guard gate(ctx, perms: [.remove], methods: ["DELETE"]) else { return }
            handleRemove(ctx)
        case .status:
            guard gate(ctx, perms: [.status], methods: ["GET"], contentType: json) else { return }
            handleStatus(ctx)
        case .nodes:
            guard gate(ctx, perms: [.status], methods: ["GET"], contentType: json) else { return }
            handleNodes(ctx)
        case .leader:
            guard gate(ctx, perms: [.leaderOps], methods: ["GET", "POST"], contentType: json) else { return }
            if ctx.method == "GET" {
                handleLeader(ctx)
            } else {
                handleStepDown(ctx)
            }
        case .readyz:
            guard gate(ctx, perms: [.ready], methods: ["GET"]) else { return }
            handleReadyz(ctx)
        case .licenses:
            // TODO(packaging): third-party license text.
            guard gate(ctx, perms: [.status], methods: ["GET"]) else { return }
            notImplemented(ctx)
        case .debugVars:
            guard gate(ctx, perms: [.status], methods: nil, contentType: json) else { return }
            handleDebugVars(ctx)
        case .pprof:
            guard gate(ctx, perms: [.status], methods: nil) else { return }
            notImplemented(ctx)
        case .metrics:
            guard gate(ctx, perms: [.status], methods: ["GET", "HEAD"]) else { return }
            guard let metrics = configuration.metrics else { return ctx.send(HTTPResponse(status: 404)) }
            ctx.send(
                HTTPResponse(
                    status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                    body: .bytes(metrics())))
        }
    }

    /// Permission (401) then method (405) checks, both with empty bodies.
    func gate(_ ctx: Context, perms: [AuthStore.Permission], methods: [String]?, contentType: String? = nil) -> Bool {
        for perm in perms where !authorized(ctx.request, perm) {
            ctx.send(Responses.empty(401, contentType: contentType))
            return false
        }
        if let methods, !methods.contains(ctx.method) {
            ctx.send(Responses.empty(405, contentType: contentType))
            return false
        }
        return true
    }

    func authorized(_ request: HTTPRequest, _ perm: AuthStore.Permission) -> Bool {
        guard let auth = configuration.auth else { return true }
        let creds = AuthStore.basicCredentials(request.header("Authorization"))
        return auth.allows(username: creds?.username, password: creds?.password, perm: perm)
    }

    func credentials(_ request: HTTPRequest) -> Credentials? {
        AuthStore.basicCredentials(request.header("Authorization")).map {
            Credentials(username: $0.username, password: $0.password)
        }
    }

    func notImplemented(_ ctx: Context) {
        ctx.send(Responses.textError(501, "not implemented"))
    }
}

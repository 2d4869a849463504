import HTTPServer
import JSON

extension APIHandler {
    /// Failure mapping for the text endpoints (remove, stepdown, snapshot, reap).
    func sendAdminFailure(_ ctx: Context, _ error: ServiceError) {
        switch error {
        case .notLeader, .leaderNotFound, .unauthorized:
            sendFailure(ctx, error, jsonEndpoint: false)
        case .message(let m):
            ctx.send(Responses.textError(m == "store not open" ? 503 : 500, m))
        }
    }

    func servedByHeader(_ servedBy: String?) -> [(name: String, value: String)] {
        [("X-RQLITE-SERVED-BY", servedBy ?? configuration.advertisedAddress)]
    }

    /// `DELETE /remove` with body `{"id":"<node id>"}`: anything else is a bare 400 (as rqlite answers).
    func handleRemove(_ ctx: Context) {
        guard let admin else { return notImplemented(ctx) }
        guard let body = try? JSONValue.parse(ctx.request.body, replacingInvalidUTF8: true),
            case .object(let members) = body
        else { return ctx.send(HTTPResponse(status: 400)) }
        // A Go map[string]string: every value must be a string, one key only, and it must be "id".
        var fields: [String: String] = [:]
        for (k, v) in members {
            guard case .string(let s) = v else { return ctx.send(HTTPResponse(status: 400)) }
            fields[k] = s
        }
        guard fields.count == 1, let id = fields["id"] else { return ctx.send(HTTPResponse(status: 400)) }
        admin.removeNode(
            id: id, redirect: ctx.params.redirect, timeout: ctx.params.timeout(default: configuration.defaultTimeout),
            credentials: credentials(ctx.request)
        ) { [self] result in
            switch result {
            case .success(let servedBy): ctx.send(HTTPResponse(status: 200, headers: servedByHeader(servedBy)))
            case .failure(let error): sendAdminFailure(ctx, error)
            }
        }
    }

    /// `POST /leader`: leadership transfer. The optional `{"id":"<target>"}` body is read only when the
    /// Content-Type is exactly `application/json` and the body is not empty.
    func handleStepDown(_ ctx: Context) {
        guard let admin else { return notImplemented(ctx) }
        var target: String?
        if ctx.request.header("Content-Type") == "application/json" && !ctx.request.body.isEmpty {
            do {
                let body = try JSONValue.parse(ctx.request.body, replacingInvalidUTF8: true)
                guard case .object(let members) = body else {
                    return ctx.send(Responses.textError(400, "invalid JSON: expected an object"))
                }
                if let id = members.last(where: { $0.0 == "id" })?.1 {
                    guard case .string(let s) = id else {
                        return ctx.send(Responses.textError(400, "invalid JSON: id must be a string"))
                    }
                    target = s.isEmpty ? nil : s
                }
            } catch {
                return ctx.send(Responses.textError(400, "invalid JSON: \(error)"))
            }
        }
        admin.stepDown(
            targetID: target, wait: ctx.params.has("wait"), redirect: ctx.params.redirect,
            timeout: ctx.params.timeout(default: configuration.defaultTimeout), credentials: credentials(ctx.request)
        ) { [self] result in
            switch result {
            case .success(let servedBy): ctx.send(HTTPResponse(status: 200, headers: servedByHeader(servedBy)))
            case .failure(let error): sendAdminFailure(ctx, error)
            }
        }
    }

    /// `POST /snapshot[?trailing_logs=N]`: 200 when taken, 204 when there was nothing to snapshot.
    func handleSnapshot(_ ctx: Context) {
        guard let admin else { return notImplemented(ctx) }
        admin.snapshot(trailingLogs: ctx.params.integer("trailing_logs")) { [self] result in
            switch result {
            case .success(.created): ctx.send(HTTPResponse(status: 200))
            case .success(.nothingToSnapshot): ctx.send(HTTPResponse(status: 204))
            case .failure(let error): sendAdminFailure(ctx, error)
            }
        }
    }

    /// `POST /reap`: `{"snapshots_reaped":N,"wals_checkpointed":M}`.
    func handleReap(_ ctx: Context) {
        guard let admin else { return notImplemented(ctx) }
        let pretty = ctx.params.pretty
        admin.reap { [self] result in
            switch result {
            case .success(let r):
                let doc = JSONValue.object([
                    ("snapshots_reaped", .integer(Int64(r.snapshotsReaped))),
                    ("wals_checkpointed", .integer(Int64(r.walsCheckpointed))),
                ])
                ctx.send(Responses.json(200, doc.encoded(pretty: pretty)))
            case .failure(let error): sendAdminFailure(ctx, error)
            }
        }
    }
}

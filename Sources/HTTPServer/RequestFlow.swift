import CMicroHTTPD

/// The access-handler state machine for one request. Runs on the connection's MHD thread and never
/// waits for the application.
///
/// 1. First call: headers only. Note the declared length; never answer here (MHD then closes the
///    connection), except a 413 when the declared length is beyond what we would drain (or the client
///    asked `Expect: 100-continue` and has not sent the body yet).
/// 2. Calls with upload data: append (or count and discard once over the limit). libmicrohttpd 0.9.75
///    cannot queue a response mid-body, so a body that outgrows the discard allowance without having
///    declared it (chunked) gets the connection closed.
/// 3. Call with no data after the body: dispatch to the handler once, then queue its response or
///    suspend; after a resume, queue the stored response.
enum RequestFlow {
    static let tooLargeText = "request body too large\n"

    static func step(
        _ context: RequestContext, connection: OpaquePointer?, method: UnsafePointer<CChar>?,
        uploadData: UnsafePointer<CChar>?, uploadSize: UnsafeMutablePointer<Int>
    ) -> MHD_Result {
        let core = context.core

        if !context.headersSeen {
            context.headersSeen = true
            context.method = method.map { String(cString: $0) } ?? "GET"
            if core.configuration.spoolDirectory != nil, !core.configuration.spooledPaths.isEmpty,
                core.configuration.spooledPaths.contains(RequestTarget(raw: context.rawTarget).path)
            {
                context.spooling = true
            }
            let limit = context.spooling ? core.configuration.maxSpooledBodyBytes : core.configuration.maxBodyBytes
            let declared = headerValue(connection, "Content-Length").flatMap { Int($0) } ?? 0
            if declared > limit {
                context.tooLarge = true
                let expect = headerValue(connection, "Expect")?.lowercased() == "100-continue"
                if expect || declared - limit > core.configuration.maxDiscardBytes {
                    return rejectTooLarge(context, connection)
                }
            } else if declared > 0 && !context.spooling {
                // Trust the declared length only so far: a client may announce 64 MiB and send nothing.
                context.body.reserveCapacity(min(declared, 1 << 20))
            }
            return .YES
        }
        let limit = context.spooling ? core.configuration.maxSpooledBodyBytes : core.configuration.maxBodyBytes

        if context.rejected {  // 413 already queued: swallow whatever libmicrohttpd still passes.
            uploadSize.pointee = 0
            return .YES
        }
        let size = uploadSize.pointee
        if size > 0 {
            uploadSize.pointee = 0
            context.bodyBytesReceived += size
            if !context.tooLarge, context.bodyBytesReceived > limit {
                context.tooLarge = true
                context.body = []
                context.spool?.discard()
                context.spool = nil
            }
            if context.tooLarge {
                if context.bodyBytesReceived - limit > core.configuration.maxDiscardBytes {
                    // Too much to drain and too late to answer: drop the connection.
                    context.core.count { $0.bodiesTooLarge += 1 }
                    return .NO
                }
                return .YES
            }
            if let data = uploadData {
                if context.spooling {
                    if context.spool == nil {
                        context.spool = BodySpool(directory: core.configuration.spoolDirectory ?? "/tmp")
                        if context.spool == nil { return .NO }  // cannot create the file: nothing sensible to answer mid-body
                    }
                    context.spool?.write(UnsafeRawPointer(data), count: size)
                } else {
                    data.withMemoryRebound(to: UInt8.self, capacity: size) {
                        context.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
                    }
                }
            }
            return .YES
        }

        if context.tooLarge { return rejectTooLarge(context, connection) }
        if !context.dispatched, let failure = context.spool?.failure {
            context.spool?.discard()
            context.spool = nil
            context.rejected = true
            core.log("cannot store the body of \(context.method) \(context.rawTarget): \(failure)")
            return ResponseBuilder.queue(ResponseBuilder.text(500, "cannot store request body: \(failure)\n"), on: connection, core: core)
        }

        if !context.dispatched {
            context.dispatched = true
            let request = makeRequest(context, connection: connection)
            context.path = request.path
            core.count {
                $0.requestsDispatched += 1
                $0.inFlight += 1
            }
            if core.register(context) {
                core.handler.handle(request, respond: { [context] response in context.respond(response) })
            } else {
                context.respond(ResponseBuilder.text(503, "server shutting down\n"), forced: true)
            }
        }
        switch context.takeResponseOrSuspend() {
        case .queue(let response):
            return ResponseBuilder.queue(response, on: connection, core: core)
        case .suspended:
            return .YES
        }
    }

    private static func rejectTooLarge(_ context: RequestContext, _ connection: OpaquePointer?) -> MHD_Result {
        context.rejected = true
        context.body = []
        context.core.count { $0.bodiesTooLarge += 1 }
        return ResponseBuilder.queue(ResponseBuilder.text(413, tooLargeText), on: connection, core: context.core)
    }

    private static func headerValue(_ connection: OpaquePointer?, _ name: String) -> String? {
        MHD_lookup_connection_value(connection, .HEADER_KIND, name).map { String(cString: $0) }
    }

    private static func makeRequest(_ context: RequestContext, connection: OpaquePointer?) -> HTTPRequest {
        let target = RequestTarget(raw: context.rawTarget)
        var headers: [(name: String, value: String)] = []
        withUnsafeMutablePointer(to: &headers) { pointer in
            _ = MHD_get_connection_values(
                connection, .HEADER_KIND,
                { cls, _, key, value in
                    let list = cls!.assumingMemoryBound(to: [(name: String, value: String)].self)
                    list.pointee.append(
                        (key.map { String(cString: $0) } ?? "", value.map { String(cString: $0) } ?? ""))
                    return .YES
                }, pointer)
        }
        var peer = [CChar](repeating: 0, count: 80)
        let rc = peer.withUnsafeMutableBufferPointer { raftlite_mhd_peer_address(connection, $0.baseAddress, $0.count) }
        let body = context.body
        context.body = []
        context.spool?.seal()
        return HTTPRequest(
            method: context.method, path: target.path, rawQuery: target.rawQuery, headers: headers, body: body,
            remoteAddress: rc == 0 ? String(nulTerminated: peer) : "", bodyFile: context.spool?.path)
    }
}

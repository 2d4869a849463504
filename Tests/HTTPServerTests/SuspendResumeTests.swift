import Dispatch
import Glibc
import HTTPServer
import Testing

@Suite struct SuspendResumeTests {
    @Test func respondLaterFromAnotherThreadResumesTheConnection() throws {
        let parked = ParkedResponders()
        let handler = ClosureHandler { request, respond in parked.park(request, respond) }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("POST", "/db/execute", body: Array("x".utf8))
            #expect(eventually { server.stats.suspended == 1 })
            #expect(server.stats.inFlight == 1)
            let waiting = parked.take()
            #expect(waiting.count == 1)
            let thread = spawn {
                waiting[0].1(HTTPResponse(status: 201, text: "done"))
                waiting[0].1(HTTPResponse(status: 500, text: "second call must be ignored"))
            }
            join(thread)
            let response = try client.readResponse()
            #expect(response.status == 201)
            #expect(response.text == "done")
            #expect(eventually { server.stats.inFlight == 0 && server.stats.suspended == 0 })
            #expect(server.stats.duplicateResponses == 1)
            // Keep-alive continues after a resumed request.
            try client.request("GET", "/again")
            #expect(eventually { parked.count == 1 })
            parked.take()[0].1(HTTPResponse(status: 200, text: "again"))
            #expect(try client.readResponse().text == "again")
        }
    }

    @Test func respondFromDispatchAfterDelay() throws {
        let handler = ClosureHandler { request, respond in
            let body = request.body
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                respond(HTTPResponse(status: 200, body: .bytes(body.reversed())))
            }
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            for _ in 0..<5 {
                try client.request("POST", "/slow", body: Array("abc".utf8))
                #expect(try client.readResponse().text == "cba")
            }
        }
    }

    /// With 4 server threads, 64 requests all reach the handler and wait at once: no server thread is
    /// held while the application works.
    @Test func sixtyFourConcurrentSuspendedRequestsOnFourThreads() throws {
        let parked = ParkedResponders()
        let handler = ClosureHandler { request, respond in parked.park(request, respond) }
        try withServer(quietConfiguration(threadPoolSize: 4), handler: handler) { server in
            var clients: [RawHTTPClient] = []
            for i in 0..<64 {
                let client = try RawHTTPClient(port: server.boundPort)
                try client.request("POST", "/db/execute?i=\(i)", body: Array("\(i)".utf8))
                clients.append(client)
            }
            #expect(eventually { parked.count == 64 })
            #expect(server.stats.suspended == 64)
            // Answer from many threads at once, in arbitrary order.
            let waiting = parked.take()
            let group = DispatchGroup()
            for (request, respond) in waiting {
                DispatchQueue.global().async(group: group) {
                    respond(HTTPResponse(status: 200, body: .bytes(request.body)))
                }
            }
            group.wait()
            for (i, client) in clients.enumerated() {
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.text == "\(i)")
            }
            #expect(eventually { server.stats.inFlight == 0 && server.stats.suspended == 0 })
        }
    }

    /// The responder racing the handler's return: respond on another thread immediately, many times.
    @Test func respondRacingHandlerReturn() throws {
        let handler = ClosureHandler { request, respond in
            DispatchQueue.global().async { respond(HTTPResponse(status: 200, body: .bytes(request.body))) }
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            for i in 0..<300 {
                try client.request("POST", "/race", body: Array("\(i)".utf8))
                #expect(try client.readResponse().text == "\(i)")
            }
        }
    }

    @Test func streamingResponseChunked() throws {
        let chunks: [[UInt8]] = [Array("first,".utf8), [UInt8](repeating: 120, count: 100_000), Array(",last".utf8)]
        let handler = ClosureHandler { _, respond in
            let index = TestLocked(0)
            respond(
                HTTPResponse(
                    status: 200, headers: [("Content-Type", "application/octet-stream")],
                    body: .stream(contentLength: nil) {
                        index.withLock { i in
                            defer { i += 1 }
                            return i < chunks.count ? chunks[i] : []
                        }
                    }))
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("GET", "/db/backup")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("Transfer-Encoding")?.lowercased() == "chunked")
            #expect(response.body == chunks.flatMap { $0 })
            // Connection reusable after a chunked response.
            try client.request("GET", "/db/backup")
            #expect(try client.readResponse().body.count == chunks.map(\.count).reduce(0, +))
        }
    }

    @Test func streamingResponseWithLengthFromAsyncResponder() throws {
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0) }
        let handler = ClosureHandler { _, respond in
            DispatchQueue.global().async {
                let offset = TestLocked(0)
                respond(
                    HTTPResponse(
                        status: 200,
                        body: .stream(contentLength: payload.count) {
                            offset.withLock { o in
                                let end = min(payload.count, o + 70_000)
                                defer { o = end }
                                return Array(payload[o..<end])
                            }
                        }))
            }
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("GET", "/db/backup")
            let response = try client.readResponse()
            #expect(response.header("Content-Length") == String(payload.count))
            #expect(response.body == payload)
        }
    }

    @Test func streamErrorClosesTheConnection() throws {
        let handler = ClosureHandler { _, respond in
            let calls = TestLocked(0)
            respond(
                HTTPResponse(
                    status: 200,
                    body: .stream(contentLength: nil) {
                        calls.withLock { c in
                            c += 1
                            return c == 1 ? Array("partial".utf8) : nil
                        }
                    }))
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("GET", "/db/backup")
            #expect(throws: (any Error).self) { try client.readResponse() }
            let fresh = try RawHTTPClient(port: server.boundPort)
            try fresh.request("GET", "/")
            #expect(throws: (any Error).self) { try fresh.readResponse() }  // Same failing stream.
            #expect(eventually { server.stats.openConnections == 0 && server.stats.liveRequestContexts == 0 })
        }
    }
}

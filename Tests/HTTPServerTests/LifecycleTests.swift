import Glibc
import HTTPServer
import Testing

@Suite struct LifecycleTests {
    @Test func gracefulShutdownFinishesSuspendedRequest() throws {
        let parked = ParkedResponders()
        let handler = ClosureHandler { request, respond in parked.park(request, respond) }
        let server = HTTPServer(configuration: quietConfiguration(), handler: handler)
        try server.start()
        let port = server.boundPort
        let client = try RawHTTPClient(port: port)
        try client.request("POST", "/db/execute", body: Array("x".utf8))
        #expect(eventually { server.stats.suspended == 1 })
        // The application answers a little after shutdown begins.
        let responder = spawn {
            while parked.count == 0 { usleep(1000) }
            usleep(200_000)
            for (_, respond) in parked.take() { respond(HTTPResponse(status: 200, text: "committed")) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        server.shutdown(gracePeriod: .seconds(10))
        let elapsed = clock.now - start
        join(responder)
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "committed")
        #expect(response.header("Connection")?.lowercased() == "close")
        #expect(elapsed >= .milliseconds(150))
        #expect(elapsed < .seconds(5))
        #expect(throws: (any Error).self) { _ = try RawHTTPClient(port: port) }
        server.shutdown()  // Idempotent.
    }

    @Test func shutdownAnswers503WhenTheGracePeriodRunsOut() throws {
        let parked = ParkedResponders()
        let handler = ClosureHandler { request, respond in parked.park(request, respond) }
        let server = HTTPServer(configuration: quietConfiguration(), handler: handler)
        try server.start()
        let client = try RawHTTPClient(port: server.boundPort)
        try client.request("POST", "/db/execute", body: Array("x".utf8))
        #expect(eventually { server.stats.suspended == 1 })
        server.shutdown(gracePeriod: .milliseconds(100))
        let response = try client.readResponse()
        #expect(response.status == 503)
        // The application answering late is harmless.
        for (_, respond) in parked.take() { respond(HTTPResponse(status: 200, text: "late")) }
    }

    @Test func ipv6LoopbackBind() throws {
        let server = HTTPServer(configuration: quietConfiguration(host: "::1"), handler: echoHandler)
        do {
            try server.start()
        } catch {
            // Only acceptable on a host without IPv6 loopback.
            #expect("\(error)".contains("cannot assign requested address") || "\(error)".contains("address family"))
            return
        }
        defer { server.shutdown() }
        #expect(server.boundPort > 0)
        let client = try RawHTTPClient(host: "::1", port: server.boundPort)
        try client.request("GET", "/v6?x=1")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("X-Remote")?.hasPrefix("[::1]:") == true)
        #expect(response.header("X-Query") == "x=1")
    }

    @Test func localhostAndAnyAddressBind() throws {
        // "" and "::" are dual-stack: reachable over IPv4 too.
        for host in ["localhost", "0.0.0.0", "", "::"] {
            let server = HTTPServer(configuration: quietConfiguration(host: host), handler: echoHandler)
            try server.start()
            defer { server.shutdown() }
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("GET", "/")
            #expect(try client.readResponse().status == 200)
        }
    }

    @Test func addressInUseIsAClearError() throws {
        try withServer(handler: echoHandler) { first in
            var configuration = quietConfiguration()
            configuration.port = first.boundPort
            let second = HTTPServer(configuration: configuration, handler: echoHandler)
            #expect(throws: HTTPServerError(
                kind: .addressInUse,
                description: "listen tcp 127.0.0.1:\(first.boundPort): bind: address already in use")) {
                try second.start()
            }
            // The first keeps serving.
            let client = try RawHTTPClient(port: first.boundPort)
            try client.request("GET", "/")
            #expect(try client.readResponse().status == 200)
        }
    }

    @Test func unresolvableHostIsAClearError() throws {
        var configuration = quietConfiguration(host: "no-such-host.invalid")
        configuration.port = 4001
        let server = HTTPServer(configuration: configuration, handler: echoHandler)
        do {
            try server.start()
            Issue.record("start should fail")
        } catch let error as HTTPServerError {
            #expect(error.kind == .resolve)
            #expect(error.description.hasPrefix("listen tcp no-such-host.invalid:4001: lookup no-such-host.invalid"))
        }
    }

    @Test func startTwiceFailsAndStatsStartAtZero() throws {
        let server = HTTPServer(configuration: quietConfiguration(), handler: echoHandler)
        #expect(server.stats == HTTPServerStats())
        #expect(server.boundPort == 0)
        try server.start()
        defer { server.shutdown() }
        #expect(server.boundPort > 0)
        #expect(throws: HTTPServerError.self) { try server.start() }
    }
}

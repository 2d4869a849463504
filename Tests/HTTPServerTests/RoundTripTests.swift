import Dispatch
import Glibc
import HTTPServer
import Testing

@Suite struct RoundTripTests {
    @Test func getParsesMethodDecodedPathRawQueryHeadersInOrderAndPeer() throws {
        try withServer(handler: echoHandler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request(
                "GET", "/db/a%20b/c?q=SELECT%20*%20FROM%20foo&pretty&level=weak",
                headers: [("X-Zeta", "1"), ("X-Alpha", "2"), ("X-Mid", "3")])
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("X-Method") == "GET")
            #expect(response.header("X-Path") == "/db/a b/c")
            #expect(response.header("X-Query") == "q=SELECT%20*%20FROM%20foo&pretty&level=weak")
            #expect(response.header("X-Header-Names") == "Host,X-Zeta,X-Alpha,X-Mid")
            #expect(response.header("X-Remote")?.hasPrefix("127.0.0.1:") == true)
            #expect(response.body.isEmpty)
        }
    }

    @Test func postEchoesBodyAndKeepsConnectionAlive() throws {
        try withServer(handler: echoHandler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            for i in 0..<3 {
                let body = Array("[\"INSERT INTO foo VALUES(\(i))\"]".utf8)
                try client.request("POST", "/db/execute", headers: [("Content-Type", "application/json")], body: body)
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.body == body)
                #expect(response.header("X-Method") == "POST")
            }
            #expect(server.stats.connectionsAccepted == 1)
            #expect(eventually { server.stats.requestsServed == 3 })
        }
    }

    @Test func largeBodyArrivesWhole() throws {
        let size = 8 << 20
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 11)) }
        try withServer(handler: echoHandler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: \(size)\r\n\r\n")
            // Dribble it in pieces so the server sees it across many access-handler calls.
            var offset = 0
            while offset < size {
                let end = min(size, offset + 100_000)
                try client.send(Array(body[offset..<end]))
                offset = end
            }
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("X-Body-Count") == String(size))
            #expect(response.body == body)
        }
    }

    @Test func chunkedRequestBodyIsDecoded() throws {
        try withServer(handler: echoHandler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.send(
                "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "hello world")
        }
    }

    @Test func headGetsHeadersWithoutBody() throws {
        let handler = ClosureHandler { request, respond in
            respond(HTTPResponse(status: 200, headers: [("X-Method", request.method)], text: "hello"))
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("HEAD", "/status")
            let head = try client.readResponse(head: true)
            #expect(head.status == 200)
            #expect(head.header("X-Method") == "HEAD")
            #expect(head.header("Content-Length") == "5")
            // If a body had been sent, it would be read here as the next status line and fail.
            try client.request("GET", "/status")
            let get = try client.readResponse()
            #expect(get.status == 200)
            #expect(get.text == "hello")
        }
    }

    @Test func responseHeadersAndStatusPassThrough() throws {
        let handler = ClosureHandler { _, respond in
            respond(
                HTTPResponse(
                    status: 503,
                    headers: [("X-Raft-Leader", "http://n1:4001"), ("Content-Type", "application/json"), ("Content-Length", "999")],
                    text: "{\"error\":\"not leader\"}"))
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("GET", "/db/query")
            let response = try client.readResponse()
            #expect(response.status == 503)
            #expect(response.header("X-Raft-Leader") == "http://n1:4001")
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.header("Content-Length") == "22")  // The server's, not the handler's bogus one.
            #expect(response.text == "{\"error\":\"not leader\"}")
        }
    }

    @Test func tooLargeBodyGets413UnbufferedAndServerKeepsServing() throws {
        let handled = ParkedResponders()
        let handler = ClosureHandler { request, respond in
            handled.park(request, { _ in })
            respond(HTTPResponse(status: 200, text: "ok"))
        }
        try withServer(quietConfiguration(maxBodyBytes: 1 << 20), handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.request("POST", "/db/execute", body: [UInt8](repeating: 65, count: 3 << 20))
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.text == "request body too large\n")
            #expect(handled.count == 0)
            // Same connection still usable (the excess was drained, not buffered).
            try client.request("POST", "/db/execute", body: Array("small".utf8))
            #expect(try client.readResponse().status == 200)
            // And new connections too.
            let other = try RawHTTPClient(port: server.boundPort)
            try other.request("GET", "/status")
            #expect(try other.readResponse().status == 200)
            #expect(handled.count == 2)
            #expect(server.stats.bodiesTooLarge == 1)
            // Exactly at the limit is fine.
            try other.request("POST", "/db/execute", body: [UInt8](repeating: 66, count: 1 << 20))
            #expect(try other.readResponse().status == 200)
        }
    }

    /// Spooled paths get their body as a file (beyond the in-memory cap), deleted once the request is
    /// over; other paths keep the cap.
    @Test func spooledPathsReceiveTheirBodyAsAFile() throws {
        let directory = "/tmp/raftlite-spool-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o700)
        defer { rmdir(directory) }
        let seen = TestLocked<[(file: String?, bytes: [UInt8], memory: Int)]>([])
        let handler = ClosureHandler { request, respond in
            var bytes: [UInt8] = []
            if let file = request.bodyFile, let f = fopen(file, "rb") {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = fread(&buffer, 1, buffer.count, f)
                    if n <= 0 { break }
                    bytes += buffer[0..<n]
                }
                fclose(f)
            }
            seen.withLock { $0.append((request.bodyFile, bytes, request.body.count)) }
            respond(HTTPResponse(status: 200, text: "ok"))
        }
        var configuration = quietConfiguration(maxBodyBytes: 1024)
        configuration.spoolDirectory = directory
        configuration.spooledPaths = ["/db/load"]
        configuration.maxSpooledBodyBytes = 1 << 20
        try withServer(configuration, handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try client.request("POST", "/db/load", body: body)
            #expect(try client.readResponse().status == 200)
            let first = try #require(seen.withLock { $0.first })
            #expect(first.file?.hasPrefix(directory + "/raftlite-upload-") == true)
            #expect(first.bytes == body && first.memory == 0)
            #expect(eventually { access(first.file!, F_OK) != 0 }, "the spooled file is deleted after the response")
            // The spool has its own limit; other paths keep the in-memory one.
            try client.request("POST", "/db/load", body: [UInt8](repeating: 1, count: (1 << 20) + 1))
            #expect(try client.readResponse().status == 413)
            let other = try RawHTTPClient(port: server.boundPort)
            try other.request("POST", "/db/execute", body: [UInt8](repeating: 1, count: 2048))
            #expect(try other.readResponse().status == 413)
            // An empty body is no file.
            try other.request("POST", "/db/load")
            #expect(try other.readResponse().status == 200)
            #expect(seen.withLock { $0.count } == 2 && seen.withLock { $0.last?.file } == nil)
            #expect(eventually { rmdir(directory) == 0 }, "spool files left behind")
        }
    }

    @Test func tooLargeWithExpectContinueIsRefusedBeforeTheBody() throws {
        try withServer(quietConfiguration(maxBodyBytes: 1024), handler: echoHandler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.send("POST /db/load HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.text == "request body too large\n")
        }
    }

    @Test func bodyFarBeyondTheDiscardAllowanceIsRefusedEarly() throws {
        var configuration = quietConfiguration(maxBodyBytes: 1024)
        configuration.maxDiscardBytes = 4096
        try withServer(configuration, handler: echoHandler) { server in
            // Declared far too large: answered right after the headers, without waiting for the body.
            let client = try RawHTTPClient(port: server.boundPort)
            try client.send("POST /db/load HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.text == "request body too large\n")
            // Chunked and growing past the allowance: nothing can be answered mid-body; closed.
            let chunked = try RawHTTPClient(port: server.boundPort, receiveTimeoutSeconds: 5)
            try chunked.send("POST /db/load HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            try? chunked.send(Array("4000\r\n".utf8) + [UInt8](repeating: 1, count: 0x4000) + Array("\r\n".utf8))
            var received: [UInt8] = []
            #expect(chunked.waitForClose(received: &received))
            let fresh = try RawHTTPClient(port: server.boundPort)
            try fresh.request("GET", "/")
            #expect(try fresh.readResponse().status == 200)
            #expect(server.stats.bodiesTooLarge == 2)
        }
    }

    @Test func expectContinueGets100BeforeTheBody() throws {
        try withServer(handler: echoHandler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.send("POST /db/load HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            // The client waits for the interim answer before sending the body.
            #expect(try client.readRawLine() == "HTTP/1.1 100 Continue")
            #expect(try client.readRawLine() == "")
            try client.send("hello")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "hello")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let handler = ClosureHandler { request, respond in
            // The first answers last: order must still be the request order.
            let delay = request.path == "/first" ? 100 : 0
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) {
                respond(HTTPResponse(status: 200, text: request.path))
            }
        }
        try withServer(handler: handler) { server in
            let client = try RawHTTPClient(port: server.boundPort)
            try client.send("GET /first HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try client.readResponse().text == "/first")
            #expect(try client.readResponse().text == "/second")
        }
    }
}

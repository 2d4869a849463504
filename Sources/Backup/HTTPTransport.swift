import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One HTTP request of the S3 client. The body, if any, is streamed from a file.
struct HTTPRequest: Sendable {
    var method: String
    var scheme: String
    var host: String
    var port: Int
    /// Already percent-encoded path, plus `?query` if any.
    var target: String
    var headers: [(String, String)]
    var bodyFile: String?
}

struct HTTPResponse: Sendable {
    var status: Int
    /// Lowercased names.
    var headers: [String: String]
    /// The body when it was not streamed to a file (bounded: error documents, HEAD answers).
    var body: [UInt8]
}

/// Minimal HTTP/1.1 client: plain sockets for `http://` (one connection per request, `Connection: close`),
/// URLSession for `https://`. A 2xx body goes to `responseFile` when one is given.
enum HTTPTransport {
    static let maxBufferedBody = 1 << 20

    static func perform(_ request: HTTPRequest, responseFile: String?, timeout: Double) throws -> HTTPResponse {
        if request.scheme == "https" {
            return try performWithURLSession(request, responseFile: responseFile, timeout: timeout)
        }
        return try performPlain(request, responseFile: responseFile, timeout: timeout)
    }

    // MARK: Plain sockets

    private static func performPlain(_ request: HTTPRequest, responseFile: String?, timeout: Double) throws
        -> HTTPResponse
    {
        let deadline = Date().addingTimeInterval(timeout)
        let fd = try connectSocket(host: request.host, port: request.port, timeout: timeout)
        defer { close(fd) }
        var head = "\(request.method) \(request.target) HTTP/1.1\r\n"
        for (name, value) in request.headers { head += "\(name): \(value)\r\n" }
        head += "Connection: close\r\n\r\n"
        try writeAll(fd, Array(head.utf8), deadline)
        if let bodyFile = request.bodyFile {
            guard let handle = FileHandle(forReadingAtPath: bodyFile) else {
                throw StorageError("cannot open \(bodyFile)")
            }
            defer { try? handle.close() }
            while true {
                let chunk = try handle.read(upToCount: 1 << 16) ?? Data()
                if chunk.isEmpty { break }
                try writeAll(fd, [UInt8](chunk), deadline)
            }
        }
        var reader = SocketReader(fd: fd, deadline: deadline)
        let statusLine = try reader.line()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw StorageError("malformed HTTP status line from \(request.host): \(statusLine.prefix(80))")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try reader.line()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                .trimmingCharacters(in: .whitespaces)
        }
        var response = HTTPResponse(status: status, headers: headers, body: [])
        if request.method == "HEAD" || status == 204 || status == 304 { return response }
        let toFile = (200..<300).contains(status) ? responseFile : nil
        var output: FileHandle?
        if let toFile {
            guard FileManager.default.createFile(atPath: toFile, contents: nil),
                let handle = FileHandle(forWritingAtPath: toFile)
            else { throw StorageError("cannot create \(toFile)") }
            output = handle
        }
        defer { try? output?.close() }
        func sink(_ bytes: [UInt8]) throws {
            if let output {
                try output.write(contentsOf: bytes)
            } else if response.body.count < maxBufferedBody {
                response.body += bytes.prefix(maxBufferedBody - response.body.count)
            }
        }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try reader.line()
                guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16)
                else { throw StorageError("malformed chunk size from \(request.host)") }
                if size == 0 { break }
                var left = size
                while left > 0 {
                    let piece = try reader.read(max: min(left, 1 << 16))
                    guard !piece.isEmpty else { throw StorageError("connection closed inside a chunk") }
                    try sink(piece)
                    left -= piece.count
                }
                _ = try reader.line()
            }
        } else if let lengthText = headers["content-length"], let length = Int(lengthText) {
            var left = length
            while left > 0 {
                let piece = try reader.read(max: min(left, 1 << 16))
                guard !piece.isEmpty else {
                    throw StorageError("connection closed after \(length - left) of \(length) body bytes")
                }
                try sink(piece)
                left -= piece.count
            }
        } else {
            while true {
                let piece = try reader.read(max: 1 << 16)
                if piece.isEmpty { break }
                try sink(piece)
            }
        }
        return response
    }

    private static func connectSocket(host: String, port: Int, timeout: Double) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw StorageError("cannot resolve \(host): \(rc)") }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let ai = entry {
            entry = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if fd < 0 { continue }
            var tv = timeval()
            tv.tv_sec = Int(timeout)
            tv.tv_usec = .init((timeout - timeout.rounded(.down)) * 1e6)
            if tv.tv_sec == 0 && tv.tv_usec == 0 { tv.tv_usec = 1000 }
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
            lastError = errno
            close(fd)
        }
        throw StorageError("cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ deadline: Date) throws {
        var offset = 0
        while offset < bytes.count {
            guard Date() < deadline else { throw StorageError("timed out sending the request") }
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError("send failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    private struct SocketReader {
        let fd: Int32
        let deadline: Date
        var buffer: [UInt8] = []
        var start = 0

        init(fd: Int32, deadline: Date) {
            self.fd = fd
            self.deadline = deadline
        }

        /// Fills the buffer; false at end of stream.
        mutating func fill() throws -> Bool {
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                guard Date() < deadline else { throw StorageError("timed out waiting for the response") }
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK { throw StorageError("timed out waiting for the response") }
                    throw StorageError("recv failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { return false }
                buffer += chunk[0..<n]
                return true
            }
        }

        mutating func line() throws -> String {
            var scanned = start
            while true {
                if let nl = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                    var end = nl
                    if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                    let text = String(decoding: buffer[start..<end], as: UTF8.self)
                    start = nl + 1
                    return text
                }
                guard buffer.count - start < 64 * 1024 else { throw StorageError("HTTP header line too long") }
                let consumed = buffer.count - start
                guard try fill() else { throw StorageError("connection closed before the response ended") }
                scanned = consumed
            }
        }

        mutating func read(max: Int) throws -> [UInt8] {
            if start == buffer.count {
                guard try fill() else { return [] }
            }
            let end = Swift.min(buffer.count, start + max)
            let out = Array(buffer[start..<end])
            start = end
            return out
        }
    }

    // MARK: https via URLSession

    private final class Outcome: @unchecked Sendable {
        var response: HTTPResponse?
        var error: Error?
    }

    private static func performWithURLSession(_ request: HTTPRequest, responseFile: String?, timeout: Double) throws
        -> HTTPResponse
    {
        let defaultPort = request.port == 443
        guard let url = URL(string: "https://\(request.host)\(defaultPort ? "" : ":\(request.port)")\(request.target)")
        else { throw StorageError("invalid URL for host \(request.host)") }
        var urlRequest = URLRequest(url: url, timeoutInterval: timeout)
        urlRequest.httpMethod = request.method
        for (name, value) in request.headers where name.lowercased() != "host" {
            urlRequest.setValue(value, forHTTPHeaderField: name)
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        @Sendable func headersOf(_ r: URLResponse?) -> (Int, [String: String]) {
            guard let http = r as? HTTPURLResponse else { return (0, [:]) }
            var h: [String: String] = [:]
            for (k, v) in http.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
            return (http.statusCode, h)
        }
        let task: URLSessionTask
        if let bodyFile = request.bodyFile {
            task = session.uploadTask(with: urlRequest, fromFile: URL(fileURLWithPath: bodyFile)) { data, r, e in
                let (s, h) = headersOf(r)
                outcome.response = HTTPResponse(status: s, headers: h, body: [UInt8](data ?? Data()))
                outcome.error = e
                done.signal()
            }
        } else if let responseFile, request.method == "GET" {
            task = session.downloadTask(with: urlRequest) { location, r, e in
                let (s, h) = headersOf(r)
                var body: [UInt8] = []
                if let location {
                    if (200..<300).contains(s) {
                        try? FileManager.default.removeItem(atPath: responseFile)
                        do {
                            try FileManager.default.moveItem(atPath: location.path, toPath: responseFile)
                        } catch {
                            outcome.error = error
                        }
                    } else {
                        body = [UInt8]((try? Data(contentsOf: location)) ?? Data()).prefix(maxBufferedBody).map { $0 }
                    }
                }
                outcome.response = HTTPResponse(status: s, headers: h, body: body)
                if outcome.error == nil { outcome.error = e }
                done.signal()
            }
        } else {
            task = session.dataTask(with: urlRequest) { data, r, e in
                let (s, h) = headersOf(r)
                outcome.response = HTTPResponse(status: s, headers: h, body: [UInt8](data ?? Data()))
                outcome.error = e
                done.signal()
            }
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 5) == .timedOut {
            task.cancel()
            throw StorageError("timed out after \(timeout)s talking to \(request.host)")
        }
        if let error = outcome.error { throw StorageError("request to \(request.host) failed: \(error)") }
        guard let response = outcome.response else { throw StorageError("no response from \(request.host)") }
        return response
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error with a message meant for the user, printed as `Error: <message>`.
struct ShellError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A `host:port` the shell talks to.
struct Endpoint: Equatable {
    var host: String
    var port: Int
    /// `host:port` (IPv6 hosts in brackets), as shown in the prompt.
    var display: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host:port`, `host` (port 4001) or `[v6]:port`.
    static func parse(_ text: String, defaultPort: Int = 4001) -> Endpoint? {
        var s = Substring(text.trimmingSpaces)
        if s.isEmpty { return nil }
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            let host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            if rest.isEmpty { return Endpoint(host: host, port: defaultPort) }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
            return Endpoint(host: host, port: port)
        }
        if let colon = s.lastIndex(of: ":"), s.firstIndex(of: ":") == colon {
            guard let port = Int(s[s.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            s = s[..<colon]
            return s.isEmpty ? nil : Endpoint(host: String(s), port: port)
        }
        return Endpoint(host: String(s), port: defaultPort)
    }
}

/// What a request sends after its head.
enum RequestBody {
    case none
    case bytes([UInt8])
    /// A file streamed from disk (re-read when the request is redirected).
    case file(path: String, size: Int)
}

struct HTTPResponse {
    var status: Int
    var reason: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }
    var text: String { String(decoding: body, as: UTF8.self) }
    var isSuccess: Bool { (200..<300).contains(status) }
    /// `server responded with 501 Not Implemented: not implemented`, rqlite's wording for a non-200 answer.
    var failureMessage: String {
        let t = text.trimmingSpaces
        return "server responded with \(status) \(reason)" + (t.isEmpty ? "" : ": \(t)")
    }
}

/// A connection failure before anything was sent: another host may be tried.
private struct ConnectFailure: Error { let message: String }
/// The peer closed a reused keep-alive connection before answering: the request may be sent again.
private struct StaleConnection: Error {}

/// A small blocking HTTP/1.1 client over POSIX sockets: one keep-alive connection, Basic auth, redirects to
/// the leader, fallback hosts, a timeout on every socket operation.
final class HTTPClient {
    /// The current host first is `endpoints[current]`; the others are the alternatives tried when it fails.
    private(set) var endpoints: [Endpoint]
    private(set) var current = 0
    /// Always begins and ends with `/`.
    let prefix: String
    var authorization: String?
    /// Seconds; 0 waits forever.
    let timeout: Double
    let maxRedirects = 21
    /// Called when a request succeeded on an alternative host, which becomes the current one.
    var onHostChange: ((Endpoint) -> Void)?

    private var connection: Connection?

    init(endpoints: [Endpoint], prefix: String, credentials: String?, timeout: Double) {
        self.endpoints = endpoints
        var p = prefix.isEmpty ? "/" : prefix
        if !p.hasPrefix("/") { p = "/" + p }
        if !p.hasSuffix("/") { p += "/" }
        self.prefix = p
        self.authorization = credentials.map { "Basic " + Base64.encode(Array($0.utf8)) }
        self.timeout = timeout
    }

    var endpoint: Endpoint { endpoints[current] }

    /// The request target for an API path such as `db/request?level=weak`.
    func target(_ path: String) -> String {
        prefix + (path.hasPrefix("/") ? String(path.dropFirst()) : path)
    }

    func close() {
        connection?.close()
        connection = nil
    }

    /// Sends a request, following redirects and falling back to alternative hosts when the current one cannot
    /// be reached. A 2xx body goes to `sink` when given (and is then not kept in the response).
    func send(
        _ method: String, _ path: String, contentType: String? = nil, body: RequestBody = .none,
        useTimeout: Bool = true, timeoutOverride: Double? = nil, uploadProgress: ((Int, Int) -> Void)? = nil,
        sink: ((ArraySlice<UInt8>, Int?) throws -> Void)? = nil
    ) throws -> HTTPResponse {
        interruptRequested = 0
        let requestTimeout = timeoutOverride ?? (useTimeout ? timeout : 0)
        var failures: [String] = []
        for attempt in 0..<endpoints.count {
            let index = (current + attempt) % endpoints.count
            do {
                let response = try sendFollowingRedirects(
                    method, endpoints[index], target(path), contentType: contentType, body: body,
                    timeout: requestTimeout, uploadProgress: uploadProgress, sink: sink)
                if index != current {
                    current = index
                    onHostChange?(endpoints[index])
                }
                if response.status == 401 { throw ShellError("unauthorized") }
                return response
            } catch let failure as ConnectFailure {
                failures.append(failure.message)
            }
        }
        throw ShellError(failures.joined(separator: "; "))
    }

    private func sendFollowingRedirects(
        _ method: String, _ first: Endpoint, _ firstTarget: String, contentType: String?, body: RequestBody,
        timeout: Double, uploadProgress: ((Int, Int) -> Void)?, sink: ((ArraySlice<UInt8>, Int?) throws -> Void)?
    ) throws -> HTTPResponse {
        var endpoint = first
        var target = firstTarget
        var redirects = 0
        while true {
            let response: HTTPResponse
            do {
                response = try exchange(
                    method, endpoint, target, contentType: contentType, body: body, timeout: timeout,
                    uploadProgress: uploadProgress, sink: sink)
            } catch let failure as ConnectFailure where redirects > 0 {
                // The first host answered; failing to reach the leader it named is an error, not a fallback.
                throw ShellError(failure.message)
            }
            guard [301, 302, 307, 308].contains(response.status), let location = response.header("Location") else {
                return response
            }
            redirects += 1
            if redirects > maxRedirects { throw ShellError("maximum leader redirect limit exceeded") }
            (endpoint, target) = try resolve(location, from: endpoint)
        }
    }

    private func resolve(_ location: String, from endpoint: Endpoint) throws -> (Endpoint, String) {
        if location.hasPrefix("/") { return (endpoint, location) }
        if location.lowercased().hasPrefix("https://") {
            throw ShellError("redirected to \(location): https is not supported yet")
        }
        guard location.lowercased().hasPrefix("http://") else { throw ShellError("bad redirect location: \(location)") }
        let rest = location.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let query = rest.firstIndex(of: "?") ?? rest.endIndex
        let end = min(slash, query)
        guard let next = Endpoint.parse(String(rest[..<end]), defaultPort: 80) else {
            throw ShellError("bad redirect location: \(location)")
        }
        var target = String(rest[end...])
        if !target.hasPrefix("/") { target = "/" + target }
        return (next, target)
    }

    /// One request and response on the kept-alive connection, opening it when needed; a stale reused
    /// connection is replaced once.
    private func exchange(
        _ method: String, _ endpoint: Endpoint, _ target: String, contentType: String?, body: RequestBody,
        timeout: Double, uploadProgress: ((Int, Int) -> Void)?, sink: ((ArraySlice<UInt8>, Int?) throws -> Void)?
    ) throws -> HTTPResponse {
        var reused = true
        if let c = connection, c.endpoint != endpoint {
            c.close()
            connection = nil
        }
        if connection == nil {
            connection = try Connection.open(endpoint, connectTimeout: timeout > 0 ? min(timeout, 10) : 10)
            reused = false
        }
        while true {
            let c = connection!
            c.setTimeout(timeout)
            do {
                let response = try perform(
                    c, method, endpoint, target, contentType: contentType, body: body,
                    uploadProgress: uploadProgress, sink: sink)
                if !c.keepAlive {
                    c.close()
                    connection = nil
                }
                return response
            } catch is StaleConnection where reused {
                c.close()
                connection = try Connection.open(endpoint, connectTimeout: timeout > 0 ? min(timeout, 10) : 10)
                reused = false
            } catch is StaleConnection {
                c.close()
                connection = nil
                throw ShellError("\(endpoint.display) closed the connection without answering")
            } catch {
                c.close()
                connection = nil
                throw error
            }
        }
    }

    private func perform(
        _ c: Connection, _ method: String, _ endpoint: Endpoint, _ target: String, contentType: String?,
        body: RequestBody, uploadProgress: ((Int, Int) -> Void)?, sink: ((ArraySlice<UInt8>, Int?) throws -> Void)?
    ) throws -> HTTPResponse {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(endpoint.display)\r\nUser-Agent: raftlite-shell\r\n"
        head += "Accept: */*\r\n"
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        switch body {
        case .none: if method == "POST" || method == "PUT" || method == "DELETE" { head += "Content-Length: 0\r\n" }
        case .bytes(let b): head += "Content-Length: \(b.count)\r\n"
        case .file(_, let size): head += "Content-Length: \(size)\r\n"
        }
        head += "\r\n"
        try c.write(Array(head.utf8))
        switch body {
        case .none: break
        case .bytes(let b): try c.write(b)
        case .file(let path, let size): try sendFile(c, path: path, size: size, progress: uploadProgress)
        }
        return try c.readResponse(head: method == "HEAD", sink: sink)
    }

    private func sendFile(_ c: Connection, path: String, size: Int, progress: ((Int, Int) -> Void)?) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ShellError("cannot open \(path): \(errnoText())") }
        defer { _ = posixClose(fd) }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var sent = 0
        progress?(0, size)
        while sent < size {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, size - sent)) }
            if n < 0 {
                if errno == EINTR {
                    try checkInterrupt()
                    continue
                }
                throw ShellError("cannot read \(path): \(errnoText())")
            }
            if n == 0 { throw ShellError("\(path) shrank while it was being sent") }
            try c.write(buffer[0..<n])
            sent += n
            progress?(sent, size)
        }
    }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// The C library's close, read and write, under names the shell's own `close`/`read` methods do not shadow.
#if canImport(Glibc)
let posixClose = Glibc.close
let posixRead = Glibc.read
let posixWrite = Glibc.write
/// SIGPIPE is ignored too; MSG_NOSIGNAL keeps a closed socket from raising it even when it is not.
let sendFlags = Int32(MSG_NOSIGNAL)
#else
let posixClose = Darwin.close
let posixRead = Darwin.read
let posixWrite = Darwin.write
let sendFlags: Int32 = 0
#endif

/// Set by the SIGINT handler the interactive shell installs (without SA_RESTART, so a blocked socket call
/// returns EINTR): Ctrl-C abandons the request in progress instead of ending the shell.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// Throws when Ctrl-C was pressed; called where a system call returned EINTR.
func checkInterrupt() throws {
    if interruptRequested != 0 { throw ShellError("interrupted") }
}

/// Makes Ctrl-C interrupt requests rather than end the process.
func installInterruptHandler() {
    var action = sigaction()
    #if os(Linux)
    action.__sigaction_handler.sa_handler = { _ in interruptRequested = 1 }
    #else
    action.__sigaction_u.__sa_handler = { _ in interruptRequested = 1 }
    #endif
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGINT, &action, nil)
}

/// One TCP connection with a read buffer.
private final class Connection {
    let fd: Int32
    let endpoint: Endpoint
    var keepAlive = true
    private var buffer: [UInt8] = []
    private var position = 0
    /// Whether any byte of the current response has arrived (a stale connection closes before that).
    private var receivedAny = false

    private init(fd: Int32, endpoint: Endpoint) {
        self.fd = fd
        self.endpoint = endpoint
    }

    static func open(_ endpoint: Endpoint, connectTimeout: Double) throws -> Connection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ConnectFailure(message: "cannot resolve \(endpoint.host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = ECONNREFUSED
        var info: UnsafeMutablePointer<addrinfo>? = first
        while let ai = info {
            info = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if fd < 0 {
                lastError = errno
                continue
            }
            Connection.setTimeout(fd, SO_SNDTIMEO, connectTimeout)  // Linux bounds connect() by the send timeout
            if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return Connection(fd: fd, endpoint: endpoint)
            }
            lastError = errno == EINPROGRESS ? ETIMEDOUT : errno
            _ = posixClose(fd)
            if lastError == EINTR && interruptRequested != 0 { throw ShellError("interrupted") }
        }
        throw ConnectFailure(message: "cannot connect to \(endpoint.display): \(errnoText(lastError))")
    }

    private static func setTimeout(_ fd: Int32, _ option: Int32, _ seconds: Double) {
        var tv = timeval()
        if seconds > 0 {
            tv.tv_sec = Int(seconds)
            tv.tv_usec = Int((seconds - Double(Int(seconds))) * 1_000_000)
        }
        setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func setTimeout(_ seconds: Double) {
        Connection.setTimeout(fd, SO_RCVTIMEO, seconds)
        Connection.setTimeout(fd, SO_SNDTIMEO, seconds)
    }

    func close() {
        _ = posixClose(fd)
    }

    func write<C: Collection<UInt8>>(_ bytes: C) throws {
        let array = Array(bytes)
        var offset = 0
        while offset < array.count {
            let n = array.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, sendFlags) }
            if n < 0 {
                if errno == EINTR {
                    try checkInterrupt()
                    continue
                }
                if errno == EPIPE || errno == ECONNRESET { throw StaleConnection() }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw ShellError("timed out sending to \(endpoint.display)") }
                throw ShellError("cannot send to \(endpoint.display): \(errnoText())")
            }
            offset += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                receivedAny = true
                return true
            }
            if n == 0 {
                if !receivedAny { throw StaleConnection() }
                return false
            }
            if errno == EINTR {
                try checkInterrupt()
                continue
            }
            if errno == ECONNRESET && !receivedAny { throw StaleConnection() }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                throw ShellError("timed out waiting for \(endpoint.display) (raise it with -t/--http-timeout)")
            }
            throw ShellError("cannot read from \(endpoint.display): \(errnoText())")
        }
    }

    private func readLine() throws -> String {
        while true {
            if let nl = buffer[position...].firstIndex(of: 10) {
                var end = nl
                if end > position && buffer[end - 1] == 13 { end -= 1 }
                let line = String(decoding: buffer[position..<end], as: UTF8.self)
                position = nl + 1
                return line
            }
            if buffer.count - position > 64 * 1024 { throw ShellError("response header line too long") }
            guard try fill() else { throw ShellError("\(endpoint.display) closed the connection mid-response") }
        }
    }

    /// Hands up to `limit` buffered (or freshly read) bytes to `body`; false at end of stream.
    private func take(upTo limit: Int, _ body: (ArraySlice<UInt8>) throws -> Void) throws -> Int {
        if position == buffer.count {
            guard try fill() else { return 0 }
        }
        let n = min(limit, buffer.count - position)
        try body(buffer[position..<(position + n)])
        position += n
        return n
    }

    func readResponse(head: Bool, sink: ((ArraySlice<UInt8>, Int?) throws -> Void)?) throws -> HTTPResponse {
        receivedAny = position < buffer.count
        var statusLine = try readLine()
        while statusLine.isEmpty { statusLine = try readLine() }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw ShellError("\(endpoint.display) did not answer HTTP: \(statusLine.prefix(80))")
        }
        let reason = parts.count > 2 ? String(parts[2]) : ""
        var headers: [(String, String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces))
        }
        var response = HTTPResponse(status: status, reason: reason, headers: headers, body: [])
        let connectionHeader = response.header("Connection")?.lowercased() ?? ""
        keepAlive = parts[0] == "HTTP/1.1" ? !connectionHeader.contains("close") : connectionHeader.contains("keep-alive")
        if status == 100 { return try readResponse(head: head, sink: sink) }

        let streaming = sink != nil && response.isSuccess
        let length = response.header("Content-Length").flatMap { Int($0) }
        var received = 0
        let deliver: (ArraySlice<UInt8>) throws -> Void = { chunk in
            received += chunk.count
            if streaming { try sink!(chunk, length) } else { response.body.append(contentsOf: chunk) }
        }
        if head || status == 204 || status == 304 || (100..<200).contains(status) {
            return response
        }
        if response.header("Transfer-Encoding")?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try readLine()
                let hex = sizeLine.split(separator: ";").first.map { String($0).trimmingSpaces } ?? ""
                guard let size = Int(hex, radix: 16) else { throw ShellError("bad chunk size from \(endpoint.display)") }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                var left = size
                while left > 0 {
                    let n = try take(upTo: left, deliver)
                    if n == 0 { throw ShellError("\(endpoint.display) closed the connection mid-response") }
                    left -= n
                }
                _ = try readLine()
            }
        } else if let length {
            var left = length
            while left > 0 {
                let n = try take(upTo: left, deliver)
                if n == 0 { throw ShellError("\(endpoint.display) closed the connection mid-response") }
                left -= n
            }
        } else {
            while try take(upTo: Int.max, deliver) > 0 {}
            keepAlive = false
        }
        return response
    }
}

enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i]
            let b1 = i + 1 < bytes.count ? bytes[i + 1] : 0
            let b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 0xf) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

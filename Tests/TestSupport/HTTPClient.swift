import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A response as received on the wire.
public struct RawHTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased, in arrival order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name == lower })?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

public enum HTTPClientError: Error, CustomStringConvertible {
    case connect(String)
    case io(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .connect(let m): return "connect: \(m)"
        case .io(let m): return "io: \(m)"
        case .malformed(let m): return "malformed response: \(m)"
        }
    }
}

/// A small blocking HTTP/1.1 client over a POSIX socket, for tests: exact bytes in and out, keep-alive,
/// raw writes (garbage, half requests), and no hidden retries or redirects.
public final class HTTPConnection {
    public let fd: Int32
    private var buffer: [UInt8] = []
    public let host: String
    public let port: Int

    /// Connects to `host:port` (IPv4 or IPv6 literal, or `localhost`), with a receive timeout.
    public init(host: String = "127.0.0.1", port: Int, timeout: Double = 30) throws {
        self.host = host
        self.port = port
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw HTTPClientError.connect("cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        let s = socket(info.pointee.ai_family, info.pointee.ai_socktype, 0)
        guard s >= 0 else { throw HTTPClientError.connect("socket: \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard connect(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let e = errno
            close(s)
            throw HTTPClientError.connect("\(host):\(port): \(String(cString: strerror(e)))")
        }
        fd = s
    }

    deinit { close(fd) }

    /// Writes raw bytes.
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HTTPClientError.io("send: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Sends one request and reads its response.
    public func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []
    ) throws -> RawHTTPResponse {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" || method == "DELETE" {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        try send(Array(head.utf8) + body)
        return try readResponse(method: method)
    }

    /// Reads bytes until the connection closes or the timeout passes; returns them.
    public func readToEnd() -> [UInt8] {
        var out = buffer
        buffer.removeAll()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// True when the peer has closed the connection (recv returns 0) before the timeout.
    public func peerClosed() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { throw HTTPClientError.io("connection closed by peer") }
        if n < 0 { throw HTTPClientError.io("recv: \(String(cString: strerror(errno)))") }
        buffer += chunk[0..<n]
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<i])
                buffer.removeSubrange(...i)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            try fill()
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        let out = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return out
    }

    public func readResponse(method: String = "GET") throws -> RawHTTPResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HTTPClientError.malformed("status line \(statusLine)")
        }
        var headers: [(name: String, value: String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw HTTPClientError.malformed("header \(line)") }
            headers.append(
                (String(line[..<colon]).lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = RawHTTPResponse(status: status, headers: headers, body: [])
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) { return response }
        if let te = response.header("transfer-encoding"), te.lowercased().contains("chunked") {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16)
                else { throw HTTPClientError.malformed("chunk size \(sizeLine)") }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                response.body += try readExactly(size)
                _ = try readLine()
            }
        } else if let length = response.header("content-length").flatMap({ Int($0) }) {
            response.body = try readExactly(length)
        } else {
            response.body = readToEnd()
        }
        return response
    }
}

/// One-shot helpers that open a connection per request.
public enum HTTP {
    public static func get(_ port: Int, _ target: String, host: String = "127.0.0.1", headers: [(String, String)] = [])
        throws -> RawHTTPResponse
    {
        try HTTPConnection(host: host, port: port).request("GET", target, headers: headers)
    }

    public static func post(
        _ port: Int, _ target: String, json: String, host: String = "127.0.0.1", headers: [(String, String)] = []
    ) throws -> RawHTTPResponse {
        try HTTPConnection(host: host, port: port).request(
            "POST", target, headers: [("Content-Type", "application/json")] + headers, body: Array(json.utf8))
    }

    public static func request(
        _ port: Int, _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [],
        host: String = "127.0.0.1"
    ) throws -> RawHTTPResponse {
        try HTTPConnection(host: host, port: port).request(method, target, headers: headers, body: body)
    }
}

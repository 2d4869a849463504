/// An HTTP request, fully received (headers and body) before it reaches a handler.
public struct HTTPRequest: Sendable {
    /// The method as sent (`GET`, `POST`, ...).
    public var method: String
    /// The URL path, percent-decoded (`/db/query`).
    public var path: String
    /// The raw query string after `?`, undecoded (empty when there is none).
    public var rawQuery: String
    /// Headers in arrival order; names as sent. Use `header(_:)` for case-insensitive lookup.
    public var headers: [(name: String, value: String)]
    /// The request body (empty when it was spooled to `bodyFile`).
    public var body: [UInt8]
    /// For paths the server spools (`Configuration.spooledPaths`): the file holding the whole body, nil
    /// when the body was empty. The server deletes it once the request is over (response sent or
    /// connection gone); a handler that needs it longer moves it elsewhere first.
    public var bodyFile: String?
    /// The peer's address, `ip:port` (`[ip]:port` for IPv6), when known.
    public var remoteAddress: String

    public init(
        method: String, path: String, rawQuery: String = "", headers: [(name: String, value: String)] = [],
        body: [UInt8] = [], remoteAddress: String = "", bodyFile: String? = nil
    ) {
        self.method = method
        self.path = path
        self.rawQuery = rawQuery
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.bodyFile = bodyFile
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name.lowercased() == lower })?.value
    }
}

/// A response body: bytes in memory, or a stream produced on demand (large backups).
public enum HTTPBody: Sendable {
    case bytes([UInt8])
    /// `next` is called repeatedly from a server thread; it returns the next chunk, an empty array at the
    /// end, or nil on an error (the connection is then closed without completing the body).
    case stream(contentLength: Int?, next: @Sendable () -> [UInt8]?)
}

/// An HTTP response value.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Headers to send; `Content-Length` is set by the server.
    public var headers: [(name: String, value: String)]
    public var body: HTTPBody

    public init(status: Int, headers: [(name: String, value: String)] = [], body: HTTPBody = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, headers: [(name: String, value: String)] = [], text: String) {
        self.init(status: status, headers: headers, body: .bytes(Array(text.utf8)))
    }
}

/// A completion that sends the response. It may be called exactly once, from any thread, either
/// before `handle` returns or later (the server suspends the connection meanwhile and never blocks a
/// server thread waiting for it).
public typealias HTTPResponder = @Sendable (HTTPResponse) -> Void

/// The application's side of the server: one request value in, one response value out.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, respond: @escaping HTTPResponder)
}

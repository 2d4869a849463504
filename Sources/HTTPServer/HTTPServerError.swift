/// Why `HTTPServer.start()` failed. `description` reads like Go's net errors
/// (`listen tcp 127.0.0.1:4001: bind: address already in use`), which rqlite users know.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The host name did not resolve.
        case resolve
        /// Another socket holds the address (EADDRINUSE).
        case addressInUse
        /// socket/bind/listen failed for another reason (errno in the message).
        case listen
        /// libmicrohttpd refused to start.
        case daemon
        /// `start()` was called twice, or after `shutdown`.
        case invalidState
    }

    public var kind: Kind
    public var description: String

    public init(kind: Kind, description: String) {
        self.kind = kind
        self.description = description
    }
}

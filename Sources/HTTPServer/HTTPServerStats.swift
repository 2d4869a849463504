/// A point-in-time snapshot of the server's counters (for /status and tests).
public struct HTTPServerStats: Sendable, Equatable {
    /// Connections currently open.
    public var openConnections: Int = 0
    /// Connections accepted since start.
    public var connectionsAccepted: Int = 0
    /// Requests whose body was complete and which reached the handler.
    public var requestsDispatched: Int = 0
    /// Requests whose response was sent in full.
    public var requestsServed: Int = 0
    /// Requests handed to the handler and not yet finished (answered and sent, or abandoned).
    public var inFlight: Int = 0
    /// Connections currently suspended waiting for the application to respond.
    public var suspended: Int = 0
    /// Requests refused with 413.
    public var bodiesTooLarge: Int = 0
    /// Requests that ended without a complete response (client gone, timeout, error, shutdown).
    public var requestsAborted: Int = 0
    /// Responder calls after the first one for the same request (ignored).
    public var duplicateResponses: Int = 0
    /// Per-request contexts alive (allocated at the request line, freed when libmicrohttpd reports the
    /// request finished). Returns to 0 when the server is idle: nothing leaks.
    public var liveRequestContexts: Int = 0

    public init() {}
}

/// Why a call, dial or listen failed. Closed set; `description` is meant for logs and operator-facing errors.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Node IDs are 1…1024 bytes of UTF-8.
    case invalidNodeID(String)
    /// The operating system refused a resource (descriptors, threads).
    case resourceUnavailable(String)
    /// Not `host:port` (IPv6 literals need brackets: `[::1]:4002`).
    case invalidAddress(String)
    case listenFailed(address: String, reason: String)
    case connectFailed(address: String, reason: String)
    /// The connection failed or was closed before the response arrived.
    case connectionClosed(address: String, reason: String)
    /// No response within the call's timeout (all attempts included).
    case timeout(address: String, seconds: Double)
    /// The payload does not fit in one frame under the configured limit.
    case frameTooLarge(size: Int, limit: Int)
    /// The peer received the call but answered with an error (for example its response was too large).
    case remote(String)
    /// The transport has been shut down.
    case shutdown

    public var description: String {
        switch self {
        case .invalidNodeID(let id): "invalid node ID \"\(id)\": must be 1 to 1024 bytes"
        case .resourceUnavailable(let what): "resource unavailable: \(what)"
        case .invalidAddress(let address): "invalid address \"\(address)\": expected host:port"
        case .listenFailed(let address, let reason): "cannot listen on \(address): \(reason)"
        case .connectFailed(let address, let reason): "cannot connect to \(address): \(reason)"
        case .connectionClosed(let address, let reason): "connection to \(address) lost: \(reason)"
        case .timeout(let address, let seconds): "call to \(address) timed out after \(seconds)s"
        case .frameTooLarge(let size, let limit): "frame of \(size) bytes exceeds the limit of \(limit) bytes"
        case .remote(let message): "peer error: \(message)"
        case .shutdown: "transport is shut down"
        }
    }
}

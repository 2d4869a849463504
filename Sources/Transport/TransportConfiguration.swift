/// Limits and timings of a `Transport`. All durations are in seconds.
public struct TransportConfiguration: Sendable {
    /// Largest frame body (kind prefix + payload) accepted or sent. Larger inbound frames close the connection.
    /// One-way payloads may be `maxFrameSize - 1` bytes, call payloads `maxFrameSize - 9`, responses
    /// `maxFrameSize - 8`. Bulk transfers (snapshots) are sent as a sequence of calls of at most this size.
    /// Clamped to 16 bytes … 4 GiB − 9 (the length field is a u32).
    public var maxFrameSize: Int = 16 << 20
    /// An inbound connection that delivers no bytes for this long is closed — both while idle between frames
    /// (unless it has calls awaiting a response) and in the middle of a frame. rqlite: 30 s.
    public var readTimeout: Double = 30
    /// A write that makes no progress for this long fails and closes its connection.
    public var writeTimeout: Double = 10
    public var connectTimeout: Double = 5
    /// A dialer must complete its handshake within this long.
    public var handshakeTimeout: Double = 10
    /// Per-peer bound of queued one-way messages; when full, the OLDEST queued message is dropped (and counted).
    public var peerQueueCapacity: Int = 4096
    /// Per-peer bound of queued one-way payload bytes; exceeding it drops the oldest messages as well.
    public var peerQueueMaxBytes: Int = 64 << 20
    /// Reconnect back-off of the one-way writers: starts here, doubles after each failed dial…
    public var reconnectBackoffMin: Double = 0.05
    /// …up to this, and resets after a successful dial.
    public var reconnectBackoffMax: Double = 2
    /// An idle one-way connection sends a ping this often so the peer's read deadline does not close it, and a
    /// pooled call connection idle for longer is closed rather than reused. Keep it well below the peers'
    /// `readTimeout`.
    public var pingInterval: Double = 10
    /// Pooled call connections per peer address; calls are multiplexed over them by request id.
    public var maxCallConnectionsPerPeer: Int = 4
    /// Inbound connections beyond this are closed on accept (and counted). rqlite: 512.
    public var maxInboundConnections: Int = 512
    /// How long `shutdown()` waits for the transport's threads to finish.
    public var shutdownTimeout: Double = 5

    public init() {}
}

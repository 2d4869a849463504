/// Counters of one outbound one-way peer (a `send(to:…)` address).
public struct PeerStats: Sendable, Equatable {
    /// A connection is established (and the handshake written).
    public var connected = false
    /// Messages waiting in the queue right now.
    public var queued = 0
    /// Bytes of payload waiting in the queue right now.
    public var queuedBytes = 0
    /// Messages handed to the kernel successfully.
    public var sent: UInt64 = 0
    /// Messages lost: evicted from a full queue (oldest first), rejected as too large, or in a batch whose write
    /// failed.
    public var dropped: UInt64 = 0
    /// Successful dials.
    public var connects: UInt64 = 0
    /// Successful dials after a previous connection was lost or a dial failed.
    public var reconnects: UInt64 = 0
    /// Failed dials.
    public var failedDials: UInt64 = 0
    /// The latest dial or write error, if any.
    public var lastError: String?

    public init() {}
}

/// A snapshot of the transport's counters. Errors on inbound connections are counted here: each one closes
/// the connection that caused it.
public struct TransportStats: Sendable, Equatable {
    /// Inbound connections accepted (including those later rejected for a bad handshake).
    public var inboundAccepted: UInt64 = 0
    /// Inbound connections open now.
    public var inboundActive = 0
    /// Inbound connections closed on accept because `maxInboundConnections` were open.
    public var inboundOverLimit: UInt64 = 0
    /// Inbound connections closed because the handshake was missing, wrong or too slow.
    public var handshakesRejected: UInt64 = 0
    /// Frames whose length exceeded `maxFrameSize`.
    public var oversizedFrames: UInt64 = 0
    /// Frames whose CRC-32 did not match.
    public var checksumErrors: UInt64 = 0
    /// Frames with an unknown or unexpected kind, or a body shorter than the kind's prefix.
    public var malformedFrames: UInt64 = 0
    /// Connections that ended in the middle of a frame.
    public var truncatedFrames: UInt64 = 0
    /// Connections closed by the read deadline.
    public var readTimeouts: UInt64 = 0
    /// Bytes read from inbound connections (handshakes included).
    public var bytesReceived: UInt64 = 0
    public var messagesReceived: UInt64 = 0
    public var callsReceived: UInt64 = 0
    /// Responses that could not be delivered (connection gone or write failed).
    public var responsesDropped: UInt64 = 0

    public var callsStarted: UInt64 = 0
    public var callsSucceeded: UInt64 = 0
    /// Calls that completed with an error, timeouts included.
    public var callsFailed: UInt64 = 0
    public var callsTimedOut: UInt64 = 0
    /// Attempts after the first.
    public var callRetries: UInt64 = 0
    /// Call connections dialed (pooled and fresh).
    public var callConnectionsDialed: UInt64 = 0
    /// Responses whose request id was no longer awaited (the attempt had timed out).
    public var lateResponses: UInt64 = 0

    /// One-way peers by address.
    public var peers: [String: PeerStats] = [:]

    /// All inbound protocol errors.
    public var frameErrors: UInt64 { oversizedFrames + checksumErrors + malformedFrames + truncatedFrames }

    public init() {}
}

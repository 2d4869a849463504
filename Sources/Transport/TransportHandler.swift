/// Receives what peers send to this node's listener.
///
/// Contract:
/// - Calls for one inbound connection arrive in the order the peer sent them, on that connection's reader thread.
///   Different connections (different peers, or a peer's message and call connections) run on different threads,
///   so implementations MUST be thread-safe.
/// - Implementations MUST NOT block for long: while a method runs, that connection reads nothing more, and
///   `Transport.shutdown()` waits for it. Hand slow work (Raft proposals, SQLite) to another thread and answer
///   later through `respond`.
/// - `payload` is owned by the callee; the transport keeps no reference to it.
public protocol TransportHandler: Sendable {
    /// A one-way message (Raft AppendEntries, votes, heartbeats…) from the node `nodeID` named in the handshake.
    func received(type: UInt8, payload: [UInt8], from nodeID: String)

    /// A request that expects one response. `respond` may be called once, from any thread, now or later; further
    /// calls are ignored, and a response that arrives after the connection closed is dropped (counted). If
    /// `respond` is released without being called, the caller eventually sees its call time out.
    func handleCall(type: UInt8, payload: [UInt8], from nodeID: String, respond: @escaping @Sendable ([UInt8]) -> Void)
}

import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Node-to-node TCP for Raftlite: one listener per node on `-raft-addr`, one-way pipelined messages per peer
/// (Raft traffic), and request/response calls over pooled connections (cluster RPCs). It carries opaque bytes:
/// a `type` byte and a payload. See `DESIGN.md` in this directory for the wire format and the threading model.
///
/// Lock discipline (why this class is `@unchecked Sendable`): `lock` guards the registry — `stopped`,
/// `listener`, `listenPort`, `inbound`, `peers`, `callPools`. It is held only to read or update those, never
/// across IO, dials or handler calls. Lock order: `lock` may be held while taking a `Peer`'s or a
/// `CallConnection`'s lock, never the reverse. `counters` is a `Mutex` of its own (a leaf lock). Everything else
/// is immutable after `init`.
///
/// Lifecycle: the transport's threads hold it alive, so a transport that is no longer needed MUST be shut down
/// (`shutdown()`); dropping the last reference does not stop it.
public final class Transport: @unchecked Sendable {
    /// This node's ID, sent in every handshake this transport dials.
    public let nodeID: String
    public let configuration: TransportConfiguration

    let lock = NSLock()
    var stopped = false
    var listener: Socket?
    var listenPort: Int?
    var inbound: [ObjectIdentifier: InboundConnection] = [:]
    var peers: [String: Peer] = [:]
    var callPools: [String: CallPool] = [:]

    let counters = Mutex(TransportStats())
    let threads = ThreadGroup()
    /// Read end of the wake pipe. Every blocking wait polls it too; `shutdown()` makes it readable for good, so
    /// every thread blocked anywhere in the transport wakes at once.
    let wake: Int32
    private let wakeWriter: Int32
    let handshake: [UInt8]
    private let requestIDs = Mutex<UInt64>(0)

    public init(nodeID: String, configuration: TransportConfiguration = TransportConfiguration()) throws(TransportError)
    {
        guard !nodeID.isEmpty, nodeID.utf8.count <= Wire.maxNodeIDLength else { throw .invalidNodeID(nodeID) }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .resourceUnavailable("pipe: \(errnoDescription(errno))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        self.nodeID = nodeID
        var configuration = configuration
        // The length field is a u32; keep every frame (header included) representable.
        configuration.maxFrameSize = min(max(configuration.maxFrameSize, 16), Int(UInt32.max) - Wire.frameHeaderSize)
        self.configuration = configuration
        self.wake = fds[0]
        self.wakeWriter = fds[1]
        self.handshake = Wire.handshake(nodeID: nodeID)
    }

    deinit {
        // Threads, timers and dials hold strong references, so by now none of them can still poll the pipe.
        Glibc.close(wake)
        Glibc.close(wakeWriter)
    }

    /// The port the listener is bound to (useful after listening on port 0); nil before `listen`.
    public var boundPort: Int? {
        lock.withLock { listenPort }
    }

    /// Binds `address` (`host:port`, `[v6]:port`, `:port` for all interfaces; port 0 picks one) and starts
    /// accepting peers, whose messages and calls go to `handler`. Call at most once. Returns the bound port.
    @discardableResult
    public func listen(on address: String, handler: any TransportHandler) throws(TransportError) -> Int {
        let (fd, port) = try listenSocket(address, backlog: 512)
        let socket = Socket(descriptor: fd)
        lock.lock()
        guard !stopped, listener == nil else {
            let wasStopped = stopped
            lock.unlock()
            socket.close()
            throw wasStopped ? .shutdown : .listenFailed(address: address, reason: "already listening")
        }
        listener = socket
        listenPort = port
        lock.unlock()
        threads.spawn("raftlite-transport-accept") { self.acceptLoop(socket, handler: handler) }
        return port
    }

    /// Closes the listener and every connection, fails pending calls with `.shutdown`, drops queued messages,
    /// and waits up to `configuration.shutdownTimeout` for the transport's threads. Returns whether they all
    /// finished (a handler that does not return is the only thing that can stop them). Idempotent. MUST NOT be
    /// called from a handler or a call completion: it would wait for the very thread it runs on.
    @discardableResult
    public func shutdown() -> Bool {
        lock.lock()
        if stopped {
            lock.unlock()
            return threads.wait(timeout: configuration.shutdownTimeout)
        }
        stopped = true
        let listener = self.listener
        let inbound = Array(self.inbound.values)
        let peers = Array(self.peers.values)
        let callConnections = callPools.values.flatMap(\.connections)
        lock.unlock()

        var byte: UInt8 = 1
        _ = write(wakeWriter, &byte, 1)
        listener?.shutdown()
        for peer in peers { peer.stop() }
        for connection in inbound { connection.socket.shutdown() }
        for connection in callConnections { connection.socket.shutdown() }
        return threads.wait(timeout: configuration.shutdownTimeout)
    }

    var isStopped: Bool { lock.withLock { stopped } }

    /// A snapshot of all counters, per-peer stats included.
    public func stats() -> TransportStats {
        var stats = counters.withLock { $0 }
        lock.lock()
        let peers = self.peers
        stats.inboundActive = inbound.count
        lock.unlock()
        for (address, peer) in peers { stats.peers[address] = peer.snapshot() }
        return stats
    }

    /// Stats of the one-way peer `address`; nil if nothing was ever sent to it.
    public func peerStats(for address: String) -> PeerStats? {
        let peer = lock.withLock { peers[address] }
        return peer?.snapshot()
    }

    func nextRequestID() -> UInt64 {
        requestIDs.withLock {
            $0 &+= 1
            return $0
        }
    }

    // MARK: Inbound

    private func acceptLoop(_ listener: Socket, handler: any TransportHandler) {
        defer { listener.close() }
        guard let fd = listener.pin() else { return }
        defer { listener.unpin() }
        while true {
            do {
                _ = try waitFor(fd, events: Int32(POLLIN), wake: wake, timeout: nil)
                while let connection = try acceptConnection(fd) { admit(connection, handler: handler) }
            } catch .io(let code) where code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                // Out of descriptors or memory: back off instead of spinning; the backlog keeps the peers waiting.
                do { _ = try waitFor(wake, events: 0, wake: wake, timeout: 0.1) } catch { return }
            } catch {
                return
            }
        }
    }

    private func admit(_ fd: Int32, handler: any TransportHandler) {
        lock.lock()
        guard !stopped, inbound.count < configuration.maxInboundConnections else {
            let overLimit = !stopped
            lock.unlock()
            if overLimit { counters.withLock { $0.inboundOverLimit += 1 } }
            Glibc.close(fd)
            return
        }
        let connection = InboundConnection(socket: Socket(descriptor: fd))
        inbound[ObjectIdentifier(connection)] = connection
        lock.unlock()
        counters.withLock { $0.inboundAccepted += 1 }
        threads.spawn("raftlite-transport-in") { self.serveInbound(connection, handler: handler) }
    }

    /// The reader thread of one inbound connection: handshake, then frames until error, EOF or shutdown.
    private func serveInbound(_ connection: InboundConnection, handler: any TransportHandler) {
        defer {
            connection.socket.close()
            _ = lock.withLock { inbound.removeValue(forKey: ObjectIdentifier(connection)) }
        }
        guard let fd = connection.socket.pin() else { return }
        defer { connection.socket.unpin() }
        var reader = FrameReader(
            fd: fd, wake: wake, readTimeout: configuration.readTimeout, maxFrameSize: configuration.maxFrameSize,
            countBytes: { n in self.counters.withLock { $0.bytesReceived += UInt64(n) } })
        let nodeID: String
        do {
            nodeID = try reader.readHandshake(timeout: configuration.handshakeTimeout)
        } catch {
            if case .shutdown = error { return }
            counters.withLock { $0.handshakesRejected += 1 }
            return
        }
        let accepted: Set<FrameKind> = [.message, .request, .ping]
        while true {
            let frame: Frame
            do {
                frame = try reader.readFrame(accepting: accepted, keepWaitingWhenIdle: { connection.awaitingResponses })
            } catch {
                record(error)
                return
            }
            switch frame.kind {
            case .message:
                counters.withLock { $0.messagesReceived += 1 }
                handler.received(type: frame.type, payload: frame.payload, from: nodeID)
            case .request:
                counters.withLock { $0.callsReceived += 1 }
                let responder = Responder(transport: self, connection: connection, id: frame.id)
                handler.handleCall(type: frame.type, payload: frame.payload, from: nodeID) { responder.respond($0) }
            case .ping, .response, .errorResponse:
                break
            }
        }
    }

    private func record(_ error: FrameError) {
        counters.withLock { stats in
            switch error {
            case .oversized: stats.oversizedFrames += 1
            case .badChecksum: stats.checksumErrors += 1
            case .malformed: stats.malformedFrames += 1
            case .truncated: stats.truncatedFrames += 1
            case .timeout: stats.readTimeouts += 1
            case .closed, .shutdown, .io, .badHandshake: break
            }
        }
    }

    /// Writes the response to call `id` on `connection`; any thread.
    func writeResponse(_ payload: [UInt8], id: UInt64, on connection: InboundConnection) {
        var frame: [UInt8] = []
        if payload.count + FrameKind.response.prefixLength > configuration.maxFrameSize {
            let message = "response of \(payload.count) bytes exceeds the frame limit of \(configuration.maxFrameSize)"
            Wire.appendFrame(kind: .errorResponse, id: id, payload: Array(message.utf8), to: &frame)
        } else {
            frame.reserveCapacity(Wire.frameHeaderSize + 8 + payload.count)
            Wire.appendFrame(kind: .response, id: id, payload: payload, to: &frame)
        }
        do {
            try connection.write(frame, wake: wake, timeout: configuration.writeTimeout)
        } catch {
            counters.withLock { $0.responsesDropped += 1 }
            // The reader thread owns the close; shutting down wakes it.
            connection.socket.shutdown()
        }
    }
}

/// One accepted connection. Lock discipline: `writeLock` serialises whole frames written by responders (any
/// thread); `lock` guards `outstanding`. The reader thread owns closing the socket.
final class InboundConnection: @unchecked Sendable {
    let socket: Socket
    private let writeLock = NSLock()
    private let lock = NSLock()
    private var outstanding = 0

    init(socket: Socket) { self.socket = socket }

    /// Calls received here whose `respond` has neither been called nor released. While there are any, an idle
    /// connection is not closed by the read deadline: the dialer is waiting for us, not the other way round.
    var awaitingResponses: Bool { lock.withLock { outstanding > 0 } }

    func beginCall() { lock.withLock { outstanding += 1 } }
    func endCall() { lock.withLock { outstanding -= 1 } }

    func write(_ frame: [UInt8], wake: Int32, timeout: Double) throws(SocketFailure) {
        writeLock.lock()
        defer { writeLock.unlock() }
        try socket.withDescriptor { fd throws(SocketFailure) in try sendAll(fd, frame, wake: wake, timeout: timeout) }
    }
}

/// The `respond` closure handed to `TransportHandler.handleCall`: answers once, and releases the connection's
/// "awaiting response" mark when answered or when released unanswered. Lock discipline: `lock` guards `done`.
final class Responder: @unchecked Sendable {
    private weak var transport: Transport?
    private let connection: InboundConnection
    private let id: UInt64
    private let lock = NSLock()
    private var done = false

    init(transport: Transport, connection: InboundConnection, id: UInt64) {
        self.transport = transport
        self.connection = connection
        self.id = id
        connection.beginCall()
    }

    deinit { if !done { connection.endCall() } }

    func respond(_ payload: [UInt8]) {
        let first = lock.withLock {
            defer { done = true }
            return !done
        }
        guard first else { return }
        connection.endCall()
        transport?.writeResponse(payload, id: id, on: connection)
    }
}

/// Tracks the transport's threads so `shutdown()` can wait for them with a bound.
final class ThreadGroup: @unchecked Sendable {
    // DispatchGroup is thread-safe; this wrapper adds no state of its own.
    private let group = DispatchGroup()

    func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let group = self.group
        group.enter()
        let thread = Thread {
            body()
            group.leave()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    func wait(timeout: Double) -> Bool {
        group.wait(timeout: .now() + timeout) == .success
    }
}

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension Transport {
    /// Queues a one-way message to the node listening at `address` and returns at once. A writer thread per
    /// address dials (with back-off), and writes queued messages in order, batched, without waiting for replies.
    ///
    /// Delivery is best effort, as Raft expects: when the peer's queue is full the OLDEST queued message is
    /// dropped (newer Raft messages supersede older ones), and a batch whose write fails is dropped; both are
    /// counted in `PeerStats.dropped`. Messages that are delivered arrive in the order they were sent.
    ///
    /// Returns false if the message was refused: the payload exceeds `maxFrameSize - 1` bytes (counted as
    /// dropped), or the transport is shut down.
    @discardableResult
    public func send(to address: String, type: UInt8, payload: [UInt8]) -> Bool {
        var spawn = false
        lock.lock()
        guard !stopped else {
            lock.unlock()
            return false
        }
        let peer: Peer
        if let existing = peers[address] {
            peer = existing
        } else {
            peer = Peer(address: address)
            peers[address] = peer
            spawn = true
        }
        lock.unlock()
        if spawn { threads.spawn("raftlite-transport-peer") { self.runWriter(for: peer) } }
        guard payload.count + FrameKind.message.prefixLength <= configuration.maxFrameSize else {
            peer.recordRefused(size: payload.count, limit: configuration.maxFrameSize)
            return false
        }
        peer.enqueue(
            Outgoing(type: type, payload: payload), capacity: max(1, configuration.peerQueueCapacity),
            maxBytes: configuration.peerQueueMaxBytes)
        return true
    }

    /// Stops the writer for `address`, closes its connection and discards its queue (e.g. the node was removed
    /// from the cluster). A later `send` to the address starts afresh.
    public func removePeer(_ address: String) {
        let peer = lock.withLock { peers.removeValue(forKey: address) }
        peer?.stop()
    }

    /// The writer thread of one peer address. It alone dials, writes and closes the peer's connection.
    func runWriter(for peer: Peer) {
        let config = configuration
        var socket: Socket?
        var fd: Int32 = -1
        var backoff = config.reconnectBackoffMin
        var firstDial = true
        // Back-off resets after a successful write, not after a successful dial: a peer that accepts and at once
        // closes (over its connection limit, rejecting us) must not be redialled in a tight loop.
        var deliveredOnConnection = false
        var lastWrite = 0.0
        var out: [UInt8] = []

        /// Closes the connection; if it failed before delivering anything, also backs off. False if the peer was
        /// stopped during the back-off.
        func disconnect(_ reason: String?) -> Bool {
            guard let current = socket else { return true }
            current.unpin()
            current.close()
            socket = nil
            fd = -1
            peer.detach(reason: reason)
            guard reason != nil, !deliveredOnConnection else { return true }
            defer { backoff = min(backoff * 2, config.reconnectBackoffMax) }
            return peer.waitBackoff(backoff)
        }
        defer { _ = disconnect(nil) }

        while true {
            if socket == nil {
                do throws(TransportError) {
                    let connection = try dialPeerConnection(peer.address)
                    guard peer.attach(connection, reconnect: !firstDial), let pinned = connection.pin() else {
                        connection.close()
                        return
                    }
                    socket = connection
                    fd = pinned
                    deliveredOnConnection = false
                    lastWrite = monotonicNow()
                } catch {
                    if error == .shutdown { return }
                    peer.recordDialFailure(error.description)
                    guard peer.waitBackoff(backoff) else { return }
                    backoff = min(backoff * 2, config.reconnectBackoffMax)
                }
                firstDial = false
                continue
            }

            let work = peer.waitForWork(timeout: min(1, config.pingInterval))
            if work == .stopped { return }
            // The peer never writes on this connection, so anything readable means it closed or reset: reconnect
            // now rather than lose the next batch into a dead socket.
            if peerHasClosed(fd) {
                if !disconnect("connection closed by peer") { return }
                continue
            }
            let batch: [Outgoing]
            if work == .ready {
                batch = peer.takeBatch(maxBytes: 1 << 20)
                out.removeAll(keepingCapacity: out.capacity <= 4 << 20)
                for message in batch {
                    Wire.appendFrame(kind: .message, type: message.type, payload: message.payload, to: &out)
                }
            } else if monotonicNow() - lastWrite >= config.pingInterval {
                batch = []
                out.removeAll(keepingCapacity: true)
                Wire.appendFrame(kind: .ping, payload: [], to: &out)
            } else {
                continue
            }
            do throws(SocketFailure) {
                try sendAll(fd, out, wake: wake, timeout: config.writeTimeout)
                lastWrite = monotonicNow()
                peer.recordSent(batch.count)
                if !deliveredOnConnection {
                    deliveredOnConnection = true
                    backoff = config.reconnectBackoffMin
                }
            } catch {
                if error == .shutdown, isStopped { return }
                peer.recordDropped(batch.count)
                if !disconnect("write: \(error.reason)") { return }
            }
        }
    }

    private func dialPeerConnection(_ address: String) throws(TransportError) -> Socket {
        if isStopped { throw .shutdown }
        let socket = Socket(descriptor: try dialSocket(address, timeout: configuration.connectTimeout, wake: wake))
        do throws(SocketFailure) {
            let (handshake, wake, timeout) = (self.handshake, self.wake, configuration.writeTimeout)
            try socket.withDescriptor { fd throws(SocketFailure) in
                try sendAll(fd, handshake, wake: wake, timeout: timeout)
            }
        } catch {
            socket.close()
            if error == .shutdown { throw .shutdown }
            throw .connectFailed(address: address, reason: "handshake: \(error.reason)")
        }
        return socket
    }
}

struct Outgoing: Sendable {
    var type: UInt8
    var payload: [UInt8]
}

/// The queue, stats and current connection of one one-way peer.
///
/// Lock discipline: `condition` guards every stored property except `address`. The writer thread waits on it for
/// work or during back-off; `send` signals it; `stop()` broadcasts it. No IO happens while it is held.
final class Peer: @unchecked Sendable {
    enum Work { case ready, idle, stopped }

    let address: String
    private let condition = NSCondition()
    private var queue: [Outgoing] = []
    private var head = 0
    private var queuedBytes = 0
    private var stopped = false
    private var socket: Socket?
    private var stats = PeerStats()

    init(address: String) { self.address = address }

    private var queuedCount: Int { queue.count - head }

    func enqueue(_ message: Outgoing, capacity: Int, maxBytes: Int) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        while queuedCount > 0 && (queuedCount >= capacity || queuedBytes + message.payload.count > maxBytes) {
            queuedBytes -= queue[head].payload.count
            queue[head] = Outgoing(type: 0, payload: [])
            head += 1
            stats.dropped += 1
        }
        if head > 1024 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        queue.append(message)
        queuedBytes += message.payload.count
        condition.signal()
    }

    /// Waits up to `timeout` for queued messages.
    func waitForWork(timeout: Double) -> Work {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while queuedCount == 0 && !stopped {
            if !condition.wait(until: deadline) { break }
        }
        if stopped { return .stopped }
        return queuedCount > 0 ? .ready : .idle
    }

    /// Takes queued messages in order, at least one, until about `maxBytes` of payload.
    func takeBatch(maxBytes: Int) -> [Outgoing] {
        condition.lock()
        defer { condition.unlock() }
        var bytes = 0
        var end = head
        while end < queue.count && (end == head || bytes + queue[end].payload.count <= maxBytes) {
            bytes += queue[end].payload.count
            end += 1
        }
        let batch = Array(queue[head..<end])
        if end == queue.count {
            queue.removeAll(keepingCapacity: queue.capacity <= 65536)
            head = 0
        } else {
            for i in head..<end { queue[i] = Outgoing(type: 0, payload: []) }
            head = end
        }
        queuedBytes -= bytes
        return batch
    }

    /// Sleeps for a back-off interval; false if the peer was stopped meanwhile.
    func waitBackoff(_ seconds: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: seconds)
        while !stopped {
            if !condition.wait(until: deadline) { break }
        }
        return !stopped
    }

    func stop() {
        condition.lock()
        stopped = true
        let current = socket
        queue.removeAll()
        head = 0
        queuedBytes = 0
        condition.broadcast()
        condition.unlock()
        current?.shutdown()
    }

    /// Records a new connection; false if the peer was stopped meanwhile.
    func attach(_ connection: Socket, reconnect: Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        socket = connection
        stats.connected = true
        stats.connects += 1
        if reconnect { stats.reconnects += 1 }
        return true
    }

    func detach(reason: String?) {
        condition.lock()
        defer { condition.unlock() }
        socket = nil
        stats.connected = false
        if let reason { stats.lastError = reason }
    }

    func recordDialFailure(_ reason: String) {
        condition.withLock {
            stats.failedDials += 1
            stats.lastError = reason
        }
    }

    func recordSent(_ count: Int) { condition.withLock { stats.sent += UInt64(count) } }
    func recordDropped(_ count: Int) { condition.withLock { stats.dropped += UInt64(count) } }

    func recordRefused(size: Int, limit: Int) {
        condition.withLock {
            stats.dropped += 1
            stats.lastError = TransportError.frameTooLarge(size: size + 1, limit: limit).description
        }
    }

    func snapshot() -> PeerStats {
        condition.withLock {
            var copy = stats
            copy.queued = queuedCount
            copy.queuedBytes = queuedBytes
            return copy
        }
    }
}

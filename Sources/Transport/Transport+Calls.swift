import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension Transport {
    /// Sends a request to the node listening at `address` and completes with its response, an error, or
    /// `.timeout` once `timeout` seconds have passed — exactly once, on an arbitrary thread (possibly a connection's
    /// reader thread, so `completion` MUST NOT block).
    ///
    /// Calls are multiplexed by request id over up to `maxCallConnectionsPerPeer` pooled connections per address.
    /// With `retries > 0` the timeout is shared out: attempt *n* of the remaining *k* gets a 1/*k* share of the
    /// time left. A failed attempt (dial error, connection lost, or its share of time passed) is retried at once,
    /// and the LAST attempt always dials a brand-new connection, so a pool full of dead connections (peer
    /// restarted, or vanished without a FIN) cannot fail every attempt. A retry may re-deliver a request the peer
    /// already received; pass `retries: 0` for requests that must not run twice. An answer from the peer — a
    /// response or an error frame — is never retried.
    public func call(
        address: String, type: UInt8, payload: [UInt8], timeout: Double, retries: Int = 0,
        completion: @escaping @Sendable (Result<[UInt8], TransportError>) -> Void
    ) {
        counters.withLock { $0.callsStarted += 1 }
        let state = CallState(
            address: address, type: type, payload: payload, timeout: timeout, retries: max(0, retries),
            completion: completion)
        guard payload.count + FrameKind.request.prefixLength <= configuration.maxFrameSize else {
            complete(state, .failure(.frameTooLarge(size: payload.count + 9, limit: configuration.maxFrameSize)))
            return
        }
        guard !isStopped else {
            complete(state, .failure(.shutdown))
            return
        }
        // Dialing blocks for up to `connectTimeout`; never do it on the caller's thread.
        DispatchQueue.global().async { self.runAttempt(state) }
    }

    /// `call` for callers that can block: waits for the outcome and returns the response or throws.
    public func callAndWait(
        address: String, type: UInt8, payload: [UInt8], timeout: Double, retries: Int = 0
    ) throws(TransportError) -> [UInt8] {
        let done = DispatchSemaphore(value: 0)
        let outcome = OutcomeBox()
        call(address: address, type: type, payload: payload, timeout: timeout, retries: retries) { result in
            outcome.set(result)
            done.signal()
        }
        done.wait()
        return try outcome.get().get()
    }

    private func runAttempt(_ state: CallState) {
        guard let attempt = state.beginAttempt() else { return }
        if attempt.number > 0 { counters.withLock { $0.callRetries += 1 } }
        let fresh = state.retries > 0 && attempt.number == state.retries
        let connection: CallConnection
        do throws(TransportError) {
            connection = fresh ? try dialCallConnection(state.address) : try acquireCallConnection(state.address)
        } catch {
            attemptFailed(state, error)
            return
        }
        let id = nextRequestID()
        guard connection.register(id, state) else {
            attemptFailed(state, .connectionClosed(address: state.address, reason: "connection closed"))
            return
        }
        let timer = DispatchWorkItem { self.attemptTimedOut(state, connection: connection, id: id) }
        state.setTimer(timer)
        DispatchQueue.global().asyncAfter(
            deadline: .now() + max(0, attempt.deadline - monotonicNow()), execute: timer)
        var frame: [UInt8] = []
        let payload = state.payload
        frame.reserveCapacity(Wire.frameHeaderSize + 9 + payload.count)
        Wire.appendFrame(kind: .request, id: id, type: state.type, payload: payload, to: &frame)
        do throws(SocketFailure) {
            try connection.write(frame, wake: wake, timeout: configuration.writeTimeout)
        } catch {
            // Whoever unregisters the id owns the attempt: us, or the reader thread that saw the connection die.
            if connection.unregister(id) != nil {
                connection.socket.shutdown()
                attemptFailed(state, .connectionClosed(address: state.address, reason: "write: \(error.reason)"))
            }
        }
    }

    private func attemptTimedOut(_ state: CallState, connection: CallConnection, id: UInt64) {
        guard connection.unregister(id) != nil else { return }
        retireIfSurplus(connection)
        if state.hasAttemptsLeft && !isStopped {
            DispatchQueue.global().async { self.runAttempt(state) }
        } else {
            complete(state, .failure(.timeout(address: state.address, seconds: state.timeout)))
        }
    }

    private func attemptFailed(_ state: CallState, _ error: TransportError) {
        state.cancelTimer()
        let retryable: Bool
        switch error {
        case .connectFailed, .connectionClosed: retryable = true
        default: retryable = false
        }
        if retryable && state.hasAttemptsLeft && monotonicNow() < state.deadline && !isStopped {
            DispatchQueue.global().async { self.runAttempt(state) }
        } else {
            complete(state, .failure(isStopped ? .shutdown : error))
        }
    }

    /// Completes the call once; the counters are updated before the completion runs, so they are current for
    /// whoever it wakes.
    private func complete(_ state: CallState, _ result: Result<[UInt8], TransportError>) {
        state.finish(result) {
            counters.withLock { stats in
                switch result {
                case .success: stats.callsSucceeded += 1
                case .failure(let error):
                    stats.callsFailed += 1
                    if case .timeout = error { stats.callsTimedOut += 1 }
                }
            }
        }
    }

    /// A pooled connection to `address`: the least busy one if it is idle or the pool is full, else a new one.
    private func acquireCallConnection(_ address: String) throws(TransportError) -> CallConnection {
        let limit = max(1, configuration.maxCallConnectionsPerPeer)
        lock.lock()
        guard !stopped else {
            lock.unlock()
            throw .shutdown
        }
        var pool = callPools[address] ?? CallPool()
        // Connections idle for longer than the ping interval are retired before the peer's read deadline closes
        // them under a request that is on its way.
        let now = monotonicNow()
        var stale: [CallConnection] = []
        pool.connections.removeAll { connection in
            if connection.retireIfIdle(since: now - configuration.pingInterval) { stale.append(connection) }
            return connection.isDead
        }
        defer { for connection in stale { connection.socket.shutdown() } }
        var best: (connection: CallConnection, inflight: Int)?
        for connection in pool.connections {
            let inflight = connection.inflight
            if best == nil || inflight < best!.inflight { best = (connection, inflight) }
        }
        if let best, best.inflight == 0 || pool.connections.count + pool.dialing >= limit {
            callPools[address] = pool
            lock.unlock()
            return best.connection
        }
        pool.dialing += 1
        callPools[address] = pool
        lock.unlock()
        defer { lock.withLock { callPools[address]?.dialing -= 1 } }
        return try dialCallConnection(address)
    }

    /// Dials a new call connection, adds it to the pool (even beyond the limit: surplus connections are retired
    /// when they go idle) and starts its reader thread.
    private func dialCallConnection(_ address: String) throws(TransportError) -> CallConnection {
        if isStopped { throw .shutdown }
        let socket = Socket(descriptor: try dialSocket(address, timeout: configuration.connectTimeout, wake: wake))
        counters.withLock { $0.callConnectionsDialed += 1 }
        let connection = CallConnection(address: address, socket: socket)
        do throws(SocketFailure) {
            try connection.write(handshake, wake: wake, timeout: configuration.writeTimeout)
        } catch {
            socket.close()
            throw error == .shutdown
                ? .shutdown : .connectFailed(address: address, reason: "handshake: \(error.reason)")
        }
        lock.lock()
        guard !stopped else {
            lock.unlock()
            socket.close()
            throw .shutdown
        }
        callPools[address, default: CallPool()].connections.append(connection)
        lock.unlock()
        threads.spawn("raftlite-transport-call") { self.serveCallConnection(connection) }
        return connection
    }

    /// Closes `connection` if it is idle and its pool holds more than the limit.
    private func retireIfSurplus(_ connection: CallConnection) {
        let limit = max(1, configuration.maxCallConnectionsPerPeer)
        lock.lock()
        var retired = false
        if var pool = callPools[connection.address], pool.connections.count > limit,
            let index = pool.connections.firstIndex(where: { $0 === connection }), connection.retireIfIdle()
        {
            pool.connections.remove(at: index)
            callPools[connection.address] = pool
            retired = true
        }
        lock.unlock()
        if retired { connection.socket.shutdown() }
    }

    /// The reader thread of one call connection: matches responses to pending calls by request id. When the
    /// connection ends, its pending calls fail over to their next attempt (or fail).
    private func serveCallConnection(_ connection: CallConnection) {
        var reason = "connection closed by peer"
        if let fd = connection.socket.pin() {
            // The listener enforces idle deadlines; this side only bounds the wait in the middle of a frame.
            var reader = FrameReader(
                fd: fd, wake: wake, readTimeout: configuration.readTimeout, maxFrameSize: configuration.maxFrameSize,
                countBytes: { _ in })
            do throws(FrameError) {
                while true {
                    let frame = try reader.readFrame(
                        accepting: [.response, .errorResponse], keepWaitingWhenIdle: { true })
                    guard let state = connection.unregister(frame.id) else {
                        counters.withLock { $0.lateResponses += 1 }
                        continue
                    }
                    if frame.kind == .response {
                        complete(state, .success(frame.payload))
                    } else {
                        complete(state, .failure(.remote(String(decoding: frame.payload, as: UTF8.self))))
                    }
                    retireIfSurplus(connection)
                }
            } catch {
                reason = error.reason
            }
            connection.socket.unpin()
        }
        let orphaned = connection.markDead()
        lock.withLock { callPools[connection.address]?.connections.removeAll { $0 === connection } }
        connection.socket.close()
        for state in orphaned {
            attemptFailed(state, .connectionClosed(address: connection.address, reason: reason))
        }
    }
}

struct CallPool {
    var connections: [CallConnection] = []
    /// Dials in progress, counted against the pool limit.
    var dialing = 0
}

/// One outbound connection carrying calls. Lock discipline: `writeLock` serialises whole request frames from
/// attempt threads; `lock` guards `pending` and `dead`. The reader thread owns closing the socket.
final class CallConnection: @unchecked Sendable {
    let address: String
    let socket: Socket
    private let writeLock = NSLock()
    private let lock = NSLock()
    private var pending: [UInt64: CallState] = [:]
    private var dead = false
    /// Monotonic time of the last registration or completion.
    private var lastUsed = monotonicNow()

    init(address: String, socket: Socket) {
        self.address = address
        self.socket = socket
    }

    var inflight: Int { lock.withLock { pending.count } }
    var isDead: Bool { lock.withLock { dead } }

    /// False if the connection has died or been retired.
    func register(_ id: UInt64, _ state: CallState) -> Bool {
        lock.withLock {
            guard !dead else { return false }
            pending[id] = state
            lastUsed = monotonicNow()
            return true
        }
    }

    func unregister(_ id: UInt64) -> CallState? {
        lock.withLock {
            lastUsed = monotonicNow()
            return pending.removeValue(forKey: id)
        }
    }

    /// Marks the connection dead if nothing is pending on it (and it was last used before `since`, if given);
    /// true if it did.
    func retireIfIdle(since: Double = .infinity) -> Bool {
        lock.withLock {
            guard pending.isEmpty, !dead, lastUsed < since else { return false }
            dead = true
            return true
        }
    }

    /// Marks the connection dead and hands back the calls still pending on it.
    func markDead() -> [CallState] {
        lock.withLock {
            dead = true
            defer { pending.removeAll() }
            return Array(pending.values)
        }
    }

    func write(_ frame: [UInt8], wake: Int32, timeout: Double) throws(SocketFailure) {
        writeLock.lock()
        defer { writeLock.unlock() }
        try socket.withDescriptor { fd throws(SocketFailure) in try sendAll(fd, frame, wake: wake, timeout: timeout) }
    }
}

/// One call across its attempts. Lock discipline: `lock` guards `finished`, `attempts` and `timer`; the
/// completion runs outside it, exactly once.
final class CallState: @unchecked Sendable {
    let address: String
    let type: UInt8
    let timeout: Double
    let retries: Int
    let deadline: Double
    /// Released when the call finishes: the attempt's timer holds this state until its deadline, and a
    /// stream of large calls (load chunks, snapshot chunks) must not keep every payload alive that long.
    private var storedPayload: [UInt8]
    private var completion: (@Sendable (Result<[UInt8], TransportError>) -> Void)?
    private let lock = NSLock()
    private var finished = false
    private var attempts = 0
    private var timer: DispatchWorkItem?

    init(
        address: String, type: UInt8, payload: [UInt8], timeout: Double, retries: Int,
        completion: @escaping @Sendable (Result<[UInt8], TransportError>) -> Void
    ) {
        self.address = address
        self.type = type
        self.storedPayload = payload
        self.timeout = timeout
        self.retries = retries
        self.deadline = monotonicNow() + timeout
        self.completion = completion
    }

    /// Starts the next attempt: its number (0-based) and the monotonic time its share of the timeout ends.
    /// Nil when the call has finished or has no attempts left.
    func beginAttempt() -> (number: Int, deadline: Double)? {
        lock.withLock {
            guard !finished, attempts <= retries else { return nil }
            let number = attempts
            attempts += 1
            let now = monotonicNow()
            let share = max(0, deadline - now) / Double(retries + 1 - number)
            return (number, number == retries ? deadline : now + share)
        }
    }

    var hasAttemptsLeft: Bool { lock.withLock { !finished && attempts <= retries } }

    /// The request payload (empty once the call has finished).
    var payload: [UInt8] { lock.withLock { storedPayload } }

    func setTimer(_ item: DispatchWorkItem) {
        let cancelNow = lock.withLock {
            timer?.cancel()
            timer = item
            return finished
        }
        if cancelNow { item.cancel() }
    }

    func cancelTimer() {
        let item = lock.withLock {
            defer { timer = nil }
            return timer
        }
        item?.cancel()
    }

    /// Completes the call unless it already has: runs `first` and then the completion, both only for the first
    /// completion.
    func finish(_ result: Result<[UInt8], TransportError>, first: () -> Void) {
        let item: DispatchWorkItem?
        let completion: (@Sendable (Result<[UInt8], TransportError>) -> Void)?
        do {
            lock.lock()
            defer { lock.unlock() }
            guard !finished else { return }
            finished = true
            item = timer
            timer = nil
            completion = self.completion
            self.completion = nil
            storedPayload = []
        }
        item?.cancel()
        first()
        completion?(result)
    }
}

/// Carries a call's outcome from the completion to `callAndWait`. Lock discipline: `lock` guards `result`.
private final class OutcomeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<[UInt8], TransportError> = .failure(.shutdown)
    func set(_ value: Result<[UInt8], TransportError>) { lock.withLock { result = value } }
    func get() -> Result<[UInt8], TransportError> { lock.withLock { result } }
}

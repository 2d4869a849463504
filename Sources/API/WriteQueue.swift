import Dispatch
import SQLiteDB
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Queued writes (REFERENCE §4): requests are accepted at once with a sequence number, gathered into
/// batches of `batchSize` requests or whatever arrived within `timeout` of a batch's first request, and each
/// batch is written as ONE execute request, batches one at a time in arrival order. A batch holds the requests
/// of one client identity and carries its credentials to the leader. A failed batch is retried every
/// `retryInterval` until it is written or the queue is shut down; a batch whose credentials the leader
/// refuses is dropped (retrying cannot help).
///
/// Nothing here ever blocks the caller: when `capacity` requests are waiting, a new request is held (its
/// HTTP response not sent yet) until there is room, which is how "writers block when full" looks from the
/// client without parking a server thread.
final class WriteQueue: Sendable {
    struct Settings: Sendable {
        var capacity: Int
        var batchSize: Int
        var timeout: Double
        var transaction: Bool
        var retryInterval: Double
        var drainTimeout: Double
    }

    /// A queued request.
    struct Item: Sendable {
        var sequence: Int64
        var statements: [Statement]
        /// The client's credentials: a batch holds requests of one client identity only, and carries them
        /// to the leader when it is forwarded, where they are checked again (REFERENCE §6).
        var credentials: Credentials? = nil
        /// When it entered the queue (monotonic seconds).
        var arrival: Double
        /// Called with its sequence number once the batch holding it is written, given up at shutdown, or
        /// refused by the leader.
        var written: (@Sendable (Int64, Outcome) -> Void)?
    }

    /// What became of a queued request's batch.
    enum Outcome: Sendable, Equatable {
        case written
        /// The queue shut down before the batch could be written.
        case closed
        /// The leader refused the credentials the batch carried.
        case unauthorized
    }

    /// Rejected requests.
    enum Refusal: Error { case closed }

    private struct State {
        var nextSequence: Int64
        var highestWritten: Int64 = 0
        /// Accepted, not yet in a batch being written (at most `capacity`).
        var pending: [Item] = []
        var pendingHead = 0
        /// Waiting for room, with the callback that sends their acceptance.
        var overflow: [(item: Item, accepted: @Sendable () -> Void)] = []
        var overflowHead = 0
        /// A batch is being written (or waits to be retried).
        var busy = false
        /// The deadline of the timer currently armed, if any.
        var timerDeadline: Double?
        var closing = false
        var drainDeadline = Double.infinity

        var pendingCount: Int { pending.count - pendingHead }
        var overflowCount: Int { overflow.count - overflowHead }
    }

    let settings: Settings
    private let database: any DatabaseService
    private let state: Mutex<State>
    private let timers = DispatchQueue(label: "raftlite.write-queue")

    init(settings: Settings, database: any DatabaseService, sequenceStart: Int64) {
        var s = settings
        s.capacity = max(1, s.capacity)
        s.batchSize = max(1, s.batchSize)
        self.settings = s
        self.database = database
        self.state = Mutex(State(nextSequence: sequenceStart))
    }

    /// The highest sequence number whose batch has been written (0 before the first).
    var highestWritten: Int64 { state.withLock { $0.highestWritten } }

    /// Queues `statements`. `accepted` is called with the request's sequence number once it is in the queue
    /// (at once unless the queue is full); `written` later, when its batch has been written.
    func enqueue(
        _ statements: [Statement], credentials: Credentials? = nil, written: (@Sendable (Int64, Outcome) -> Void)?,
        accepted: @escaping @Sendable (Int64) -> Void
    ) throws(Refusal) {
        let now = MonotonicClock.seconds()
        let result: Int64? = try state.withLock { (s: inout State) throws(Refusal) -> Int64? in
            guard !s.closing else { throw .closed }
            s.nextSequence += 1
            let item = Item(
                sequence: s.nextSequence, statements: statements, credentials: credentials, arrival: now, written: written)
            if s.pendingCount < settings.capacity && s.overflowCount == 0 {
                s.pending.append(item)
                return item.sequence
            }
            let seq = item.sequence
            s.overflow.append((item, { accepted(seq) }))
            return nil
        }
        if let result { accepted(result) }
        pump()
    }

    /// Stops accepting requests and writes everything queued, retrying failures until `drainTimeout`;
    /// blocks the calling thread (the daemon's, never a server thread) until then. Requests still queued at
    /// the deadline are answered as not written.
    func shutdown() {
        state.withLock {
            $0.closing = true
            $0.drainDeadline = MonotonicClock.seconds() + settings.drainTimeout
        }
        pump()
        while true {
            let (idle, late) = state.withLock { s in
                (s.pendingCount == 0 && s.overflowCount == 0 && !s.busy, MonotonicClock.seconds() > s.drainDeadline + 1)
            }
            if idle { return }
            if late {
                abandonAll()
                return
            }
            usleep(10_000)
        }
    }

    private func abandonAll() {
        let items: [Item] = state.withLock { s in
            let left = Array(s.pending[s.pendingHead...]) + s.overflow[s.overflowHead...].map(\.item)
            s.pending = []
            s.pendingHead = 0
            s.overflow = []
            s.overflowHead = 0
            return left
        }
        for item in items { item.written?(item.sequence, .closed) }
    }

    /// Starts writing the next batch if one is due and none is in flight; otherwise arms the timer for the
    /// current batch's deadline.
    private func pump() {
        let now = MonotonicClock.seconds()
        enum Action {
            case none
            case write([Item])
            case arm(Double)
        }
        var admitted: [@Sendable () -> Void] = []
        let action: Action = state.withLock { s in
            guard !s.busy, s.pendingCount > 0 else { return .none }
            let first = s.pending[s.pendingHead]
            let deadline = first.arrival + settings.timeout
            if s.pendingCount >= settings.batchSize || now >= deadline || s.closing {
                var end = min(s.pendingHead + settings.batchSize, s.pending.count)
                // One client identity per batch: its credentials travel with the batch.
                if let split = s.pending[s.pendingHead..<end].firstIndex(where: { $0.credentials != first.credentials }) {
                    end = split
                }
                let batch = Array(s.pending[s.pendingHead..<end])
                s.pendingHead = end
                if s.pendingHead > 1024 && s.pendingHead * 2 > s.pending.count {
                    s.pending.removeFirst(s.pendingHead)
                    s.pendingHead = 0
                }
                // Room freed: admit waiting requests in order.
                while s.overflowCount > 0 && s.pendingCount < settings.capacity {
                    let o = s.overflow[s.overflowHead]
                    s.overflowHead += 1
                    s.pending.append(o.item)
                    admitted.append(o.accepted)
                }
                if s.overflowHead > 1024 && s.overflowHead * 2 > s.overflow.count {
                    s.overflow.removeFirst(s.overflowHead)
                    s.overflowHead = 0
                }
                s.busy = true
                return .write(batch)
            }
            if let armed = s.timerDeadline, armed <= deadline { return .none }
            s.timerDeadline = deadline
            return .arm(deadline)
        }
        for a in admitted { a() }
        switch action {
        case .none: break
        case .write(let batch): write(batch)
        case .arm(let deadline):
            timers.asyncAfter(deadline: .now() + max(0, deadline - now)) { [self] in
                state.withLock { if $0.timerDeadline == deadline { $0.timerDeadline = nil } }
                pump()
            }
        }
    }

    private func write(_ batch: [Item]) {
        var statements: [Statement] = []
        for item in batch { statements.append(contentsOf: item.statements) }
        if statements.isEmpty {
            finish(batch, .written)
            return
        }
        // Forwarded to the leader when needed, with the credentials of the batch's client.
        var request = ExecuteRequest(statements: statements, transaction: settings.transaction)
        request.credentials = batch.first?.credentials
        attempt(request, batch)
    }

    private func attempt(_ request: ExecuteRequest, _ batch: [Item]) {
        database.execute(request) { [self] result in
            switch result {
            case .success:
                // Per-statement SQL errors count as written; they are never reported.
                finish(batch, .written)
            case .failure(.unauthorized):
                // The leader refused the batch's credentials: retrying cannot help, and would hold every
                // later batch behind this one. Its requests are answered as not written.
                finish(batch, .unauthorized)
            case .failure:
                let giveUp = state.withLock { $0.closing && MonotonicClock.seconds() >= $0.drainDeadline }
                if giveUp {
                    finish(batch, .closed)
                    return
                }
                timers.asyncAfter(deadline: .now() + settings.retryInterval) { [self] in
                    attempt(request, batch)
                }
            }
        }
    }

    private func finish(_ batch: [Item], _ outcome: Outcome) {
        state.withLock { s in
            s.busy = false
            if outcome == .written, let last = batch.last?.sequence, last > s.highestWritten { s.highestWritten = last }
        }
        for item in batch { item.written?(item.sequence, outcome) }
        // Asynchronously: a node that completes at once must not grow the stack batch after batch.
        timers.async { [self] in pump() }
    }
}

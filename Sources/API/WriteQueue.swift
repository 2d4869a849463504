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
/// batch is written as ONE execute request, batches one at a time in arrival order. A failed batch is retried
/// every `retryInterval` until it is written or the queue is shut down.
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
        /// When it entered the queue (monotonic seconds).
        var arrival: Double
        /// Called with its sequence number once the batch holding it is written (true), or given up at
        /// shutdown (false).
        var written: (@Sendable (Int64, Bool) -> Void)?
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
        _ statements: [Statement], written: (@Sendable (Int64, Bool) -> Void)?, accepted: @escaping @Sendable (Int64) -> Void
    ) throws(Refusal) {
        let now = MonotonicClock.seconds()
        let result: Int64? = try state.withLock { (s: inout State) throws(Refusal) -> Int64? in
            guard !s.closing else { throw .closed }
            s.nextSequence += 1
            let item = Item(sequence: s.nextSequence, statements: statements, arrival: now, written: written)
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
        for item in items { item.written?(item.sequence, false) }
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
                let end = min(s.pendingHead + settings.batchSize, s.pending.count)
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
            finish(batch, written: true)
            return
        }
        // Written with no client credentials, as rqlite does; forwarded to the leader when needed.
        let request = ExecuteRequest(statements: statements, transaction: settings.transaction)
        attempt(request, batch)
    }

    private func attempt(_ request: ExecuteRequest, _ batch: [Item]) {
        database.execute(request) { [self] result in
            switch result {
            case .success:
                // Per-statement SQL errors count as written; they are never reported.
                finish(batch, written: true)
            case .failure:
                let giveUp = state.withLock { $0.closing && MonotonicClock.seconds() >= $0.drainDeadline }
                if giveUp {
                    finish(batch, written: false)
                    return
                }
                timers.asyncAfter(deadline: .now() + settings.retryInterval) { [self] in
                    attempt(request, batch)
                }
            }
        }
    }

    private func finish(_ batch: [Item], written: Bool) {
        state.withLock { s in
            s.busy = false
            if written, let last = batch.last?.sequence, last > s.highestWritten { s.highestWritten = last }
        }
        for item in batch { item.written?(item.sequence, written) }
        // Asynchronously: a node that completes at once must not grow the stack batch after batch.
        timers.async { [self] in pump() }
    }
}

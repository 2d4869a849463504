import Foundation

/// A multi-producer queue that a dedicated thread drains in batches.
///
/// Producers (HTTP threads) never block: `push` takes a short lock. The consumer blocks in `take` until at
/// least one job is queued, then takes every queued job at once, so a burst of requests is handled as one
/// batch (the seed of group commit).
final class JobQueue<Job>: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var closed = false

    /// Queues a job; returns false (and drops it) once the queue is closed.
    @discardableResult
    func push(_ job: Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Blocks until jobs are queued or the queue is closed; returns all queued jobs, or nil when the queue
    /// is closed and empty.
    func takeAll() -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty && !closed { condition.wait() }
        if jobs.isEmpty { return nil }
        let batch = jobs
        jobs.removeAll(keepingCapacity: true)
        return batch
    }

    /// Blocks until a job is queued or the queue is closed; returns one job, or nil when closed and empty.
    func takeOne() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty && !closed { condition.wait() }
        if jobs.isEmpty { return nil }
        return jobs.removeFirst()
    }

    /// Refuses further jobs; consumers drain what is queued, then see nil.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

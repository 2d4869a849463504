import RaftCore

/// Parameters of one simulated run. Every probability is per round (one round = one tick of every node).
public struct SimulationConfig: Sendable {
    /// The seed; the whole run is a function of it and the other fields.
    public var seed: UInt64
    /// Initial voters (3, 5 or 7). One extra server starts outside the cluster, to be added later.
    public var nodes: Int = 5
    /// Rounds with faults; a liveness phase without faults follows.
    public var steps: Int = 200
    /// Rounds allowed, after healing, to elect a leader and commit a proposal.
    public var livenessBound: Int = 300
    /// Rounds within which a proposal to a leader that stays leader MUST commit once faults healed.
    public var commitBound: Int = 100
    public var mutations: Set<Mutation> = []
    /// Record a readable trace of every event.
    public var trace: Bool = false

    public var dropRate = 0.05
    public var duplicateRate = 0.02
    /// Extra delivery delay in rounds, uniformly `0...maxDelay` (on top of one round).
    public var maxDelay = 2
    public var partitionRate = 0.03
    public var crashRate = 0.02
    public var proposeRate = 0.4
    public var readRate = 0.3
    public var membershipRate = 0.02
    public var transferRate = 0.01
    /// Compact the log once this many applied entries follow the snapshot.
    public var snapshotThreshold = 6

    public var electionTicks = 10
    public var heartbeatTicks = 1
    public var maxInflight = 4
    public var maxEntriesPerMessage = 3

    public init(seed: UInt64) { self.seed = seed }
}

/// A broken invariant, with the seed that reproduces it and the trace leading to it.
public struct Violation: Sendable, CustomStringConvertible {
    public var seed: UInt64
    public var round: Int
    public var message: String
    public var trace: [String]

    public var description: String { "seed \(seed), round \(round): \(message)" }
}

/// A small deterministic generator for the simulation's own choices.
struct SimRandom {
    var g: SplitMix64
    init(seed: UInt64) { g = SplitMix64(seed: seed &* 0xD1B5_4A32_D192_ED03 &+ 0x1234_5678) }
    mutating func next() -> UInt64 { g.next() }
    mutating func below(_ n: Int) -> Int { g.below(n) }
    mutating func chance(_ p: Double) -> Bool { Double(g.next() >> 11) * (1.0 / 9_007_199_254_740_992.0) < p }
    mutating func pick<T>(_ xs: [T]) -> T? { xs.isEmpty ? nil : xs[below(xs.count)] }
}

import RaftCore
import RaftSimulation
import Testing

/// The simulator end to end: correct code shows no violation, and each deliberate bug is caught.
@Suite struct SimulationTests {
    @Test(arguments: [3, 5, 7])
    func seedsRunClean(nodes: Int) {
        let found = runSeeds(first: 1, count: nodes == 5 ? 60 : 30) { $0.nodes = nodes }
        for v in found {
            Issue.record("seed \(v.seed) (replay: raftlite-sim --seed \(v.seed) --nodes \(nodes)): \(v.message)")
        }
    }

    /// Seeds (from `raftlite-sim --seeds 2000 --mutate NAME`) at which each mutation is caught; the same
    /// seed runs clean without the mutation, so the violation is the bug's doing.
    static let caught: [(Mutation, UInt64)] = [
        (.voteWithoutLogCheck, 2), (.forgetVotePersist, 53), (.leaderCountsUnpersisted, 611),
        (.commitPreviousTerm, 1572), (.readBeforeTermCommit, 3),
    ]

    @Test(arguments: SimulationTests.caught.map { $0.0.rawValue })
    func mutationIsCaught(_ name: String) {
        let (mutation, seed) = SimulationTests.caught.first { $0.0.rawValue == name }!
        var cfg = SimulationConfig(seed: seed)
        cfg.mutations = [mutation]
        let violation = Simulation(config: cfg).run()
        #expect(violation != nil, "mutation \(name) not caught at seed \(seed)")
        var clean = SimulationConfig(seed: seed)
        clean.trace = true
        let sim = Simulation(config: clean)
        let v = sim.run()
        #expect(v == nil, "seed \(seed) fails without mutation: \(v?.message ?? "")")
        #expect(!sim.trace.isEmpty)
    }

    @Test func everyMutationHasACatchingSeed() {
        #expect(Set(SimulationTests.caught.map { $0.0 }) == Set(Mutation.allCases))
    }

    @Test func traceOfAViolationEndsWithIt() {
        var cfg = SimulationConfig(seed: 2)
        cfg.mutations = [.voteWithoutLogCheck]
        cfg.trace = true
        let v = Simulation(config: cfg).run()
        #expect(v?.trace.last?.contains("VIOLATION") == true)
        #expect(v?.description.hasPrefix("seed 2, round") == true)
    }
}

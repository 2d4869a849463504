// raftlite-sim: runs seeded deterministic simulations of RaftCore clusters and reports violations.
import ArgumentParser
import RaftCore
import RaftSimulation

struct RaftliteSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftlite-sim",
        abstract:
            "Deterministic simulation of Raftlite's Raft core under network faults, crashes and membership changes.",
        discussion: """
            The last line of output is always "N seeds, V violations". Each violation is printed with its seed
            and a trace; replay one with --seed S (the full trace is printed with --trace).
            Soak: raftlite-sim --seeds 100000
            """)

    @Option(help: "Number of seeds to run (consecutive, starting at --seed or 1).")
    var seeds: Int?

    @Option(help: "The (first) seed. Alone, replays that one seed.")
    var seed: UInt64?

    @Option(help: "Initial voters: 3, 5 or 7.")
    var nodes: Int = 5

    @Option(help: "Rounds of faults before the liveness phase.")
    var steps: Int = 200

    @Option(name: .customLong("mutate"), help: "Enable a deliberate bug (see --list-mutations). Repeatable.")
    var mutate: [String] = []

    @Flag(help: "List the deliberate bugs that --mutate can enable.")
    var listMutations = false

    @Flag(help: "Print the full trace of every run (use with --seed).")
    var trace = false

    @Option(help: "Print traces for at most this many violations (the rest get seed and message only).")
    var maxTraces: Int = 10

    @Option(help: "Trace lines shown per violation (0 = all).")
    var traceLines: Int = 60

    mutating func validate() throws {
        guard [3, 5, 7].contains(nodes) else { throw ValidationError("--nodes must be 3, 5 or 7") }
        for m in mutate where Mutation(rawValue: m) == nil {
            throw ValidationError("unknown mutation '\(m)'; see --list-mutations")
        }
        if let s = seeds, s < 0 { throw ValidationError("--seeds must be positive") }
    }

    func run() throws {
        if listMutations {
            for m in Mutation.allCases { print("\(m.rawValue)\t\(m.summary)") }
            return
        }
        let mutations = Set(mutate.compactMap(Mutation.init(rawValue:)))
        let count = seeds ?? (seed == nil ? 100 : 1)
        let first = seed ?? 1
        let configure: (inout SimulationConfig) -> Void = { cfg in
            cfg.nodes = nodes
            cfg.steps = steps
            cfg.mutations = mutations
        }
        var violations = 0
        for s in first..<(first + UInt64(count)) {
            var cfg = SimulationConfig(seed: s)
            configure(&cfg)
            cfg.trace = trace
            let sim = Simulation(config: cfg)
            let v = sim.run()
            if trace {
                for line in sim.trace { print(line) }
            }
            guard let v else { continue }
            violations += 1
            print("VIOLATION seed \(v.seed) round \(v.round): \(v.message)")
            if violations <= maxTraces && !trace {
                // Replay the seed with tracing on to show how it happened.
                var traced = cfg
                traced.trace = true
                let replay = Simulation(config: traced)
                _ = replay.run()
                let lines = replay.trace
                let shown = traceLines == 0 ? lines[...] : lines.suffix(traceLines)
                if shown.count < lines.count {
                    print("  ... (\(lines.count - shown.count) earlier events; replay with --seed \(s) --trace)")
                }
                for line in shown { print("  \(line)") }
            }
        }
        print("\(count) seeds, \(violations) violations")
    }
}

RaftliteSim.main()

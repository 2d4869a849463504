import RaftCore

/// A deterministic simulation of a Raft cluster in one thread on virtual time.
///
/// Each round: faults are injected (partitions, crashes, membership changes, transfers), client
/// proposals and reads are issued, completed fsyncs are acknowledged, due messages are delivered (in a
/// random order), and every live node ticks once. The invariants of the Raft thesis (§3.6.3, Figure 3.2)
/// are checked after every call into a node; the run stops at the first violation.
///
/// Disks are modelled per node: a `.persist` becomes durable only after a random fsync latency, and
/// every action after it waits for that (the shell contract in RaftCore/DESIGN.md). A crash loses the
/// write in flight and everything queued behind it.
public final class Simulation {
    /// The mix of faults a seed runs with; each seed draws one, so a seed range covers all of them.
    public enum Profile: String, CaseIterable, Sendable {
        /// The configured rates as they are.
        case mixed
        /// Frequent crashes with quick restarts (persistence rules: votes, leader self-counting).
        case crashes
        /// Frequent partitions, often isolating the leader (check-quorum, read-index, pre-vote).
        case partitions
        /// Crashes and partitions with one entry per AppendEntries (commit rule, back-off, snapshots).
        case churn
    }

    public let config: SimulationConfig
    var rng: SimRandom
    public internal(set) var round = 0
    public internal(set) var violation: Violation?
    public internal(set) var trace: [String] = []

    // MARK: Nodes
    struct Durable {
        var hardState: HardState
        var snapshot: Snapshot
        var entries: [Entry]
    }
    struct Node {
        let id: NodeID
        var core: RaftNode?
        var durable: Durable
        /// The persists being made durable together (group commit: one fsync for all of them).
        var inFlight: [Persist] = []
        var fsyncAt = 0
        var deferred: [Action] = []
        var restartAt = 0
        var incarnation: UInt64 = 0
        var smIndex: LogIndex = 0
        var smHash: UInt64 = 0
        var lastCommit: LogIndex = 0
        var lastApplied: LogIndex = 0
        var leaderTerm: Term = 0
    }
    var nodes: [Node] = []
    /// Per-seed variations, drawn at start so every seed explores a different corner.
    var entriesPerMessage = 3
    var slowDisk = -1
    /// The fault profile of this seed (see `Profile`), and the rates it yields.
    public internal(set) var profile = Profile.mixed
    var crashRate = 0.0
    var partitionRate = 0.0
    var shortDowntime = 0.5
    var eventCrashRate = 0.0

    // MARK: Network
    struct InFlightMessage {
        var deliverAt: Int
        var message: Message
    }
    var network: [InFlightMessage] = []
    /// `cut[from][to]`: messages from `from` to `to` are dropped.
    var cut: [[Bool]] = []
    var healAt = 0
    var faultsOn = true

    // MARK: Global truth for the checks
    var committedID: [UInt64] = [0]
    var committedTerm: [Term] = [0]
    var chainAt: [UInt64] = [0]
    var chainKnown: [Bool] = [true]
    var maxCommitted: LogIndex = 0
    var leaderOfTerm: [Term: NodeID] = [:]
    var entryRegistry: [UInt64: (id: UInt64, prevTerm: Term)] = [:]
    var readFloor: [UInt64: LogIndex] = [:]
    var nextContext: UInt64 = 1
    var nextPayload: UInt64 = 1
    var proposals: [(index: LogIndex, term: Term, id: UInt64)] = []

    public init(config: SimulationConfig) {
        self.config = config
        self.rng = SimRandom(seed: config.seed)
        let total = config.nodes + 1
        let voters = (1...config.nodes).map { NodeID(UInt64($0)) }
        for i in 1...total {
            let id = NodeID(UInt64(i))
            let conf = i <= config.nodes ? Configuration(voters: voters) : Configuration(voters: [])
            let boot = PersistentState.bootstrap(conf)
            let d = Durable(hardState: boot.hardState, snapshot: boot.snapshot, entries: boot.entries)
            nodes.append(Node(id: id, core: nil, durable: d))
        }
        cut = Array(repeating: Array(repeating: false, count: total + 1), count: total + 1)
        entriesPerMessage = [1, 2, config.maxEntriesPerMessage, 16][rng.below(4)]
        slowDisk = rng.chance(0.5) ? rng.below(config.nodes) : -1
        profile = Profile.allCases[rng.below(Profile.allCases.count)]
        crashRate = config.crashRate
        partitionRate = config.partitionRate
        switch profile {
        case .mixed: break
        case .crashes:
            crashRate = config.crashRate * 4
            partitionRate = config.partitionRate / 3
            shortDowntime = 0.8
            eventCrashRate = 0.004
        case .partitions:
            partitionRate = config.partitionRate * 3
        case .churn:
            crashRate = config.crashRate * 4
            partitionRate = config.partitionRate * 2
            entriesPerMessage = 1
            eventCrashRate = 0.002
        }
        for i in 0..<nodes.count { start(i) }
    }

    // MARK: - Running

    /// Runs the fault phase and the liveness phase; returns the first violation, if any.
    public func run() -> Violation? {
        while round < config.steps && violation == nil { faultRound() }
        if violation == nil { livenessPhase() }
        return violation
    }

    func faultRound() {
        injectFaults()
        clientTraffic()
        advance()
    }

    /// One round of time: fsyncs, deliveries, ticks.
    func advance() {
        if violation != nil { return }
        for i in 0..<nodes.count where nodes[i].core == nil && nodes[i].restartAt <= round { start(i) }
        for i in 0..<nodes.count where nodes[i].core != nil && !nodes[i].inFlight.isEmpty && nodes[i].fsyncAt <= round {
            completeFsync(i)
            if violation != nil { return }
        }
        deliver()
        if violation != nil { return }
        for i in 0..<nodes.count where nodes[i].core != nil {
            let actions = nodes[i].core!.tick()
            afterCall(i, actions, "tick")
            if violation != nil { return }
        }
        round += 1
    }

    func livenessPhase() {
        faultsOn = false
        heal()
        for i in 0..<nodes.count where nodes[i].core == nil { nodes[i].restartAt = round }
        note("--- faults healed: liveness phase ---")
        let deadline = round + config.livenessBound
        var target: (node: Int, term: Term, index: LogIndex, at: Int, allowed: Int)?
        var committedCount = 0
        while violation == nil {
            if round >= deadline {
                if let t = target, round - t.at <= t.allowed { advance(); continue }
                fail(
                    "liveness: \(committedCount) of 3 proposals committed within \(config.livenessBound) rounds after faults healed (leader: \(stableLeader().map { "n\(nodes[$0].id)" } ?? "none"))"
                )
                return
            }
            if let t = target {
                let n = nodes[t.node]
                if let core = n.core, core.role == .leader, core.term == t.term {
                    if core.applied >= t.index && core.log.committed >= t.index {
                        committedCount += 1
                        target = nil
                        if committedCount == 3 { return }
                    } else if round - t.at > t.allowed {
                        fail(
                            "liveness: proposal \(t.term)/\(t.index) on stable leader n\(n.id) not committed within \(t.allowed) rounds"
                        )
                        return
                    }
                } else {
                    target = nil  // leadership moved (e.g. the leader removed itself); propose again
                }
            }
            if target == nil, let l = stableLeader() {
                let payload = nextPayloadBytes()
                if let p = try? nodes[l].core!.propose(payload) {
                    note("n\(nodes[l].id) propose \(Entry.renderPayload(payload)) -> \(p.term)/\(p.index)")
                    proposals.append((p.index, p.term, entryID(Entry(term: p.term, index: p.index, data: payload))))
                    // The bound grows with the backlog ahead of the proposal (flow control limits throughput).
                    let backlog = Int(p.index.rawValue - nodes[l].core!.log.committed.rawValue)
                    target = (l, p.term, p.index, round, config.commitBound + 4 * backlog)
                    afterCall(l, p.actions, "propose")
                }
            }
            advance()
        }
    }

    /// A live leader that has committed an entry of its term.
    func stableLeader() -> Int? {
        var best: Int?
        for i in 0..<nodes.count {
            guard let c = nodes[i].core, c.role == .leader, c.log.term(at: c.log.committed) == c.term else { continue }
            if best == nil || nodes[best!].core!.term < c.term { best = i }
        }
        return best
    }

    /// A random node that believes it is leader (possibly a stale one).
    func anyLeader() -> Int? {
        var leaders: [Int] = []
        for i in 0..<nodes.count where nodes[i].core?.role == .leader { leaders.append(i) }
        return rng.pick(leaders)
    }

    func currentLeader() -> Int? {
        var best: Int?
        for i in 0..<nodes.count {
            guard let c = nodes[i].core, c.role == .leader else { continue }
            if best == nil || nodes[best!].core!.term < c.term { best = i }
        }
        return best
    }

    // MARK: - Faults and clients

    func injectFaults() {
        if round >= healAt { heal() }
        if rng.chance(partitionRate) {
            heal()
            let n = nodes.count
            if let l = currentLeader(), rng.chance(0.4) {
                // Isolate the leader, possibly with one companion, from the majority.
                var side = Array(repeating: false, count: n)
                side[l] = true
                if config.nodes >= 5 && rng.chance(0.5) { side[(l + 1 + rng.below(n - 1)) % n] = true }
                for a in 0..<n { for b in 0..<n where side[a] != side[b] { cut[a + 1][b + 1] = true } }
                note("partition (leader isolated) \(describe(side))")
            } else if rng.chance(0.5) {
                // Symmetric partition into two random groups.
                var side = (0..<n).map { _ in rng.chance(0.5) }
                side[rng.below(n)] = !side[0]
                for a in 0..<n { for b in 0..<n where side[a] != side[b] { cut[a + 1][b + 1] = true } }
                note("partition \(describe(side))")
            } else {
                // One-way: a node cannot send to (or cannot hear from) the others.
                let x = rng.below(n) + 1
                let outbound = rng.chance(0.5)
                for y in 1...n where y != x { if outbound { cut[x][y] = true } else { cut[y][x] = true } }
                note("one-way partition: n\(x) \(outbound ? "cannot send" : "cannot receive")")
            }
            healAt = round + 5 + rng.below(40)
        }
        if rng.chance(crashRate) {
            // Leaders crash more often than others: their crashes are the interesting ones.
            let i = rng.chance(0.5) ? (anyLeader() ?? rng.below(nodes.count)) : rng.below(nodes.count)
            if nodes[i].core != nil { crash(i) }
        }
        if rng.chance(config.membershipRate) { changeMembership() }
        if rng.chance(config.transferRate), let l = currentLeader() {
            let voters = nodes[l].core!.configuration.voters.filter { $0 != nodes[l].id }
            if let t = rng.pick(voters) {
                note("n\(nodes[l].id) transfer leadership to n\(t)")
                let actions = nodes[l].core!.transferLeadership(to: t)
                afterCall(l, actions, "transfer")
            }
        }
    }

    func heal() {
        for a in 0..<cut.count { for b in 0..<cut.count { cut[a][b] = false } }
        healAt = Int.max
    }

    func describe(_ side: [Bool]) -> String {
        let a = (0..<side.count).filter { side[$0] }.map { "n\($0 + 1)" }.joined(separator: ",")
        let b = (0..<side.count).filter { !side[$0] }.map { "n\($0 + 1)" }.joined(separator: ",")
        return "{\(a)} | {\(b)}"
    }

    func changeMembership() {
        guard let l = currentLeader() else { return }
        let c = nodes[l].core!.configuration
        var options: [ConfigChange] = []
        for n in nodes where !c.contains(n.id) { options.append(.addLearner(n.id)) }
        for id in c.learners { options.append(.promote(id)) }
        if c.voters.count > 3 || (c.voters.count == 3 && config.nodes == 3) {
            for id in c.voters { options.append(.remove(id)) }
        }
        for id in c.learners { options.append(.remove(id)) }
        guard let change = rng.pick(options) else { return }
        do {
            let p = try nodes[l].core!.proposeConfigChange(change)
            note("n\(nodes[l].id) propose \(change) -> \(p.term)/\(p.index)")
            afterCall(l, p.actions, "config")
        } catch {
            note("n\(nodes[l].id) propose \(change) rejected: \(error)")
        }
    }

    func clientTraffic() {
        if rng.chance(config.proposeRate) {
            let i = anyLeader() ?? rng.below(nodes.count)
            if nodes[i].core != nil {
                let payload = nextPayloadBytes()
                do {
                    let p = try nodes[i].core!.propose(payload)
                    if config.trace {
                        note("n\(nodes[i].id) propose \(Entry.renderPayload(payload)) -> \(p.term)/\(p.index)")
                    }
                    proposals.append((p.index, p.term, entryID(Entry(term: p.term, index: p.index, data: payload))))
                    afterCall(i, p.actions, "propose")
                } catch {
                    if config.trace { note("n\(nodes[i].id) propose rejected: \(error)") }
                }
            }
        }
        if rng.chance(config.readRate), let i = anyLeader() {
            let ctx = nextContext
            nextContext += 1
            readFloor[ctx] = maxCommitted
            if config.trace { note("n\(nodes[i].id) read-index ctx=\(ctx) (floor \(maxCommitted))") }
            let actions = nodes[i].core!.readIndex(context: ctx)
            afterCall(i, actions, "read")
        }
    }

    func nextPayloadBytes() -> [UInt8] {
        let v = nextPayload
        nextPayload += 1
        return [UInt8(ascii: "v")] + Array(String(v).utf8)
    }

    // MARK: - Node lifecycle

    func options(_ i: Int) -> RaftOptions {
        var o = RaftOptions(id: nodes[i].id, randomSeed: config.seed &* 31 &+ nodes[i].incarnation &* 7919)
        o.electionTicks = config.electionTicks
        o.heartbeatTicks = config.heartbeatTicks
        o.maxInflight = config.maxInflight
        o.maxEntriesPerMessage = entriesPerMessage
        o.mutations = config.mutations
        return o
    }

    func start(_ i: Int) {
        nodes[i].incarnation += 1
        let d = nodes[i].durable
        let state = PersistentState(
            hardState: d.hardState, snapshot: d.snapshot, entries: d.entries,
            applied: d.snapshot.metadata.index)
        nodes[i].core = RaftNode(options: options(i), state: state)
        nodes[i].inFlight = []
        nodes[i].deferred = []
        restoreStateMachine(i, d.snapshot)
        nodes[i].lastCommit = 0  // re-verified against the committed history at the first call
        nodes[i].lastApplied = nodes[i].core!.applied
        nodes[i].leaderTerm = 0
        if nodes[i].incarnation > 1 {
            note("n\(nodes[i].id) restart \(d.hardState) log=\(d.snapshot.metadata.index)+\(d.entries.count)")
        }
    }

    func crash(_ i: Int) {
        note(
            "n\(nodes[i].id) CRASH (loses \(nodes[i].inFlight.isEmpty ? "nothing" : "unsynced write") and \(nodes[i].deferred.count) queued actions)"
        )
        nodes[i].core = nil
        nodes[i].inFlight = []
        nodes[i].deferred = []
        nodes[i].restartAt = round + 1 + (rng.chance(shortDowntime) ? rng.below(3) : rng.below(30))
    }

    // MARK: - Performing actions (the shell contract)

    func afterCall(_ i: Int, _ actions: [Action], _ what: String) {
        check(i, actions)
        if violation != nil { return }
        if config.trace && !actions.isEmpty {
            note("n\(nodes[i].id) \(what): \(nodes[i].core.map(stateLine) ?? "down")")
        }
        perform(i, actions)
        // Crashes also strike between events, right after a node acted (crashes profile).
        if faultsOn && eventCrashRate > 0 && nodes[i].core != nil && rng.chance(eventCrashRate) { crash(i) }
    }

    func stateLine(_ c: RaftNode) -> String {
        "\(c.role.rawValue) t\(c.term) commit=\(c.log.committed) last=\(c.log.lastTerm)/\(c.log.lastIndex)"
    }

    func perform(_ i: Int, _ actions: [Action]) {
        var k = 0
        // Leading replication messages may leave before earlier persists are durable.
        while k < actions.count, case .send(let m) = actions[k], m.mayPrecedePersistence {
            send(m)
            k += 1
        }
        while k < actions.count {
            if nodes[i].core == nil || violation != nil { return }
            if !nodes[i].inFlight.isEmpty {
                nodes[i].deferred.append(contentsOf: actions[k...])
                return
            }
            if case .persist = actions[k] {
                // Group commit: every persist still queued joins this fsync; the other actions keep
                // their order and wait for the whole group.
                var group: [Persist] = []
                var rest: [Action] = []
                for a in actions[k...] {
                    if case .persist(let p) = a { group.append(p) } else { rest.append(a) }
                }
                nodes[i].inFlight = group
                nodes[i].deferred = rest
                let slow = i == slowDisk || rng.chance(0.05)
                nodes[i].fsyncAt = round + (slow ? 2 + rng.below(5) : rng.below(2))
                return
            }
            execute(i, actions[k])
            k += 1
        }
    }

    func execute(_ i: Int, _ a: Action) {
        switch a {
        case .send(let m):
            send(m)
        case .persist:
            preconditionFailure("persists are grouped in perform")
        case .apply(let entries):
            for e in entries {
                applyEntry(i, e)
                if violation != nil { return }
            }
            nodes[i].core!.applied(upTo: entries.last!.index)
            maybeCompact(i)
        case .restoreSnapshot(let s):
            restoreStateMachine(i, s)
        case .readReady(let ctx, let index):
            let floor = readFloor.removeValue(forKey: ctx) ?? 0
            if config.trace { note("n\(nodes[i].id) read ctx=\(ctx) ready at \(index)") }
            if index < floor {
                fail(
                    "linearizability: read ctx=\(ctx) on n\(nodes[i].id) served at index \(index), but \(floor) was already committed when it started"
                )
            }
        case .readFailed(let ctx, _):
            readFloor[ctx] = nil
        }
    }

    func completeFsync(_ i: Int) {
        let group = nodes[i].inFlight
        guard !group.isEmpty else { return }
        nodes[i].inFlight = []
        var d = nodes[i].durable
        var ack: (index: LogIndex, term: Term)?
        for p in group {
            if let s = p.snapshot {
                d.snapshot = s
                d.entries = []
            }
            if let first = p.entries.first {
                let keep = Int(first.index.rawValue) - Int(d.snapshot.metadata.index.rawValue) - 1
                if keep < 0 || keep > d.entries.count {
                    fail(
                        "n\(nodes[i].id) persist at \(first.index) does not fit the durable log (snapshot \(d.snapshot.metadata.index), \(d.entries.count) entries)"
                    )
                    return
                }
                d.entries.removeSubrange(keep...)
                d.entries.append(contentsOf: p.entries)
            }
            if let h = p.hardState { d.hardState = h }
            if let a = p.acknowledgement { ack = a }
        }
        nodes[i].durable = d
        let queued = nodes[i].deferred
        nodes[i].deferred = []
        perform(i, queued)
        if let ack, nodes[i].core != nil, violation == nil {
            let actions = nodes[i].core!.persisted(upTo: ack.index, term: ack.term)
            afterCall(i, actions, "persisted")
        }
    }

    func maybeCompact(_ i: Int) {
        let c = nodes[i].core!
        guard c.applied.rawValue >= c.log.snapshot.index.rawValue + UInt64(config.snapshotThreshold) else { return }
        let data = snapshotData(index: nodes[i].smIndex, hash: nodes[i].smHash)
        let meta = nodes[i].core!.compact(upTo: c.applied, data: data)
        var d = nodes[i].durable
        let drop = min(d.entries.count, Int(meta.index.rawValue) - Int(d.snapshot.metadata.index.rawValue))
        if drop > 0 { d.entries.removeFirst(drop) }
        d.snapshot = Snapshot(metadata: meta, data: data)
        nodes[i].durable = d
        if config.trace { note("n\(nodes[i].id) compact to \(meta.index)") }
    }

    // MARK: - Network

    func send(_ m: Message) {
        guard faultsOn else {
            network.append(InFlightMessage(deliverAt: round + 1 + rng.below(config.maxDelay + 1), message: m))
            return
        }
        if rng.chance(config.dropRate) {
            if config.trace { note("drop \(m)") }
            return
        }
        network.append(InFlightMessage(deliverAt: round + 1 + rng.below(config.maxDelay + 1), message: m))
        if rng.chance(config.duplicateRate) {
            network.append(InFlightMessage(deliverAt: round + 1 + rng.below(config.maxDelay + 2), message: m))
        }
    }

    func deliver() {
        var due: [Message] = []
        var k = 0
        while k < network.count {
            if network[k].deliverAt <= round {
                due.append(network[k].message)
                network.swapAt(k, network.count - 1)
                network.removeLast()
            } else {
                k += 1
            }
        }
        // Reorder: a random permutation of what is due this round.
        if due.count > 1 {
            for a in stride(from: due.count - 1, to: 0, by: -1) { due.swapAt(a, rng.below(a + 1)) }
        }
        for m in due {
            let to = Int(m.to.rawValue) - 1
            guard to >= 0 && to < nodes.count, nodes[to].core != nil else { continue }
            if cut[Int(m.from.rawValue)][Int(m.to.rawValue)] { continue }
            let actions = nodes[to].core!.step(m)
            if config.trace { note("deliver \(m)") }
            afterCall(to, actions, "step")
            if violation != nil { return }
        }
    }
}

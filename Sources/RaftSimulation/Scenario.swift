import RaftCore

/// A small interpreter for readable Raft scenarios (etcd's datadriven style), used by the golden tests.
///
/// Persistence is synchronous unless a node is told to `hold` its writes: then every action after a
/// `.persist` waits until `sync`, exactly as the shell contract demands, so persist-before-send rules can
/// be shown step by step. Messages travel through one FIFO queue.
///
/// Commands (one per line; ids are node numbers):
/// `options checkquorum=false prevote=false`, `bootstrap 1 2 3 [learners=4]`, `add-node 4` (an empty server waiting to join), `campaign 1`,
/// `tick 1 [n]`, `tick-election 1`, `tick-heartbeat 1`, `propose 1 data`, `propose-conf 1 add-learner 4`,
/// `transfer 1 2`, `read-index 1 ctx`, `deliver [drop=2,3]` (one round of the queued messages),
/// `stabilize` (deliver until quiet), `hold 1`, `sync 1`, `crash 1`, `restart 1`, `isolate 1`, `heal`,
/// `compact 1`, `status 1`, `log 1`, `pending`.
public final class ScenarioCluster {
    struct Node {
        var core: RaftNode?
        var durable: PersistentState
        var hold = false
        var held: [Action] = []
        var heldPersists: [Persist] = []
        var applied: [Entry] = []
    }
    var nodes: [UInt64: Node] = [:]
    var queue: [Message] = []
    var isolated: Set<UInt64> = []
    var output: [String] = []
    var options: (NodeID) -> RaftOptions

    public init() {
        options = { id in
            var o = RaftOptions(id: id, randomSeed: 1)
            o.electionTicks = 10
            o.heartbeatTicks = 1
            o.maxInflight = 2
            o.maxEntriesPerMessage = 2
            return o
        }
    }

    /// Runs one command and returns its output.
    public func run(_ line: String) -> String {
        output = []
        let words = line.split(separator: " ").map(String.init)
        guard let cmd = words.first else { return "" }
        let args = Array(words.dropFirst())
        func n(_ k: Int) -> UInt64 { UInt64(args[k])! }
        switch cmd {
        case "bootstrap":
            let voters = args.filter { !$0.hasPrefix("learners=") }.map { NodeID(UInt64($0)!) }
            var learners: [NodeID] = []
            if let l = args.first(where: { $0.hasPrefix("learners=") }) {
                learners = l.dropFirst("learners=".count).split(separator: ",").map { NodeID(UInt64($0)!) }
            }
            for id in voters + learners {
                start(id.rawValue, PersistentState.bootstrap(Configuration(voters: voters, learners: learners)))
            }
        case "options":
            // `options checkquorum=false prevote=false`: applies to servers started afterwards.
            var checkQuorum = true
            var preVote = true
            for a in args {
                if a == "checkquorum=false" { checkQuorum = false }
                if a == "prevote=false" { preVote = false }
            }
            let base = options
            options = { id in
                var o = base(id)
                o.checkQuorum = checkQuorum
                o.preVote = preVote
                return o
            }
        case "add-node":
            start(n(0), PersistentState.bootstrap(Configuration(voters: [])))
        case "campaign":
            call(n(0)) { $0.campaign() }
        case "tick":
            let count = args.count > 1 ? Int(args[1])! : 1
            for _ in 0..<count { call(n(0)) { $0.tick() } }
        case "tick-election":
            // Enough ticks for any randomized timeout to fire; stops at the first role change.
            let start = nodes[n(0)]!.core!.role
            for _ in 0..<20 {
                call(n(0)) { $0.tick() }
                if nodes[n(0)]!.core!.role != start { break }
            }
        case "tick-heartbeat":
            call(n(0)) { $0.tick() }
        case "propose":
            let id = n(0)
            do {
                let p = try nodes[id]!.core!.propose(Array(args[1].utf8))
                output.append("proposed at \(p.term)/\(p.index)")
                perform(id, p.actions)
            } catch { output.append("rejected: \(error)") }
        case "propose-conf":
            let id = n(0)
            let target = NodeID(UInt64(args[2])!)
            let change: ConfigChange
            switch args[1] {
            case "add-voter": change = .addVoter(target)
            case "add-learner": change = .addLearner(target)
            case "promote": change = .promote(target)
            default: change = .remove(target)
            }
            do {
                let p = try nodes[id]!.core!.proposeConfigChange(change)
                output.append("proposed \(change) at \(p.term)/\(p.index)")
                perform(id, p.actions)
            } catch { output.append("rejected: \(error)") }
        case "transfer":
            call(n(0)) { $0.transferLeadership(to: NodeID(UInt64(args[1])!)) }
        case "read-index":
            call(n(0)) { $0.readIndex(context: UInt64(args[1])!) }
        case "deliver":
            var drop: Set<UInt64> = []
            if let d = args.first(where: { $0.hasPrefix("drop=") }) {
                drop = Set(d.dropFirst(5).split(separator: ",").map { UInt64($0)! })
            }
            deliverRound(drop: drop)
        case "stabilize":
            var rounds = 0
            while !queue.isEmpty && rounds < 100 {
                deliverRound(drop: [])
                rounds += 1
            }
        case "hold":
            nodes[n(0)]!.hold = true
        case "sync":
            sync(n(0))
        case "crash":
            nodes[n(0)]!.core = nil
            nodes[n(0)]!.held = []
            nodes[n(0)]!.heldPersists = []
            nodes[n(0)]!.hold = false
            output.append(
                "n\(n(0)) crashed; durable \(nodes[n(0)]!.durable.hardState) last=\(nodes[n(0)]!.durable.entries.last?.index ?? nodes[n(0)]!.durable.snapshot.metadata.index)"
            )
        case "restart":
            let id = n(0)
            start(id, nodes[id]!.durable)
        case "isolate":
            isolated.insert(n(0))
        case "heal":
            isolated = []
        case "compact":
            let id = n(0)
            let applied = nodes[id]!.core!.applied
            let meta = nodes[id]!.core!.compact(upTo: applied, data: Array("state@\(applied)".utf8))
            nodes[id]!.durable.snapshot = Snapshot(metadata: meta, data: Array("state@\(applied)".utf8))
            nodes[id]!.durable.entries.removeAll { $0.index <= meta.index }
            nodes[id]!.durable.applied = meta.index
            output.append("n\(id) compacted to \(meta)")
        case "status":
            output.append(statusLine(n(0)))
            if let c = nodes[n(0)]!.core {
                for f in c.status.followers {
                    output.append(
                        "  n\(f.id): match=\(f.match) next=\(f.next) \(f.state)\(f.isLearner ? " learner" : "")")
                }
            }
        case "log":
            let c = nodes[n(0)]!.core!
            output.append("snapshot \(c.log.snapshot.index)/\(c.log.snapshot.term); entries:")
            for e in c.log.entries { output.append("  \(e)") }
        case "pending":
            for m in queue { output.append(m.description) }
        default:
            output.append("unknown command \(cmd)")
        }
        return output.joined(separator: "\n")
    }

    func statusLine(_ id: UInt64) -> String {
        guard let c = nodes[id]?.core else { return "n\(id): down" }
        let s = c.status
        return
            "n\(id): \(s.role.rawValue) term=\(s.term) leader=\(s.leader.map { "\($0)" } ?? "-") commit=\(s.commit) applied=\(s.applied) last=\(s.lastIndex) \(s.configuration)"
    }

    func start(_ id: UInt64, _ state: PersistentState) {
        let core = RaftNode(options: options(NodeID(id)), state: state)
        var node = nodes[id] ?? Node(core: nil, durable: state)
        node.core = core
        node.durable = state
        node.applied = []
        nodes[id] = node
    }

    func call(_ id: UInt64, _ body: (inout RaftNode) -> [Action]) {
        let before = nodes[id]!.core!.role
        let beforeTerm = nodes[id]!.core!.term
        let actions = body(&nodes[id]!.core!)
        let c = nodes[id]!.core!
        if c.role != before || c.term != beforeTerm {
            output.append("n\(id) became \(c.role.rawValue) at term \(c.term)")
        }
        perform(id, actions)
    }

    func perform(_ id: UInt64, _ actions: [Action]) {
        var k = 0
        while k < actions.count, case .send(let m) = actions[k], m.mayPrecedePersistence {
            send(m)
            k += 1
        }
        while k < actions.count {
            if nodes[id]!.hold && !(nodes[id]!.heldPersists.isEmpty && !isPersist(actions[k])) {
                if case .persist(let p) = actions[k] {
                    nodes[id]!.heldPersists.append(p)
                    output.append("n\(id) persist held: \(p)")
                } else {
                    nodes[id]!.held.append(actions[k])
                }
                k += 1
                continue
            }
            execute(id, actions[k])
            k += 1
        }
    }

    func isPersist(_ a: Action) -> Bool {
        if case .persist = a { return true }
        return false
    }

    func execute(_ id: UInt64, _ a: Action) {
        switch a {
        case .send(let m):
            send(m)
        case .persist(let p):
            write(id, p)
            if let ack = p.acknowledgement {
                let actions = nodes[id]!.core!.persisted(upTo: ack.index, term: ack.term)
                perform(id, actions)
            }
        case .apply(let es):
            nodes[id]!.applied.append(contentsOf: es)
            output.append("n\(id) apply \(es.map { $0.description }.joined(separator: ", "))")
            nodes[id]!.core!.applied(upTo: es.last!.index)
            nodes[id]!.durable.applied = es.last!.index
        case .restoreSnapshot(let s):
            output.append("n\(id) restore snapshot \(s.metadata) data=\(String(decoding: s.data, as: UTF8.self))")
        case .readReady(let ctx, let index):
            output.append("n\(id) read ctx=\(ctx) ready at index \(index)")
        case .readFailed(let ctx, let hint):
            output.append("n\(id) read ctx=\(ctx) failed, leader hint \(hint.map { "\($0)" } ?? "-")")
        }
    }

    func write(_ id: UInt64, _ p: Persist) {
        var d = nodes[id]!.durable
        if let s = p.snapshot {
            d.snapshot = s
            d.entries = []
        }
        if let first = p.entries.first {
            d.entries.removeAll { $0.index >= first.index }
            d.entries.append(contentsOf: p.entries)
        }
        if let h = p.hardState { d.hardState = h }
        nodes[id]!.durable = d
    }

    func sync(_ id: UInt64) {
        nodes[id]!.hold = false
        let persists = nodes[id]!.heldPersists
        let held = nodes[id]!.held
        nodes[id]!.heldPersists = []
        nodes[id]!.held = []
        var ack: (index: LogIndex, term: Term)?
        for p in persists {
            write(id, p)
            if let a = p.acknowledgement { ack = a }
        }
        output.append("n\(id) synced \(persists.count) write(s)")
        for a in held { execute(id, a) }
        if let ack {
            let actions = nodes[id]!.core!.persisted(upTo: ack.index, term: ack.term)
            perform(id, actions)
        }
    }

    func send(_ m: Message) {
        queue.append(m)
    }

    func deliverRound(drop: Set<UInt64>) {
        let round = queue
        queue = []
        for m in round {
            let to = m.to.rawValue
            if drop.contains(to) || isolated.contains(to) || isolated.contains(m.from.rawValue)
                || nodes[to]?.core == nil
            {
                output.append("dropped \(m)")
                continue
            }
            output.append(m.description)
            call(to) { $0.step(m) }
        }
    }
}

/// Runs a datadriven scenario file: blocks of `command` lines, a `----` line, and the expected output
/// ending at a blank line. Returns the file text with the actual outputs (equal to the input when
/// every expectation holds).
public func runScenario(_ text: String) -> String {
    let cluster = ScenarioCluster()
    var out: [String] = []
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var i = 0
    while i < lines.count {
        let line = lines[i]
        if line.isEmpty || line.hasPrefix("#") {
            out.append(line)
            i += 1
            continue
        }
        // A command block: the command, then "----", then the expected output up to a blank line.
        out.append(line)
        i += 1
        guard i < lines.count, lines[i] == "----" else { continue }
        out.append("----")
        i += 1
        while i < lines.count && !lines[i].isEmpty { i += 1 }
        let result = cluster.run(line)
        if !result.isEmpty { out.append(result) }
    }
    return out.joined(separator: "\n")
}

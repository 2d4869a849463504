import RaftCore

// The invariants of the Raft thesis (Figure 3.2), checked after every call into a node.
extension Simulation {
    /// Runs every per-call check on node `i`, given the actions it just returned.
    func check(_ i: Int, _ actions: [Action]) {
        guard let core = nodes[i].core else { return }
        if let bug = core.detectedBugs.first {
            fail("n\(core.id) broke an internal invariant: \(bug)")
            return
        }
        // Log matching (§3.5), checked inductively: an entry with a given index and term always has the
        // same content and the same predecessor term, on every node, forever.
        for a in actions {
            guard case .persist(let p) = a else { continue }
            var prevTerm: Term? = p.entries.first.flatMap { core.log.term(at: $0.index.advanced(by: -1)) }
            for e in p.entries {
                let key = (e.index.rawValue << 24) | e.term.rawValue
                let id = entryID(e)
                if let known = entryRegistry[key] {
                    if known.id != id {
                        fail("log matching: two different entries at \(e.term)/\(e.index) (n\(core.id) has \(e))")
                        return
                    }
                    if let pt = prevTerm, pt != known.prevTerm {
                        fail(
                            "log matching: entry \(e.term)/\(e.index) on n\(core.id) follows term \(pt), elsewhere term \(known.prevTerm)"
                        )
                        return
                    }
                } else if let pt = prevTerm {
                    entryRegistry[key] = (id, pt)
                }
                prevTerm = e.term
            }
        }
        // Election safety (§3.4): at most one leader per term.
        if core.role == .leader && nodes[i].leaderTerm != core.term {
            nodes[i].leaderTerm = core.term
            if let other = leaderOfTerm[core.term], other != core.id {
                fail("election safety: n\(other) and n\(core.id) are both leaders of term \(core.term)")
                return
            }
            leaderOfTerm[core.term] = core.id
            note("n\(core.id) became leader of term \(core.term) (last \(core.log.lastTerm)/\(core.log.lastIndex))")
            // Leader completeness (§3.6.3): every entry committed in an earlier term is in its log.
            var idx = core.log.snapshot.index.advanced(by: 1)
            while idx <= maxCommitted && committedTerm[Int(idx.rawValue)] < core.term {
                let c = Int(idx.rawValue)
                if committedID[c] != 0 {
                    guard idx <= core.log.lastIndex, entryID(core.log.entry(at: idx)) == committedID[c] else {
                        fail(
                            "leader completeness: n\(core.id), leader of term \(core.term), lacks committed entry \(committedTerm[c])/\(idx)"
                        )
                        return
                    }
                }
                idx = idx.advanced(by: 1)
            }
        }
        // Commit index never goes back; committed entries never change (no acknowledged write lost).
        let commit = core.log.committed
        if commit < nodes[i].lastCommit {
            fail("n\(core.id) commit index went back from \(nodes[i].lastCommit) to \(commit)")
            return
        }
        if commit > nodes[i].lastCommit {
            var idx = max(nodes[i].lastCommit, core.log.snapshot.index).advanced(by: 1)
            while idx <= commit {
                let e = core.log.entry(at: idx)
                let id = entryID(e)
                let c = Int(idx.rawValue)
                while committedID.count <= c {
                    committedID.append(0)
                    committedTerm.append(0)
                }
                if committedID[c] == 0 {
                    committedID[c] = id
                    committedTerm[c] = e.term
                } else if committedID[c] != id {
                    fail(
                        "state machine safety: n\(core.id) commits \(e) at \(idx), but \(committedTerm[c])/\(idx) was committed before (an acknowledged write is lost)"
                    )
                    return
                }
                idx = idx.advanced(by: 1)
            }
            nodes[i].lastCommit = commit
            if commit > maxCommitted { maxCommitted = commit }
        }
        if core.applied < nodes[i].lastApplied {
            fail("n\(core.id) applied index went back from \(nodes[i].lastApplied) to \(core.applied)")
            return
        }
        nodes[i].lastApplied = core.applied
    }

    /// Applies one entry to node `i`'s state machine (a running hash), checking state machine safety
    /// (§3.6.3): every node applies the same entry at the same index.
    func applyEntry(_ i: Int, _ e: Entry) {
        let id = nodes[i].id
        guard e.index == nodes[i].smIndex.advanced(by: 1) else {
            fail("n\(id) applies \(e.index) after \(nodes[i].smIndex): applied out of order")
            return
        }
        let c = Int(e.index.rawValue)
        while committedID.count <= c {
            committedID.append(0)
            committedTerm.append(0)
        }
        if committedID[c] != entryID(e) {
            fail("state machine safety: n\(id) applies \(e) at \(e.index), which is not the committed entry there")
            return
        }
        nodes[i].smIndex = e.index
        nodes[i].smHash = mix(nodes[i].smHash, entryID(e))
        recordChain(i)
    }

    func recordChain(_ i: Int) {
        let c = Int(nodes[i].smIndex.rawValue)
        while chainAt.count <= c {
            chainAt.append(0)
            chainKnown.append(false)
        }
        if !chainKnown[c] {
            chainAt[c] = nodes[i].smHash
            chainKnown[c] = true
        } else if chainAt[c] != nodes[i].smHash {
            fail("state machine safety: n\(nodes[i].id) state at index \(c) differs from other nodes")
        }
    }

    func restoreStateMachine(_ i: Int, _ s: Snapshot) {
        let (index, hash) = decodeSnapshot(s.data)
        if index != s.metadata.index {
            fail("n\(nodes[i].id) snapshot data for \(index) labelled \(s.metadata.index)")
            return
        }
        nodes[i].smIndex = index
        nodes[i].smHash = hash
        if config.trace && index > 0 { note("n\(nodes[i].id) restore state machine from snapshot \(s.metadata)") }
        recordChain(i)
    }

    func snapshotData(index: LogIndex, hash: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        for v in [index.rawValue, hash] {
            var x = v
            for _ in 0..<8 {
                out.append(UInt8(truncatingIfNeeded: x))
                x >>= 8
            }
        }
        return out
    }

    func decodeSnapshot(_ data: [UInt8]) -> (LogIndex, UInt64) {
        guard data.count == 16 else { return (0, 0) }
        var a: UInt64 = 0
        var b: UInt64 = 0
        for k in (0..<8).reversed() {
            a = (a << 8) | UInt64(data[k])
            b = (b << 8) | UInt64(data[k + 8])
        }
        return (LogIndex(a), b)
    }

    /// A non-zero identity of an entry: term, kind and payload.
    func entryID(_ e: Entry) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        h = (h ^ e.term.rawValue) &* 0x100_0000_01B3
        h = (h ^ UInt64(e.kind.rawValue)) &* 0x100_0000_01B3
        for b in e.data { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h | 1
    }

    func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var z = a &+ b &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // MARK: Reporting

    func note(_ line: @autoclosure () -> String) {
        guard config.trace else { return }
        trace.append("[\(round)] \(line())")
    }

    func fail(_ message: String) {
        guard violation == nil else { return }
        note("VIOLATION: \(message)")
        violation = Violation(seed: config.seed, round: round, message: message, trace: trace)
    }
}

extension Entry {
    /// Payload bytes as text when printable (for traces).
    public static func renderPayload(_ bytes: [UInt8]) -> String {
        if !bytes.isEmpty && bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        return "\(bytes)"
    }
}

/// Runs `seeds` consecutive seeds starting at `first`; returns every violation found.
public func runSeeds(first: UInt64, count: Int, configure: (inout SimulationConfig) -> Void) -> [Violation] {
    var found: [Violation] = []
    for s in first..<(first + UInt64(count)) {
        var cfg = SimulationConfig(seed: s)
        configure(&cfg)
        if let v = Simulation(config: cfg).run() { found.append(v) }
    }
    return found
}

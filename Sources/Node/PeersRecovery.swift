import Command
import Foundation
import JSON
import Logging
import RaftCore
import SQLiteDB
import Storage

/// Manual cluster recovery from `<data>/raft/peers.json` (REFERENCE §9.8), run at start-up before the
/// Raft core is built:
///
/// 1. validate the file (`[{"id","address","non_voter"?}]`: ids and addresses non-empty, addresses
///    `host:port`, no duplicates, at least one voter);
/// 2. bring the database up to the end of the local log (every entry in it is applied: after an outage
///    nothing else can say which were committed — the same choice as hashicorp/raft's RecoverCluster);
/// 3. record the peers' addresses in the member table and write a NEW snapshot at the last log index
///    whose configuration is exactly the peers;
/// 4. delete the whole log and rename the file to `peers.info`.
///
/// The node then starts from that snapshot like any other, so the database that serves is the recovered
/// one, never a stale file (the fast-restart pitfall of REFERENCE §17.6).
enum PeersRecovery {
    struct Peer {
        var id: String
        var address: String
        var voter: Bool
    }

    static func parse(_ data: [UInt8]) throws -> [Peer] {
        let fail = { (why: String) in NodeError.openFailed("failed to read peers file: \(why)") }
        let document: JSONValue
        do {
            document = try JSONValue.parse(data)
        } catch {
            throw fail("\(error)")
        }
        guard case .array(let items) = document else { throw fail("not a JSON array") }
        var peers: [Peer] = []
        for item in items {
            guard case .string(let id)? = item["id"], !id.isEmpty else { throw fail("a peer has no id") }
            guard case .string(let address)? = item["address"], HostAndPort.isValid(address), !address.contains("://") else {
                throw fail("peer \(id) has no valid host:port address")
            }
            var voter = true
            if let nonVoter = item["non_voter"] {
                guard case .bool(let b) = nonVoter else { throw fail("non_voter of \(id) is not a boolean") }
                voter = !b
            }
            peers.append(Peer(id: id, address: address, voter: voter))
        }
        guard Set(peers.map { $0.id }).count == peers.count else { throw fail("duplicate ids") }
        guard Set(peers.map { $0.address }).count == peers.count else { throw fail("duplicate addresses") }
        guard peers.contains(where: { $0.voter }) else { throw fail("no voters") }
        return peers
    }

    /// Performs the recovery if `raftDir/peers.json` exists. Returns whether it ran.
    @discardableResult
    static func runIfRequested(
        raftDir: String, log: SegmentedLog, stable: StableStore, fsm: StateMachine, snapshots: SnapshotStore, logger: Logger
    ) throws -> Bool {
        let path = raftDir + "/peers.json"
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let peers = try parse(Array(data))
        logger.warning("recovering the cluster configuration from peers.json", metadata: ["peers": "\(peers.map { $0.id })"])

        // 2. Everything in the local log, applied.
        if let latest = snapshots.latest(), fsm.appliedIndex < latest.meta.index.rawValue {
            try fsm.restore(from: snapshots.databasePath(latest.name))
        }
        var lastIndex = max(fsm.appliedIndex, snapshots.latest()?.meta.index.rawValue ?? 0)
        var lastTerm = fsm.appliedTerm
        if !log.isEmpty && log.lastIndex > fsm.appliedIndex {
            let records = try log.entries(from: max(log.firstIndex, fsm.appliedIndex + 1), to: log.lastIndex)
            let entries = records.compactMap { r -> Entry? in
                guard let kind = EntryKind(rawValue: r.kind) else { return nil }
                return Entry(term: Term(r.term), index: LogIndex(r.index), kind: kind, data: r.data)
            }
            _ = try fsm.apply(entries) { _ in false }
        }
        if let last = log.isEmpty ? nil : log.lastIndex, last > lastIndex { lastIndex = last }
        lastTerm = max(lastTerm, log.term(at: lastIndex) ?? 0, snapshots.latest()?.meta.term.rawValue ?? 0)
        if lastIndex == 0 {
            // A node that never had data: its recovered state is the configuration alone, at index 1.
            lastIndex = 1
            lastTerm = max(lastTerm, 1)
        }

        // 3. The peers' addresses, then a snapshot whose configuration is the peers.
        try fsm.replaceMembers(peers.map { Member(id: $0.id, raftAddress: $0.address) }, appliedIndex: lastIndex, appliedTerm: lastTerm)
        let configuration = Configuration(
            voters: peers.filter { $0.voter }.map { NodeIdentity.raftID($0.id) },
            learners: peers.filter { !$0.voter }.map { NodeIdentity.raftID($0.id) })
        let meta = SnapshotMetadata(index: LogIndex(lastIndex), term: Term(lastTerm), configuration: configuration)
        let tmp = try snapshots.beginWrite(meta)
        do {
            try fsm.connection.backup(to: tmp + "/db.sqlite")
            _ = try snapshots.commit(tmp, meta)
        } catch {
            snapshots.abort(tmp)
            throw error
        }
        snapshots.prune(keep: 1)

        // 4. No log left; the term survives, the vote does not.
        try log.removeAll(nextIndex: lastIndex + 1)
        let hard = try stable.load()
        try stable.save(Storage.HardState(term: max(hard.term, lastTerm), vote: "", commit: lastIndex))
        guard rename(path, raftDir + "/peers.info") == 0 else {
            throw NodeError.openFailed("cannot rename peers.json: \(String(cString: strerror(errno)))")
        }
        logger.warning("cluster configuration recovered", metadata: ["raft.index": "\(lastIndex)", "raft.term": "\(lastTerm)"])
        return true
    }
}

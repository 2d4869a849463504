import API
import Command
import Common
import Foundation
import RaftCore
import RaftWire
import Synchronization
import Transport

/// Receives node-to-node traffic: Raft messages go to the worker; calls are the cluster service.
struct ClusterHandler: TransportHandler {
    let node: Node

    func received(type: UInt8, payload: [UInt8], from nodeID: String) {
        guard type == FrameType.raftMessage else { return }
        var reader = ByteReader(payload)
        guard let address = try? reader.string(), HostAndPort.isValid(address),
            let message = try? RaftWire.decode(Array(payload[(payload.count - reader.remaining)...]))
        else {
            node.logger.warning("dropping a malformed Raft message", metadata: ["peer": "\(nodeID)"])
            return
        }
        node.worker?.events.push(.message(message, sender: Member(id: nodeID, raftAddress: address)))
    }

    func handleCall(type: UInt8, payload: [UInt8], from nodeID: String, respond: @escaping @Sendable ([UInt8]) -> Void) {
        switch type {
        case FrameType.getNodeMeta:
            var w = RPCWriter()
            w.string(node.configuration.apiURL)
            w.u64(node.raft.commitIndex)
            w.string(RaftliteVersion.version)
            respond(RPCResponse.ok(w.buffer).encoded)
        case FrameType.join:
            node.update { $0.joinRequests += 1 }
            node.serveJoin(payload, respond: respond)
        case FrameType.notify:
            node.update { $0.notifyRequests += 1 }
            node.serveNotify(payload, respond: respond)
        case FrameType.remove:
            node.update { $0.removeNodeRequests += 1 }
            var r = RPCReader(payload)
            guard let id = try? r.string(), let credentials = try? r.credentials() else {
                return respond(RPCResponse.error("malformed remove request").encoded)
            }
            guard node.permits(credentials, .remove) else { return respond(RPCResponse.unauthorized.encoded) }
            node.removeLocally(id: id) { error in
                respond((error.map { RPCResponse.error($0) } ?? RPCResponse.ok([])).encoded)
            }
        case FrameType.snapshotChunk:
            respond(node.snapshotReceiver.chunk(payload).encoded)
        case FrameType.snapshotInstall:
            let (response, message) = node.snapshotReceiver.install(payload)
            if let message { node.worker?.events.push(.message(message, sender: nil)) }
            respond(response.encoded)
        case FrameType.stepDown:
            var r = RPCReader(payload)
            guard let target = try? r.string(), let credentials = try? r.credentials() else {
                return respond(RPCResponse.error("malformed stepdown request").encoded)
            }
            guard node.permits(credentials, .leaderOps) else { return respond(RPCResponse.unauthorized.encoded) }
            guard node.raft.role == .leader else {
                return respond(RPCResponse.notLeader(leaderRaftAddress: node.raft.leaderAddress ?? "").encoded)
            }
            node.transferLeadership(to: target.isEmpty ? nil : target, wait: true, timeout: 10) { error in
                respond((error.map { RPCResponse.error($0) } ?? RPCResponse.ok([])).encoded)
            }
        case FrameType.forwardExecute, FrameType.forwardQuery, FrameType.forwardRequest:
            node.serveForwarded(payload: payload, respond: respond)
        default:
            respond(RPCResponse.error("unsupported cluster request \(type)").encoded)
        }
    }
}

struct NodeMeta: Sendable {
    var apiURL: String
    var commitIndex: UInt64
    var version: String
}

extension Node {
    /// Asks a node for its API URL, commit index and version (rqlite's GetNodeMeta); nil if unreachable.
    func fetchNodeMeta(_ address: String, timeout: Double, completion: @escaping @Sendable (NodeMeta?) -> Void) {
        transport.call(address: address, type: FrameType.getNodeMeta, payload: [], timeout: timeout, retries: 1) { result in
            guard case .success(let bytes) = result, case .ok(let body)? = try? RPCResponse.decode(bytes) else {
                return completion(nil)
            }
            var r = RPCReader(body)
            guard let url = try? r.string(), let commit = try? r.u64(), let version = try? r.string() else { return completion(nil) }
            completion(NodeMeta(apiURL: url, commitIndex: commit, version: version))
        }
    }

    // MARK: Join (REFERENCE §9.3)

    func serveJoin(_ payload: [UInt8], respond: @escaping @Sendable ([UInt8]) -> Void) {
        var r = RPCReader(payload)
        guard let id = try? r.string(), let address = try? r.string(), let voter = try? r.bool(),
            let credentials = try? r.credentials(), !id.isEmpty, HostAndPort.isValid(address)
        else {
            return respond(RPCResponse.error("malformed join request").encoded)
        }
        // A voter needs `join`; a non-voter `join-read-only` or `join-read-replica` (plain `join` is not
        // enough for a non-voter, as in rqlite).
        let allowed = voter
            ? permits(credentials, .join)
            : permits(credentials, .joinReadOnly) || permits(credentials, .joinReadReplica)
        guard allowed else { return respond(RPCResponse.unauthorized.encoded) }
        let view = raft
        guard view.role == .leader else {
            return respond(RPCResponse.notLeader(leaderRaftAddress: view.leaderAddress ?? "").encoded)
        }
        if view.members.contains(where: { $0.id == id && $0.address == address && $0.voter == voter }) {
            update { $0.ignoredJoins += 1 }
            return respond(RPCResponse.ok([]).encoded)  // already a member: joining is idempotent
        }
        // Same ID on a new address, or a new ID on an old address: remove the old entry first.
        let stale = view.members.filter { ($0.id == id) != ($0.address == address) || ($0.id == id && $0.voter != voter) }
        addMember(Member(id: id, raftAddress: address), voter: voter, removing: stale.map { $0.id }) { [self] error in
            if error == nil {
                update {
                    $0.joins += 1
                    if !stale.isEmpty { $0.removedBeforeJoins += 1 }
                }
            }
            respond((error.map { RPCResponse.error($0) } ?? RPCResponse.ok([])).encoded)
        }
    }

    private func addMember(_ member: Member, voter: Bool, removing: [String], completion: @escaping @Sendable (String?) -> Void) {
        if let first = removing.first {
            return removeLocally(id: first) { [self] error in
                if let error { return completion(error) }
                addMember(member, voter: voter, removing: Array(removing.dropFirst()), completion: completion)
            }
        }
        onWorker(orElse: { completion("store not open") }) { worker in
            worker.book.record(member)
            worker.propose(.setNodeMetadata(id: member.id, raftAddress: member.raftAddress, apiURL: "")) { result in
                if case .failure(let error) = result { return completion(error.text) }
                worker.events.push(
                    .run { w in
                        let id = NodeIdentity.raftID(member.id)
                        w.proposeConfigChange(voter ? .addVoter(id) : .addLearner(id), completion: completion)
                    })
            }
        }
    }

    /// Removes a member through the log (this node must be the leader).
    func removeLocally(id: String, completion: @escaping @Sendable (String?) -> Void) {
        guard raft.role == .leader else { return completion("not leader") }
        // As in rqlite, removing a node that is not a member is accepted and changes nothing.
        guard raft.members.contains(where: { $0.id == id }) else { return completion(nil) }
        onWorker(orElse: { completion("store not open") }) { worker in
            worker.proposeConfigChange(.remove(NodeIdentity.raftID(id)), completion: completion)
        }
    }

    // MARK: Bootstrap-expect (REFERENCE §9.4)

    func serveNotify(_ payload: [UInt8], respond: @escaping @Sendable ([UInt8]) -> Void) {
        var r = RPCReader(payload)
        guard let id = try? r.string(), let address = try? r.string(), let credentials = try? r.credentials(), !id.isEmpty,
            HostAndPort.isValid(address)
        else {
            return respond(RPCResponse.error("malformed notify request").encoded)
        }
        guard permits(credentials, .join) else { return respond(RPCResponse.unauthorized.encoded) }
        respond(RPCResponse.ok([]).encoded)
        guard configuration.bootstrapExpect > 0, raft.leaderID == nil, !(worker?.hasState ?? true) else { return }
        let members = notified.withLock { seen -> [Member]? in
            seen[id] = Member(id: id, raftAddress: address)
            return seen.count >= configuration.bootstrapExpect ? Array(seen.values) : nil
        }
        guard let members else { return }
        onWorker(orElse: {}) { [self] worker in
            guard !worker.hasState else { return }
            do {
                try worker.bootstrap(members)
                logger.info("bootstrapped the cluster", metadata: ["raft.voters": "\(members.map { $0.id }.sorted())"])
            } catch {
                logger.error("bootstrap failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Joins through `-join` addresses, or with `-bootstrap-expect` alternates join rounds and notifies
    /// until a leader exists. Runs on its own thread; a failure to join stops the process, as in rqlite.
    func formCluster() {
        let targets = configuration.joinAddresses
        let me = Member(id: configuration.nodeID, raftAddress: configuration.raftAdvertisedAddress)
        if configuration.bootstrapExpect > 0 {
            let deadline = Date().addingTimeInterval(configuration.bootstrapExpectTimeout)
            while Date() < deadline && status.phase != .shuttingDown {
                if raft.leaderID != nil { break }
                if joinRound(targets, me: me, perRequestTimeout: 1) { break }
                if !configuration.nonVoter {
                    for target in targets {
                        var w = RPCWriter()
                        w.string(me.id)
                        w.string(me.raftAddress)
                        w.credentials(configuration.joinCredentials)
                        _ = try? transport.callAndWait(address: target, type: FrameType.notify, payload: w.buffer, timeout: 5)
                    }
                }
                if waitFor(seconds: 1 + Double.random(in: 0..<0.5), { self.raft.leaderID != nil }) { break }
            }
            if raft.leaderID == nil && status.phase != .shuttingDown {
                logger.critical("bootstrap-expect timed out: no leader after \(configuration.bootstrapExpectTimeout)s")
            }
        } else {
            var joined = false
            for attempt in 0..<max(1, configuration.joinAttempts) where !joined && status.phase != .shuttingDown {
                joined = joinRound(targets, me: me, perRequestTimeout: 5)
                if !joined && attempt + 1 < configuration.joinAttempts {
                    _ = waitFor(seconds: configuration.joinInterval) { self.status.phase == .shuttingDown }
                }
            }
            if !joined && status.phase != .shuttingDown {
                logger.critical("failed to join cluster at \(targets): giving up after \(configuration.joinAttempts) attempts")
                update {
                    $0.phase = .stopped
                    $0.phaseDetail = "failed to join cluster"
                }
                exit(1)
            }
        }
        // A restarted node still replaying its log (`replay` set) is made ready by the replay's watcher.
        update { if $0.phase == .joining || ($0.phase == .waitingForPeers && $0.replay == nil) { $0.phase = .ready } }
    }

    /// One pass over the targets, following "not leader" redirects (at most 10). True once accepted.
    private func joinRound(_ targets: [String], me: Member, perRequestTimeout: Double) -> Bool {
        for target in targets {
            var address = target
            for _ in 0..<10 {
                var w = RPCWriter()
                w.string(me.id)
                w.string(me.raftAddress)
                w.bool(!configuration.nonVoter)
                w.credentials(configuration.joinCredentials)
                guard
                    let bytes = try? transport.callAndWait(
                        address: address, type: FrameType.join, payload: w.buffer, timeout: perRequestTimeout),
                    let response = try? RPCResponse.decode(bytes)
                else { break }
                switch response {
                case .ok:
                    logger.info("joined the cluster", metadata: ["join.via": "\(address)"])
                    return true
                case .notLeader(let leader):
                    guard !leader.isEmpty, leader != address else { break }
                    address = leader
                    continue
                case .error(let message) where message == ServiceError.unauthorizedText:
                    logger.warning(
                        "join attempt failed: unauthorized; check -join-as names a user of the -auth file with the join permission",
                        metadata: ["join.via": "\(address)", "join.as": "\(configuration.joinCredentials?.username ?? "")"])
                case .error(let message):
                    logger.warning("join attempt failed", metadata: ["join.via": "\(address)", "error": "\(message)"])
                }
                break
            }
        }
        return false
    }

    /// Whether a cluster-service call with `credentials` may do what needs `perm`: always without `-auth`,
    /// else by the same rules as the HTTP API (REFERENCE §6).
    func permits(_ sent: SentCredentials, _ perm: AuthStore.Permission) -> Bool {
        guard let auth = configuration.auth else { return true }
        return auth.allows(username: sent.credentials?.username, password: sent.credentials?.password, perm: perm)
    }

    /// Polls `condition` until it holds or `seconds` pass.
    func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition()
    }
}

enum HostAndPort {
    static func isValid(_ address: String) -> Bool {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { return false }
        return (1...65535).contains(port) && colon != address.startIndex
    }
}

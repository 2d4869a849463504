import API
import Common
import Foundation
import RaftCore

extension Node: ClusterAdminService {
    public func removeNode(
        id: String, redirect: Bool, timeout: Double, credentials: Credentials?,
        completion: @escaping @Sendable (Result<String?, ServiceError>) -> Void
    ) {
        let view = raft
        guard status.storeOpen else { return completion(.failure(.message("store not open"))) }
        if view.role == .leader {
            return removeLocally(id: id) { error in completion(error.map { .failure(.message($0)) } ?? .success(nil)) }
        }
        guard let leader = view.leaderAddress else { return completion(.failure(.leaderNotFound)) }
        if redirect {
            return fetchNodeMeta(leader, timeout: min(timeout, 5)) { meta in
                completion(.failure(.notLeader(leaderAPIURL: meta?.apiURL)))
            }
        }
        var w = RPCWriter()
        w.string(id)
        w.credentials(credentials)
        callLeader(leader, type: FrameType.remove, payload: w.buffer, timeout: timeout, completion: completion)
    }

    public func stepDown(
        targetID: String?, wait: Bool, redirect: Bool, timeout: Double, credentials: Credentials?,
        completion: @escaping @Sendable (Result<String?, ServiceError>) -> Void
    ) {
        let view = raft
        guard status.storeOpen else { return completion(.failure(.message("store not open"))) }
        if view.role != .leader {
            // rqlite: without `wait`, a stepdown received by a follower does nothing and succeeds.
            guard wait else { return completion(.success(nil)) }
            guard let leader = view.leaderAddress else { return completion(.failure(.leaderNotFound)) }
            if redirect {
                return fetchNodeMeta(leader, timeout: min(timeout, 5)) { meta in
                    completion(.failure(.notLeader(leaderAPIURL: meta?.apiURL)))
                }
            }
            var w = RPCWriter()
            w.string(targetID ?? "")
            w.credentials(credentials)
            return callLeader(leader, type: FrameType.stepDown, payload: w.buffer, timeout: timeout, completion: completion)
        }
        transferLeadership(to: targetID, wait: wait, timeout: timeout) { error in
            completion(error.map { .failure(.message($0)) } ?? .success(nil))
        }
    }

    public func snapshot(trailingLogs: Int?, completion: @escaping @Sendable (Result<SnapshotOutcome, ServiceError>) -> Void) {
        guard status.storeOpen else { return completion(.failure(.message("store not open"))) }
        onWorker(orElse: { completion(.failure(.message("store not open"))) }) { worker in
            if let trailingLogs, trailingLogs > 0 { worker.trailingLogsOverride = UInt64(trailingLogs) }
            worker.maybeSnapshot(force: true, completion: completion)
        }
    }

    public func reap(
        completion: @escaping @Sendable (Result<(snapshotsReaped: Int, walsCheckpointed: Int), ServiceError>) -> Void
    ) {
        guard let worker else { return completion(.failure(.message("store not open"))) }
        let before = worker.snapshots.list().count
        worker.snapshots.prune(keep: 1)
        let after = worker.snapshots.list().count
        completion(.success((snapshotsReaped: max(0, before - after), walsCheckpointed: 0)))
    }

    /// Hands leadership to `targetID` (or the most up-to-date voter); with `wait`, completes once another
    /// node leads. Messages match rqlite's.
    func transferLeadership(to targetID: String?, wait: Bool, timeout: Double, completion: @escaping @Sendable (String?) -> Void) {
        let view = raft
        let target: String
        if let targetID, !targetID.isEmpty {
            guard view.members.contains(where: { $0.id == targetID && $0.voter }) else {
                return completion("stepdown: node not found in cluster")
            }
            guard targetID != configuration.nodeID else { return completion("stepdown: cannot step down to the current Leader") }
            target = targetID
        } else {
            let candidates = view.followers.filter { f in view.members.contains { $0.id == f.id && $0.voter } }
            guard let best = candidates.max(by: { $0.match < $1.match }) else {
                return completion("stepdown: no other voter to transfer leadership to")
            }
            target = best.id
        }
        onWorker(orElse: { completion("store not open") }) { worker in
            worker.transferLeadership(to: NodeIdentity.raftID(target))
        }
        guard wait else { return completion(nil) }
        DispatchQueue.global().async { [self] in
            let moved = waitFor(seconds: timeout) { self.raft.role != .leader && self.raft.leaderID != nil }
            completion(moved ? nil : "stepdown: leadership transfer did not complete within \(GoDuration.format(seconds: timeout))")
        }
    }

    /// Sends an admin call to the leader and maps its answer.
    func callLeader(
        _ leader: String, type: UInt8, payload: [UInt8], timeout: Double,
        completion: @escaping @Sendable (Result<String?, ServiceError>) -> Void
    ) {
        transport.call(address: leader, type: type, payload: payload, timeout: timeout, retries: 0) { result in
            switch result {
            case .failure(let error): completion(.failure(.message("failed to reach leader \(leader): \(error)")))
            case .success(let bytes):
                switch try? RPCResponse.decode(bytes) {
                case .ok?: completion(.success(leader))
                case .error(let message)?: completion(.failure(.message(message)))
                case .notLeader?: completion(.failure(.leaderNotFound))
                case nil: completion(.failure(.message("malformed response from leader")))
                }
            }
        }
    }

    /// Graceful leave: hand over leadership first (`-raft-shutdown-stepdown`), and optionally ask the
    /// leader to remove this node (`-raft-cluster-remove-shutdown`). Bounded; failures are logged.
    func leaveGracefully() {
        let view = raft
        if configuration.removeOnShutdown && view.members.count > 1 {
            for attempt in 0..<5 {
                let done = DispatchSemaphore(value: 0)
                let ok = Shared(false)
                removeNode(id: configuration.nodeID, redirect: false, timeout: 5, credentials: configuration.joinCredentials) { result in
                    if case .success = result { ok.set(true) }
                    done.signal()
                }
                done.wait()
                if ok.value { break }
                logger.warning("self-removal attempt \(attempt + 1) failed")
                Thread.sleep(forTimeInterval: 0.25)
            }
        } else if configuration.stepDownOnShutdown && view.role == .leader && view.members.filter({ $0.voter }).count > 1 {
            let done = DispatchSemaphore(value: 0)
            transferLeadership(to: nil, wait: true, timeout: 5) { error in
                if let error { self.logger.warning("leadership transfer before shutdown failed: \(error)") }
                done.signal()
            }
            done.wait()
        }
    }
}

// Cluster membership (thesis §4): voters and non-voting learners, changed one server at a time.

/// The membership of the cluster: the voters, whose majority decides elections and commitment, and the
/// learners (non-voters, thesis §4.2.1), who receive the log but are never counted.
///
/// Both lists are kept sorted and disjoint, so iteration is deterministic (a `Set` would iterate in a
/// per-process random order and make simulations irreproducible).
public struct Configuration: Hashable, Sendable, CustomStringConvertible {
    public private(set) var voters: [NodeID]
    public private(set) var learners: [NodeID]

    /// Creates a configuration. A node MUST NOT be both a voter and a learner.
    public init(voters: [NodeID], learners: [NodeID] = []) {
        self.voters = Array(Set(voters)).sorted()
        self.learners = Array(Set(learners)).sorted()
        precondition(Set(self.voters).isDisjoint(with: self.learners), "a node is both voter and learner")
    }

    /// Whether `id` is a voter.
    @inlinable public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) }
    /// Whether `id` is a learner.
    @inlinable public func isLearner(_ id: NodeID) -> Bool { learners.contains(id) }
    /// Whether `id` is a member at all (voter or learner).
    @inlinable public func contains(_ id: NodeID) -> Bool { isVoter(id) || isLearner(id) }
    /// Every member, voters first, each list sorted.
    public var members: [NodeID] { voters + learners }

    /// Whether `change` can be applied to this configuration (it changes exactly one server, thesis §4.1).
    public func validates(_ change: ConfigChange) -> Bool {
        switch change {
        case .addVoter(let id): return !isVoter(id)
        case .addLearner(let id): return !contains(id)
        case .promote(let id): return isLearner(id)
        case .remove(let id): return contains(id) && !(voters == [id])
        }
    }

    /// The configuration after `change`. An invalid change (see `validates`) is ignored, so every node
    /// that appends the same entry computes the same configuration.
    public func applying(_ change: ConfigChange) -> Configuration {
        guard validates(change) else { return self }
        var v = voters
        var l = learners
        switch change {
        case .addVoter(let id):
            l.removeAll { $0 == id }
            v.append(id)
        case .addLearner(let id):
            l.append(id)
        case .promote(let id):
            l.removeAll { $0 == id }
            v.append(id)
        case .remove(let id):
            v.removeAll { $0 == id }
            l.removeAll { $0 == id }
        }
        return Configuration(voters: v, learners: l)
    }

    public var description: String {
        let v = voters.map { String($0.rawValue) }.joined(separator: ",")
        if learners.isEmpty { return "voters=(\(v))" }
        let l = learners.map { String($0.rawValue) }.joined(separator: ",")
        return "voters=(\(v)) learners=(\(l))"
    }
}

/// A single-server membership change (thesis §4.1, §4.2.1). It is carried in a `.configChange` entry and
/// takes effect on every server as soon as the entry is appended to its log, committed or not.
public enum ConfigChange: Hashable, Sendable, CustomStringConvertible {
    /// Add a server directly as a voter. Prefer `addLearner` then `promote` for a server with an empty log
    /// (thesis §4.2.1: a new voter that must catch up hurts availability).
    case addVoter(NodeID)
    /// Add a non-voting learner that receives the log but is never counted.
    case addLearner(NodeID)
    /// Turn a learner into a voter.
    case promote(NodeID)
    /// Remove a voter or learner. Removing the leader makes it step down once the entry commits (§4.2.2).
    case remove(NodeID)

    /// The server this change is about.
    public var node: NodeID {
        switch self {
        case .addVoter(let id), .addLearner(let id), .promote(let id), .remove(let id): return id
        }
    }

    /// The payload of a `.configChange` entry: one tag byte and the node id, little-endian.
    public var encoded: [UInt8] {
        let tag: UInt8
        switch self {
        case .addVoter: tag = 1
        case .addLearner: tag = 2
        case .promote: tag = 3
        case .remove: tag = 4
        }
        var bytes: [UInt8] = [tag]
        var v = node.rawValue
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
        return bytes
    }

    /// Decodes a payload produced by `encoded`; nil if malformed.
    public init?(encoded bytes: [UInt8]) {
        guard bytes.count == 9 else { return nil }
        var v: UInt64 = 0
        for i in (1...8).reversed() { v = (v << 8) | UInt64(bytes[i]) }
        let id = NodeID(v)
        switch bytes[0] {
        case 1: self = .addVoter(id)
        case 2: self = .addLearner(id)
        case 3: self = .promote(id)
        case 4: self = .remove(id)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .addVoter(let id): return "add-voter \(id)"
        case .addLearner(let id): return "add-learner \(id)"
        case .promote(let id): return "promote \(id)"
        case .remove(let id): return "remove \(id)"
        }
    }
}

import RaftCore

/// Raftlite node IDs are strings (rqlite's `-node-id`); RaftCore's are 64-bit numbers. The number is a
/// stable hash of the string (FNV-1a 64), so every node derives the same number for the same ID without
/// coordination.
enum NodeIdentity {
    static func raftID(_ id: String) -> NodeID {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return NodeID(hash == 0 ? 1 : hash)  // 0 is reserved by RaftCore
    }
}

/// A member of the cluster as operators see it.
struct Member: Sendable, Equatable {
    var id: String
    var raftAddress: String
}

/// Who is who: RaftCore's numeric IDs mapped to string IDs and Raft addresses.
///
/// Filled from the replicated member table (applied `setNodeMetadata` commands, persisted in the
/// database), from join and notify RPCs (on the leader, before the configuration entry commits), and at
/// bootstrap. Owned by the Raft worker thread.
struct AddressBook: Sendable {
    private(set) var members: [NodeID: Member] = [:]

    mutating func record(_ member: Member) {
        members[NodeIdentity.raftID(member.id)] = member
    }

    mutating func forget(_ id: NodeID) { members[id] = nil }

    func member(_ id: NodeID) -> Member? { members[id] }

    func address(_ id: NodeID) -> String? { members[id]?.raftAddress }
}

// The vocabulary of the Raft core: strong types for terms, indexes and node identities,
// log entries, hard state and snapshots. Everything here is a plain value.

/// A Raft term (thesis §3.3): a logical clock that increases monotonically.
/// Term 0 means "no term yet"; the first election produces term 1.
public struct Term: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ value: UInt64) { self.rawValue = value }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }
    @inlinable public static func < (a: Term, b: Term) -> Bool { a.rawValue < b.rawValue }
    /// The term that follows this one.
    @inlinable public var next: Term { Term(rawValue &+ 1) }
    public var description: String { String(rawValue) }
}

/// A position in the replicated log (thesis §3.5). Index 0 is the empty prefix; the first entry is 1.
public struct LogIndex: RawRepresentable, Hashable, Comparable, Strideable, Sendable,
    ExpressibleByIntegerLiteral, CustomStringConvertible
{
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ value: UInt64) { self.rawValue = value }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }
    @inlinable public static func < (a: LogIndex, b: LogIndex) -> Bool { a.rawValue < b.rawValue }
    // Explicit, so that equality never goes through Strideable's distance-based default.
    @inlinable public static func == (a: LogIndex, b: LogIndex) -> Bool { a.rawValue == b.rawValue }
    @inlinable public func distance(to other: LogIndex) -> Int { Int(bitPattern: UInt(other.rawValue &- rawValue)) }
    @inlinable public func advanced(by n: Int) -> LogIndex { LogIndex(rawValue &+ UInt64(bitPattern: Int64(n))) }
    public var description: String { String(rawValue) }
}

/// The identity of a server in the cluster. MUST be stable for the server's lifetime and MUST NOT be 0
/// (0 is never used, so a zero in a trace is always a bug).
public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ value: UInt64) { self.rawValue = value }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }
    @inlinable public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// What an entry carries. The core interprets only `configChange`; `normal` payloads are opaque.
public enum EntryKind: UInt8, Hashable, Sendable {
    /// A client command for the state machine; the payload is opaque to the core.
    case normal = 0
    /// A membership change; the payload is an encoded `ConfigChange`. It takes effect when appended.
    case configChange = 1
    /// The empty entry a new leader appends to commit an entry of its own term (thesis §3.6.2, §6.4).
    case noop = 2
}

/// One entry of the replicated log.
public struct Entry: Hashable, Sendable, CustomStringConvertible {
    public var term: Term
    public var index: LogIndex
    public var kind: EntryKind
    public var data: [UInt8]
    /// Set when the core no longer holds the payload (`RaftNode.releasePayloads`): `data` is then empty
    /// and this is its size. The payload is in the shell's durable log; the shell MUST put it back before
    /// the entry leaves the node in a message.
    public var releasedPayloadSize: Int?

    public init(term: Term, index: LogIndex, kind: EntryKind = .normal, data: [UInt8] = [], releasedPayloadSize: Int? = nil) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
        self.releasedPayloadSize = releasedPayloadSize
    }

    /// The payload's size, whether held or released.
    @inlinable public var payloadSize: Int { releasedPayloadSize ?? data.count }

    public var description: String {
        switch kind {
        case .normal: return "\(term)/\(index) \(Entry.render(data))"
        case .noop: return "\(term)/\(index) noop"
        case .configChange:
            if let c = ConfigChange(encoded: data) { return "\(term)/\(index) \(c)" }
            return "\(term)/\(index) config?"
        }
    }

    /// Printable ASCII payloads are shown as text, anything else as hex.
    static func render(_ bytes: [UInt8]) -> String {
        if !bytes.isEmpty && bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        let digits: [Character] = Array("0123456789abcdef")
        var s = "0x"
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 15)])
        }
        return s
    }
}

/// The state that MUST be durable before certain messages leave the node (thesis §3.8, Figure 3.1:
/// "persistent state on all servers: currentTerm, votedFor"). `commit` is carried along as a hint for
/// restart; it is persisted whenever entries or term/vote are, but never forces a write on its own.
public struct HardState: Hashable, Sendable, CustomStringConvertible {
    public var term: Term
    /// The candidate this server voted for in `term`, if any.
    public var vote: NodeID?
    public var commit: LogIndex

    public init(term: Term = 0, vote: NodeID? = nil, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public var description: String { "term=\(term) vote=\(vote.map { String($0.rawValue) } ?? "-") commit=\(commit)" }
}

/// Describes a snapshot: the last index and term it covers, and the configuration as of that index.
public struct SnapshotMetadata: Hashable, Sendable, CustomStringConvertible {
    public var index: LogIndex
    public var term: Term
    public var configuration: Configuration

    public init(index: LogIndex, term: Term, configuration: Configuration) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }

    public var description: String { "index=\(index) term=\(term) \(configuration)" }
}

/// A snapshot of the state machine (thesis §5). `data` is opaque to the core: a shell with large
/// snapshots MAY put a handle (a file name, a snapshot id) here and stream the bytes itself.
public struct Snapshot: Hashable, Sendable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}

/// A small deterministic random generator (SplitMix64). The core draws its randomized election timeouts
/// from it (thesis §3.4); the shell injects the seed, so a core is reproducible and freely copyable.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { self.state = seed }
    @inlinable public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A value in `0..<bound`; `bound` MUST be positive.
    @inlinable public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next() % UInt64(bound))
    }
}

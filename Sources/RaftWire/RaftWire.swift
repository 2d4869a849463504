import RaftCore

/// The binary encoding of RaftCore's `Message` for the node-to-node transport.
///
/// ```
/// u8 format version (1) | u8 kind | u64 from | u64 to | u64 term | kind-specific fields
/// ```
/// All integers are little-endian u64 unless noted; booleans are one byte. Entries are
/// `u64 term, u64 index, u8 kind, u32 length, data`; a configuration is
/// `u32 voter count, voters…, u32 learner count, learners…`; a snapshot is its metadata
/// (`u64 index, u64 term, configuration`) then `u32 length, data`.
///
/// Decoding is bounds-checked throughout: bytes from a peer are untrusted, and anything malformed throws
/// `RaftWireError` instead of trapping.
public enum RaftWire {
    public static let formatVersion: UInt8 = 1

    enum Tag: UInt8 {
        case preVote = 1, preVoteResponse, vote, voteResponse, append, appendResponse, heartbeat,
            heartbeatResponse, snapshot, timeoutNow
    }

    public static func encode(_ m: Message) -> [UInt8] {
        var w = Writer()
        w.u8(formatVersion)
        let tag: Tag
        switch m.kind {
        case .preVote: tag = .preVote
        case .preVoteResponse: tag = .preVoteResponse
        case .vote: tag = .vote
        case .voteResponse: tag = .voteResponse
        case .append: tag = .append
        case .appendResponse: tag = .appendResponse
        case .heartbeat: tag = .heartbeat
        case .heartbeatResponse: tag = .heartbeatResponse
        case .snapshot: tag = .snapshot
        case .timeoutNow: tag = .timeoutNow
        }
        w.u8(tag.rawValue)
        w.u64(m.from.rawValue)
        w.u64(m.to.rawValue)
        w.u64(m.term.rawValue)
        switch m.kind {
        case .preVote(let lastIndex, let lastTerm):
            w.u64(lastIndex.rawValue)
            w.u64(lastTerm.rawValue)
        case .preVoteResponse(let granted), .voteResponse(let granted):
            w.bool(granted)
        case .vote(let lastIndex, let lastTerm, let transfer):
            w.u64(lastIndex.rawValue)
            w.u64(lastTerm.rawValue)
            w.bool(transfer)
        case .append(let prevIndex, let prevTerm, let entries, let commit):
            w.u64(prevIndex.rawValue)
            w.u64(prevTerm.rawValue)
            w.u64(commit.rawValue)
            w.u32(UInt32(entries.count))
            for e in entries { w.entry(e) }
        case .appendResponse(let rejected, let index, let hintIndex, let hintTerm):
            w.bool(rejected)
            w.u64(index.rawValue)
            w.u64(hintIndex.rawValue)
            w.u64(hintTerm.rawValue)
        case .heartbeat(let commit, let context):
            w.u64(commit.rawValue)
            w.u64(context)
        case .heartbeatResponse(let context):
            w.u64(context)
        case .snapshot(let snapshot):
            w.metadata(snapshot.metadata)
            w.bytes(snapshot.data)
        case .timeoutNow:
            break
        }
        return w.buffer
    }

    public static func decode(_ bytes: [UInt8]) throws(RaftWireError) -> Message {
        var r = Reader(bytes)
        guard try r.u8() == formatVersion else { throw RaftWireError("unsupported message format") }
        guard let tag = Tag(rawValue: try r.u8()) else { throw RaftWireError("unknown message kind") }
        let from = NodeID(try r.u64())
        let to = NodeID(try r.u64())
        let term = Term(try r.u64())
        let kind: Message.Kind
        switch tag {
        case .preVote: kind = .preVote(lastIndex: LogIndex(try r.u64()), lastTerm: Term(try r.u64()))
        case .preVoteResponse: kind = .preVoteResponse(granted: try r.bool())
        case .vote:
            kind = .vote(lastIndex: LogIndex(try r.u64()), lastTerm: Term(try r.u64()), transfer: try r.bool())
        case .voteResponse: kind = .voteResponse(granted: try r.bool())
        case .append:
            let prevIndex = LogIndex(try r.u64())
            let prevTerm = Term(try r.u64())
            let commit = LogIndex(try r.u64())
            let count = Int(try r.u32())
            guard count <= r.remaining / 21 else { throw RaftWireError("entry count exceeds the message") }
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(try r.entry()) }
            kind = .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit)
        case .appendResponse:
            kind = .appendResponse(
                rejected: try r.bool(), index: LogIndex(try r.u64()), hintIndex: LogIndex(try r.u64()),
                hintTerm: Term(try r.u64()))
        case .heartbeat: kind = .heartbeat(commit: LogIndex(try r.u64()), context: try r.u64())
        case .heartbeatResponse: kind = .heartbeatResponse(context: try r.u64())
        case .snapshot: kind = .snapshot(Snapshot(metadata: try r.metadata(), data: try r.bytes()))
        case .timeoutNow: kind = .timeoutNow
        }
        guard r.remaining == 0 else { throw RaftWireError("trailing bytes after message") }
        return Message(from: from, to: to, term: term, kind: kind)
    }

    /// Encodes snapshot metadata alone (stored beside snapshot files).
    public static func encode(_ metadata: SnapshotMetadata) -> [UInt8] {
        var w = Writer()
        w.u8(formatVersion)
        w.metadata(metadata)
        return w.buffer
    }

    public static func decodeMetadata(_ bytes: [UInt8]) throws(RaftWireError) -> SnapshotMetadata {
        var r = Reader(bytes)
        guard try r.u8() == formatVersion else { throw RaftWireError("unsupported metadata format") }
        let m = try r.metadata()
        guard r.remaining == 0 else { throw RaftWireError("trailing bytes after metadata") }
        return m
    }
}

public struct RaftWireError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

struct Writer {
    var buffer: [UInt8] = []
    mutating func u8(_ v: UInt8) { buffer.append(v) }
    mutating func bool(_ v: Bool) { buffer.append(v ? 1 : 0) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func bytes(_ v: [UInt8]) {
        u32(UInt32(v.count))
        buffer.append(contentsOf: v)
    }
    mutating func entry(_ e: Entry) {
        u64(e.term.rawValue)
        u64(e.index.rawValue)
        u8(e.kind.rawValue)
        bytes(e.data)
    }
    mutating func configuration(_ c: Configuration) {
        u32(UInt32(c.voters.count))
        for v in c.voters { u64(v.rawValue) }
        u32(UInt32(c.learners.count))
        for l in c.learners { u64(l.rawValue) }
    }
    mutating func metadata(_ m: SnapshotMetadata) {
        u64(m.index.rawValue)
        u64(m.term.rawValue)
        configuration(m.configuration)
    }
}

struct Reader {
    let data: [UInt8]
    var position = 0
    init(_ data: [UInt8]) { self.data = data }
    var remaining: Int { data.count - position }

    mutating func take(_ n: Int) throws(RaftWireError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw RaftWireError("message truncated") }
        defer { position += n }
        return data[position..<(position + n)]
    }
    mutating func u8() throws(RaftWireError) -> UInt8 { try take(1).first! }
    mutating func bool() throws(RaftWireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw RaftWireError("invalid boolean")
        }
    }
    mutating func u32() throws(RaftWireError) -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64() throws(RaftWireError) -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func bytes() throws(RaftWireError) -> [UInt8] { Array(try take(Int(try u32()))) }
    mutating func entry() throws(RaftWireError) -> Entry {
        let term = Term(try u64())
        let index = LogIndex(try u64())
        guard let kind = EntryKind(rawValue: try u8()) else { throw RaftWireError("unknown entry kind") }
        return Entry(term: term, index: index, kind: kind, data: try bytes())
    }
    mutating func nodes() throws(RaftWireError) -> [NodeID] {
        let n = Int(try u32())
        guard n <= remaining / 8 else { throw RaftWireError("member count exceeds the message") }
        var out: [NodeID] = []
        for _ in 0..<n { out.append(NodeID(try u64())) }
        return out
    }
    mutating func metadata() throws(RaftWireError) -> SnapshotMetadata {
        let index = LogIndex(try u64())
        let term = Term(try u64())
        let voters = try nodes()
        let learners = try nodes()
        // Configuration's initializer traps on overlap (an invariant of the core); a peer's bytes are checked first.
        guard Set(voters).isDisjoint(with: learners) else { throw RaftWireError("a node is both voter and learner") }
        return SnapshotMetadata(index: index, term: term, configuration: Configuration(voters: voters, learners: learners))
    }
}

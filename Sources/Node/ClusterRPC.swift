import API
import Command
import RaftCore

/// Frame types on the node-to-node transport. One-way frames carry Raft messages; calls carry the
/// cluster service (rqlite's control plane, REFERENCE §9): metadata probes, join, notify, remove,
/// stepdown and forwarded database requests.
enum FrameType {
    /// One-way: an encoded RaftCore `Message` (RaftWire).
    static let raftMessage: UInt8 = 1

    static let getNodeMeta: UInt8 = 10
    static let join: UInt8 = 11
    static let notify: UInt8 = 12
    static let remove: UInt8 = 13
    static let forwardExecute: UInt8 = 14
    static let forwardQuery: UInt8 = 15
    static let forwardRequest: UInt8 = 16
    static let stepDown: UInt8 = 17
    /// A chunk of a snapshot file being streamed to this node (InstallSnapshot, thesis §5.3).
    static let snapshotChunk: UInt8 = 18
    /// The end of a snapshot transfer: its size, CRC and the InstallSnapshot message.
    static let snapshotInstall: UInt8 = 19
}

/// Call payloads are small records of strings and integers, with one status byte on responses:
/// 0 ok, 1 error message, 2 not leader (with the leader's Raft address, possibly empty).
enum RPCStatus: UInt8 {
    case ok = 0, error = 1, notLeader = 2
}

struct RPCWriter {
    var w = ByteWriter()
    mutating func u8(_ v: UInt8) { w.u8(v) }
    mutating func u64(_ v: UInt64) { w.u64(v) }
    mutating func bool(_ v: Bool) { w.u8(v ? 1 : 0) }
    mutating func string(_ v: String) { w.string(v) }
    mutating func bytes(_ v: [UInt8]) { w.bytes(v) }
    mutating func double(_ v: Double) { w.u64(v.bitPattern) }
    var buffer: [UInt8] { w.buffer }
}

struct RPCReader {
    var r: ByteReader
    init(_ bytes: [UInt8]) { r = ByteReader(bytes) }
    mutating func u8() throws -> UInt8 { try r.u8() }
    mutating func u64() throws -> UInt64 { try r.u64() }
    mutating func bool() throws -> Bool { try r.u8() != 0 }
    mutating func string() throws -> String { try r.string() }
    mutating func bytes() throws -> [UInt8] { try r.bytes() }
    mutating func double() throws -> Double { Double(bitPattern: try r.u64()) }
    var remaining: Int { r.remaining }
}

/// Internode credentials (REFERENCE §6): join, notify, remove, stepdown and forwarded requests end with
/// a credentials section — `0` (none), or `1`, username, password. A payload that ends before the section
/// carries none (a peer that sends no credentials is treated as anonymous); anything after the section,
/// or another marker, makes the whole request malformed.
extension RPCWriter {
    mutating func credentials(_ c: Credentials?) {
        guard let c else { return u8(0) }
        u8(1)
        string(c.username)
        string(c.password)
    }
}

/// The credentials section as read: `credentials` nil means anonymous. A wrapper rather than an optional,
/// so that `try?` cannot fold "malformed" and "anonymous" into the same nil.
struct SentCredentials: Sendable, Equatable {
    var credentials: Credentials?
}

extension RPCReader {
    mutating func credentials() throws -> SentCredentials {
        SentCredentials(credentials: try credentialsSection())
    }

    private mutating func credentialsSection() throws -> Credentials? {
        guard remaining > 0 else { return nil }
        let credentials: Credentials?
        switch try u8() {
        case 0: credentials = nil
        case 1: credentials = Credentials(username: try string(), password: try string())
        default: throw CommandDecodingErrorWrapper("malformed credentials")
        }
        guard remaining == 0 else { throw CommandDecodingErrorWrapper("trailing bytes after credentials") }
        return credentials
    }
}

/// A response to any call: status, then the body (ok), a message (error) or a leader address (not leader).
enum RPCResponse {
    case ok([UInt8])
    case error(String)
    case notLeader(leaderRaftAddress: String)

    /// rqlite's answer to a call whose credentials do not grant what it asks.
    static var unauthorized: RPCResponse { .error(ServiceError.unauthorizedText) }

    var encoded: [UInt8] {
        var w = RPCWriter()
        switch self {
        case .ok(let body):
            w.u8(RPCStatus.ok.rawValue)
            return w.buffer + body
        case .error(let message):
            w.u8(RPCStatus.error.rawValue)
            w.string(message)
        case .notLeader(let leader):
            w.u8(RPCStatus.notLeader.rawValue)
            w.string(leader)
        }
        return w.buffer
    }

    static func decode(_ bytes: [UInt8]) throws -> RPCResponse {
        guard let first = bytes.first, let status = RPCStatus(rawValue: first) else {
            throw CommandDecodingErrorWrapper("malformed response")
        }
        var r = RPCReader(Array(bytes.dropFirst()))
        switch status {
        case .ok: return .ok(Array(bytes.dropFirst()))
        case .error: return .error(try r.string())
        case .notLeader: return .notLeader(leaderRaftAddress: try r.string())
        }
    }
}

struct CommandDecodingErrorWrapper: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

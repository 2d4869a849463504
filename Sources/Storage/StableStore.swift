#if canImport(Glibc)
    import Glibc
#endif

/// The Raft hard state that must survive a crash: the current term and the vote cast in it.
public struct HardState: Sendable, Equatable {
    public var term: UInt64
    /// The node voted for in `term`, empty if none.
    public var vote: String
    /// Highest index known committed (an optimisation for restart; Raft does not require it durable).
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: String = "", commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// Stores the `HardState` in one small file, replaced atomically (temp file, fsync, rename, fsync
/// directory), so a crash leaves the old or the new state, never a mix.
///
/// Format: magic `RLITEHS1`, u64 LE term, u64 LE commit, u32 LE vote length, vote bytes (UTF-8),
/// u32 LE CRC-32 of everything before it.
public final class StableStore {
    public static let magic: [UInt8] = Array("RLITEHS1".utf8)
    public let path: String

    public init(path: String) throws {
        self.path = path
        try FileIO.makeDirectory(FileIO.directoryOf(path))
    }

    /// The stored state; a zero state when no file exists yet. Throws `.corrupt` if the file fails
    /// verification (atomic replacement means a crash cannot produce that).
    public func load() throws -> HardState {
        let fd: Int32
        do {
            fd = try FileIO.open(path, O_RDONLY)
        } catch {
            if (error as? StorageError)?.errnoValue == ENOENT { return HardState() }
            throw error
        }
        defer { close(fd) }
        let size = try FileIO.size(fd, path: path)
        let bytes = try FileIO.read(fd, count: size, at: 0, path: path)
        guard bytes.count >= 32, Array(bytes[0..<8]) == Self.magic else {
            throw StorageError.corrupt(path: path, offset: 0, reason: "not a Raftlite hard-state file")
        }
        return try bytes.withUnsafeBytes { (raw) throws -> HardState in
            let voteLength = Int(readLE(raw, at: 24, as: UInt32.self))
            guard bytes.count == 28 + voteLength + 4 else {
                throw StorageError.corrupt(path: path, offset: 24, reason: "length mismatch")
            }
            let stored = readLE(raw, at: 28 + voteLength, as: UInt32.self)
            guard checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(28 + voteLength)])) == stored else {
                throw StorageError.corrupt(path: path, offset: 28 + voteLength, reason: "checksum mismatch")
            }
            return HardState(
                term: readLE(raw, at: 8, as: UInt64.self),
                vote: String(decoding: bytes[28..<(28 + voteLength)], as: UTF8.self),
                commit: readLE(raw, at: 16, as: UInt64.self))
        }
    }

    /// Durably replaces the stored state.
    public func save(_ state: HardState) throws {
        var bytes = Self.magic
        bytes.appendLE(state.term)
        bytes.appendLE(state.commit)
        let vote = Array(state.vote.utf8)
        bytes.appendLE(UInt32(vote.count))
        bytes.append(contentsOf: vote)
        bytes.appendLE(checksum(bytes))
        try FileIO.atomicWrite(bytes, to: path)
    }
}

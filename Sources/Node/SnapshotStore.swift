import Foundation
import RaftCore
import RaftWire
import Storage
import Synchronization

/// Snapshot files on disk: `<data>/raft/snapshots/<term>-<index>/` holding `db.sqlite` (a consistent
/// SQLite image at `index`) and `meta` (the RaftWire-encoded snapshot metadata: index, term,
/// configuration).
///
/// Snapshots are immutable once complete: they are written under a `.tmp` name, fsynced, then renamed
/// into place (and the directory fsynced). Readers (a transfer to a follower, a restore) hold a lease;
/// pruning deletes an old snapshot only once no lease is held, so creating, streaming and pruning never
/// pull a file from under one another (MISSION.md item 3). Thread-safe.
final class SnapshotStore: Sendable {
    let directory: String
    private let state = Mutex<(leases: [String: Int], doomed: Set<String>)>(([:], []))

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Leftovers of interrupted writes, transfers or deletions are never complete snapshots. They may
        // hold gigabytes: deleted in the background, each under a name nothing else will use.
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".tmp") }
        if !leftovers.isEmpty {
            Thread.detachNewThread {
                for name in leftovers {
                    SnapshotStore.removeGradually(directory + "/" + name + "/db.sqlite")
                    try? FileManager.default.removeItem(atPath: directory + "/" + name)
                }
            }
        }
    }

    static func name(_ meta: SnapshotMetadata) -> String {
        "\(meta.term.rawValue)-\(meta.index.rawValue)"
    }

    func path(_ name: String) -> String { directory + "/" + name }
    func databasePath(_ name: String) -> String { path(name) + "/db.sqlite" }

    /// Complete snapshots, oldest first.
    func list() -> [(name: String, meta: SnapshotMetadata)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (String, SnapshotMetadata)? in
            guard !name.hasSuffix(".tmp"), let meta = try? readMeta(name) else { return nil }
            return (name, meta)
        }.sorted { $0.1.index < $1.1.index }
    }

    func latest() -> (name: String, meta: SnapshotMetadata)? { list().last }

    func readMeta(_ name: String) throws -> SnapshotMetadata {
        guard let data = FileManager.default.contents(atPath: path(name) + "/meta") else {
            throw NodeError.openFailed("snapshot \(name) has no metadata")
        }
        return try RaftWire.decodeMetadata(Array(data))
    }

    /// A fresh temporary directory for a snapshot being built or received.
    func beginWrite(_ meta: SnapshotMetadata) throws -> String {
        let tmp = path(Self.name(meta) + "-\(UInt64.random(in: 0...UInt64.max)).tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        return tmp
    }

    /// Seals a snapshot written into `tmp`: fsync the image, write the metadata, rename, fsync the directory.
    func commit(_ tmp: String, _ meta: SnapshotMetadata) throws -> String {
        let name = Self.name(meta)
        try fsyncFile(tmp + "/db.sqlite")
        let metaPath = tmp + "/meta"
        guard FileManager.default.createFile(atPath: metaPath, contents: Data(RaftWire.encode(meta))) else {
            throw NodeError.openFailed("cannot write snapshot metadata in \(tmp)")
        }
        try fsyncFile(metaPath)
        try fsyncFile(tmp)
        if FileManager.default.fileExists(atPath: path(name)) {
            // The same snapshot again (a retried transfer): the existing copy stands.
            try? FileManager.default.removeItem(atPath: tmp)
            return name
        }
        guard rename(tmp, path(name)) == 0 else { throw NodeError.openFailed("rename \(tmp): \(String(cString: strerror(errno)))") }
        try fsyncFile(directory)
        return name
    }

    func abort(_ tmp: String) { try? FileManager.default.removeItem(atPath: tmp) }

    // MARK: Leases

    /// Takes a lease on a snapshot; nil if it no longer exists or is being deleted.
    func acquire(_ name: String) -> String? {
        state.withLock { s -> String? in
            guard !s.doomed.contains(name), FileManager.default.fileExists(atPath: path(name) + "/meta") else { return nil }
            s.leases[name, default: 0] += 1
            return name
        }
    }

    func release(_ name: String) {
        let delete = state.withLock { s -> Bool in
            s.leases[name, default: 1] -= 1
            if s.leases[name] == 0 { s.leases[name] = nil }
            return s.leases[name] == nil && s.doomed.contains(name)
        }
        if delete { remove(name) }
    }

    /// Deletes every snapshot but the newest `keep`; leased ones go when their last lease ends. Takes as
    /// long as deleting the files does: call it off the Raft worker.
    func prune(keep: Int = 1) {
        let all = list()
        for (name, _) in all.dropLast(keep) {
            let now = state.withLock { s -> Bool in
                // Whoever dooms a snapshot first deletes it (or its last lease's release does).
                guard s.doomed.insert(name).inserted else { return false }
                return s.leases[name] == nil
            }
            if now { remove(name) }
        }
    }

    /// Takes the snapshot out of the store at once (renamed to a `.tmp` name, which `list` skips and a
    /// restart sweeps), then deletes its files in slices.
    private func remove(_ name: String) {
        let doomed = path(name) + "-\(UInt64.random(in: 0...UInt64.max)).tmp"
        let target = rename(path(name), doomed) == 0 ? doomed : path(name)
        state.withLock { _ = $0.doomed.remove(name) }
        Self.removeGradually(target + "/db.sqlite")
        try? FileManager.default.removeItem(atPath: target)
    }

    static let deletionSlice: Int64 = 16 << 20

    /// Deletes a possibly huge file by cutting it down `deletionSlice` bytes at a time before unlinking it
    /// (a log fdatasync during a 1 GiB delete measured up to 52-89 ms with a plain unlink, 7-28 ms this way):
    /// each cut frees a bounded number of blocks in its own journal transaction, instead of one unlink
    /// freeing gigabytes in a transaction that the Raft log's fdatasync (same filesystem) would wait for.
    static func removeGradually(_ path: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            var st = stat()
            if fstat(fd, &st) == 0 {
                var size = Int64(st.st_size)
                while size > deletionSlice {
                    size -= deletionSlice
                    guard ftruncate(fd, off_t(size)) == 0 else { break }
                }
            }
            close(fd)
        }
        unlink(path)
    }

    func fsyncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw NodeError.openFailed("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw NodeError.openFailed("fsync \(path): \(String(cString: strerror(errno)))") }
    }
}

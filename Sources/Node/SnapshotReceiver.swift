import Command
import Foundation
import RaftCore
import RaftWire
import Synchronization

/// The receiving side of snapshot streaming: chunks are appended, in order, to a file in a temporary
/// directory of the snapshot store; the final call checks size and CRC, seals the snapshot, and hands the
/// InstallSnapshot message to the Raft worker. Anything out of order or malformed aborts the transfer
/// (the leader retries later) without touching the database. A failure to write or sync the file is a
/// storage failure: the transfer is discarded and `onStorageFailure` stops the node (fail-stop).
///
/// A sender streams one snapshot to this node at a time, so a new transfer from a sender ends any
/// unfinished one of that sender (a transfer abandoned after a timeout or a leader change): its file goes,
/// and the disk holds at most one partial snapshot per sender.
final class SnapshotReceiver: @unchecked Sendable {
    private struct Transfer {
        var directory: String
        var handle: FileHandle
        var size: UInt64
        var crc: UInt32
    }
    private let lock = NSLock()
    private var transfers: [String: Transfer] = [:]
    let store: () -> SnapshotStore?
    let onStorageFailure: (String) -> Void

    init(store: @escaping () -> SnapshotStore?, onStorageFailure: @escaping (String) -> Void = { _ in }) {
        self.store = store
        self.onStorageFailure = onStorageFailure
    }

    func chunk(_ payload: [UInt8]) -> RPCResponse {
        var r = RPCReader(payload)
        guard let id = try? r.string(), Self.validID(id), let offset = try? r.u64(), let compressed = try? r.bool(),
            let length = try? r.u64(), length <= UInt64(RaftWorker.chunkSize), let body = try? r.bytes()
        else { return .error("malformed snapshot chunk") }
        let data: [UInt8]
        if compressed {
            guard let plain = Zlib.decompress(body, expectedLength: Int(length)) else { return .error("corrupt snapshot chunk") }
            data = plain
        } else {
            guard body.count == Int(length) else { return .error("snapshot chunk length mismatch") }
            data = body
        }
        guard let store = store() else { return .error("store not open") }
        lock.lock()
        defer { lock.unlock() }
        if offset == 0 {
            let sender = Self.sender(of: id)
            for (other, old) in transfers where other == id || Self.sender(of: other) == sender {
                transfers[other] = nil
                discard(old, store)
            }
            let dir = store.directory + "/incoming-\(id)-\(UInt64.random(in: 0...UInt64.max)).tmp"
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                return storageFailure("cannot create \(dir): \(error)")
            }
            guard FileManager.default.createFile(atPath: dir + "/db.sqlite", contents: nil),
                let handle = FileHandle(forWritingAtPath: dir + "/db.sqlite")
            else {
                store.abort(dir)
                return storageFailure("cannot create \(dir)/db.sqlite")
            }
            transfers[id] = Transfer(directory: dir, handle: handle, size: 0, crc: 0)
        }
        guard var t = transfers[id], t.size == offset else {
            if let t = transfers.removeValue(forKey: id) { discard(t, store) }
            return .error("snapshot chunk out of order")
        }
        do {
            try t.handle.write(contentsOf: data)
        } catch {
            transfers[id] = nil
            discard(t, store)
            return storageFailure("cannot write \(t.directory)/db.sqlite: \(error)")
        }
        t.size += UInt64(data.count)
        t.crc = crc32Update(t.crc, data)
        transfers[id] = t
        return .ok([])
    }

    /// Verifies and seals a transfer; returns the InstallSnapshot message for the worker.
    func install(_ payload: [UInt8]) -> (RPCResponse, Message?) {
        var r = RPCReader(payload)
        guard let id = try? r.string(), let size = try? r.u64(), let crc = try? r.u64(), let encoded = try? r.bytes(),
            let message = try? RaftWire.decode(encoded), case .snapshot(let snapshot) = message.kind,
            let store = store()
        else { return (.error("malformed snapshot install"), nil) }
        lock.lock()
        let transfer = transfers.removeValue(forKey: id)
        lock.unlock()
        guard let t = transfer else { return (.error("no snapshot transfer \(id)"), nil) }
        try? t.handle.close()
        guard t.size == size, UInt64(t.crc) == crc else {
            discard(t, store)
            return (.error("snapshot \(id) failed verification (size or checksum)"), nil)
        }
        do {
            let name = try store.commit(t.directory, snapshot.metadata)
            let local = Message(
                from: message.from, to: message.to, term: message.term,
                kind: .snapshot(Snapshot(metadata: snapshot.metadata, data: Array(name.utf8))))
            return (.ok([]), local)
        } catch {
            discard(t, store)
            return (storageFailure("cannot store snapshot \(id): \(error)"), nil)
        }
    }

    private func storageFailure(_ reason: String) -> RPCResponse {
        let message = "failed to store a snapshot received from the leader: \(reason)"
        onStorageFailure(message)
        return .error(message)
    }

    /// The sending node's part of a transfer ID.
    static func sender(of id: String) -> Substring {
        id.prefix { $0 != "-" }
    }

    private func discard(_ t: Transfer, _ store: SnapshotStore) {
        try? t.handle.close()
        store.abort(t.directory)
    }

    /// Transfer IDs are `<sender>-<term>-<index>`: digits and dashes only, so they are safe in paths.
    static func validID(_ id: String) -> Bool {
        !id.isEmpty && id.count < 80 && id.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-") }
    }
}

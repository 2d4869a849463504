import API
import Command
import Crypto
import Foundation
import SQLiteDB

/// Chunked loads: a SQLite image of any size replicated through the log in bounded memory.
///
/// The image is a file (an HTTP upload streamed to disk, an auto-restore download), already verified as
/// a SQLite database. The driver reads it twice, a chunk at a time: once for its size and SHA-256, then to
/// propose `loadBegin`, one `loadChunk` per MiB (zlib level 1) and `loadCommit`, each waiting for its
/// result. Every node stages the chunks in the database (in the apply transactions), and the commit swaps
/// the assembled image in only if it matches the checksum (Sources/Node/DESIGN.md, "Loads").
///
/// On the leader up to `window` chunks are in flight (they reach the log in order: one worker queue); a
/// follower forwards each step to the leader one at a time, since forwarded calls may overtake one
/// another. Any failure (leadership lost, a chunk refused) ends the load with an error, proposes a
/// best-effort abort, and leaves the database as it was; the next load clears what was staged anyway.
extension Node {
    static let loadWindow = 4

    func loadFile(
        _ path: String, redirect: Bool, timeout: Double, gated: Bool, credentials: Credentials? = nil,
        completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void
    ) {
        if gated && status.restorePending { return completion(.failure(.message("store not ready"))) }
        let view = raft
        if redirect && view.role != .leader {
            guard let leader = view.leaderAddress else { return completion(.failure(.leaderNotFound)) }
            return fetchNodeMeta(leader, timeout: min(timeout, 5)) { meta in
                completion(.failure(.notLeader(leaderAPIURL: meta?.apiURL)))
            }
        }
        DispatchQueue.global().async { [self] in
            let started = Date()
            let result = runLoad(path, timeout: timeout, gated: gated, credentials: credentials)
            if case .success = result {
                logger.info(
                    "load replicated", metadata: ["file": "\(path)", "seconds": "\(Date().timeIntervalSince(started))"])
            }
            completion(result)
        }
    }

    /// Runs one load to its end on the calling (background) thread.
    private func runLoad(
        _ path: String, timeout: Double, gated: Bool, credentials: Credentials?
    ) -> Result<DatabaseResponse, ServiceError> {
        let started = Date()
        guard let digest = Self.digest(path) else { return .failure(.message("cannot read the load file")) }
        let chunkCount = UInt32((digest.size + UInt64(LoadChunk.maxSize) - 1) / UInt64(LoadChunk.maxSize))
        let id = UInt64.random(in: 1...UInt64.max)
        // The commit assembles and swaps the whole image on every node: give a forwarded one time for that
        // (at a pessimistic 20 MB/s) on top of the request's timeout.
        let commitTimeout = max(timeout, 60 + Double(digest.size) / 20e6)
        let step: @Sendable (Command) -> Result<DatabaseResponse, ServiceError> = { [self] command in
            let done = DispatchSemaphore(value: 0)
            let outcome = Shared<Result<DatabaseResponse, ServiceError>?>(nil)
            var stepTimeout = timeout
            if case .loadCommit = command { stepTimeout = commitTimeout }
            routeWrite(
                command, forward: FrameType.forwardExecute, level: .strong, false, stepTimeout, gated: gated,
                credentials: credentials
            ) {
                result in
                outcome.set(result)
                done.signal()
            }
            done.wait()
            return outcome.value ?? .failure(.message("load step produced nothing"))
        }
        // Opened before anything is proposed: a file that cannot be read leaves nothing staged.
        guard let input = FileHandle(forReadingAtPath: path) else {
            return .failure(.message("cannot read the load file"))
        }
        defer { try? input.close() }
        if case .failure(let error) = step(
            .loadBegin(id: id, size: digest.size, chunks: chunkCount, sha256: digest.sha256))
        {
            return .failure(error)
        }
        let window = raft.role == .leader ? Self.loadWindow : 1
        let slots = DispatchSemaphore(value: window)
        let inFlight = DispatchGroup()
        let failure = Shared<ServiceError?>(nil)
        for sequence in 0..<chunkCount {
            slots.wait()
            if failure.value != nil {
                slots.signal()
                break
            }
            let chunk = [UInt8](input.readData(ofLength: LoadChunk.maxSize))
            guard let zlib = Zlib.compress(chunk, level: 1) else {
                failure.set(.message("cannot compress a load chunk"))
                slots.signal()
                break
            }
            inFlight.enter()
            let command = Command.loadChunk(id: id, sequence: sequence, rawSize: UInt32(chunk.count), zlib: zlib)
            routeWrite(
                command, forward: FrameType.forwardExecute, level: .strong, false, timeout, gated: gated,
                credentials: credentials
            ) {
                result in
                if case .failure(let error) = result, failure.value == nil { failure.set(error) }
                slots.signal()
                inFlight.leave()
            }
        }
        inFlight.wait()
        if let error = failure.value {
            _ = step(.loadAbort(id: id))
            return .failure(error)
        }
        let committing = Date()
        let result = step(.loadCommit(id: id))
        logger.info(
            "load committed",
            metadata: [
                "bytes": "\(digest.size)", "chunks": "\(chunkCount)",
                "staging.seconds": "\(committing.timeIntervalSince(started))",
                "commit.seconds": "\(Date().timeIntervalSince(committing))",
            ])
        return result
    }

    /// Size and SHA-256 of a file, read in 1 MiB pieces.
    static func digest(_ path: String) -> (size: UInt64, sha256: [UInt8])? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: UInt64 = 0
        while true {
            let data = handle.readData(ofLength: LoadChunk.maxSize)
            if data.isEmpty { break }
            hasher.update(data: data)
            size += UInt64(data.count)
        }
        return (size, Array(hasher.finalize()))
    }
}

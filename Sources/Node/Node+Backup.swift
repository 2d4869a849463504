import API
import CoreMetrics
import Command
import Foundation
import SQLiteDB

extension Node: BackupService {
    public func backup(_ request: BackupRequest, completion: @escaping @Sendable (Result<BackupFile, ServiceError>) -> Void) {
        guard status.storeOpen else { return completion(.failure(.message("store not open"))) }
        let view = raft
        if request.noLeader || view.role == .leader {
            return writeBackup(request, completion)
        }
        guard let leader = view.leaderAddress else { return completion(.failure(.leaderNotFound)) }
        if request.redirect {
            return fetchNodeMeta(leader, timeout: min(request.timeout, 5)) { meta in
                completion(.failure(.notLeader(leaderAPIURL: meta?.apiURL)))
            }
        }
        // Rather than pulling the whole file through the leader, this node catches up with the commit index
        // the leader reports now, then serves its own copy: as current as a backup taken on the leader.
        fetchNodeMeta(leader, timeout: min(request.timeout, 5)) { [self] meta in
            guard let meta else { return completion(.failure(.message("leader not contactable"))) }
            DispatchQueue.global().async { [self] in
                guard waitFor(seconds: request.timeout, { self.raft.appliedIndex >= meta.commitIndex }) else {
                    return completion(.failure(.message("timeout waiting for this node to catch up with the leader")))
                }
                writeBackup(request, completion)
            }
        }
    }

    /// Writes the backup into a scratch file in the data directory (deleted by the API once streamed),
    /// from a read-only connection: a consistent view, while writes continue.
    private func writeBackup(_ request: BackupRequest, _ completion: @escaping @Sendable (Result<BackupFile, ServiceError>) -> Void) {
        let path = configuration.dataDirectory + "/raftlite-backup-\(UInt64.random(in: 0...UInt64.max)).tmp"
        let source = configuration.databasePath
        let fk = configuration.foreignKeys
        DispatchQueue.global().async { [self] in
            do {
                let connection = try Connection.open(path: source, mode: .readOnly, foreignKeys: fk, synchronous: .off)
                defer { connection.close() }
                switch request.format {
                case .sql:
                    // Streamed row by row into the file: the dump is never held in memory. One read
                    // transaction, so every table is dumped as of the same instant.
                    try connection.run("BEGIN")
                    defer { try? connection.run("COMMIT") }
                    try connection.dump(tables: request.tables, toFile: path)
                case .binary, .delete:
                    // Not `VACUUM INTO`: SQLite opens its target with the source connection's flags, and a
                    // read-only connection cannot write it. Copy with the backup API, then VACUUM the copy.
                    try connection.backup(to: path, vacuum: request.vacuum)
                    if request.format == .binary {
                        // rqlite's binary backup is a WAL-mode file.
                        let copy = try Connection.open(path: path, mode: .readWrite, synchronous: .normal)
                        try copy.run("PRAGMA journal_mode=WAL")
                        copy.close()
                    }
                }
                update { $0.lastBackupTime = Date() }
                BackupMetrics.backups.increment()
                completion(.success(BackupFile(path: path)))
            } catch {
                try? FileManager.default.removeItem(atPath: path)
                completion(.failure(.message("backup failed: \(error)")))
            }
        }
    }

    public func load(
        file: String, redirect: Bool, timeout: Double, credentials: Credentials?,
        completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void
    ) {
        loadFile(file, redirect: redirect, timeout: timeout, gated: true, credentials: credentials) { result in
            completion(result.map { response in
                var r = response
                r.results = []
                return r
            })
        }
    }

    /// A whole image in memory (a forwarded load from an earlier version): written to a scratch file in
    /// the data directory, then loaded in chunks like any other.
    func load(image: [UInt8], redirect: Bool, timeout: Double, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        let path = configuration.dataDirectory + "/raftlite-load-\(UInt64.random(in: 0...UInt64.max)).upload"
        guard FileManager.default.createFile(atPath: path, contents: Data(image)) else {
            return completion(.failure(.message("cannot write \(path)")))
        }
        load(file: path, redirect: redirect, timeout: timeout, credentials: nil) { result in
            try? FileManager.default.removeItem(atPath: path)
            completion(result)
        }
    }

    public func boot(file: String, completion: @escaping @Sendable (Result<Void, ServiceError>) -> Void) {
        let view = raft
        guard view.role == .leader else { return completion(.failure(.message("not leader"))) }
        guard view.members.count == 1 else { return completion(.failure(.message("not single-node"))) }
        load(file: file, redirect: true, timeout: max(configuration.applyTimeout, 60), credentials: nil) { [self] result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success:
                BackupMetrics.loads.increment()
                // As rqlite, leave the cluster's state in a snapshot so the log need not carry the image.
                snapshot(trailingLogs: 1) { _ in completion(.success(())) }
            }
        }
    }
}

enum BackupMetrics {
    static let backups = CoreMetrics.Counter(label: "raftlite_backups_total")
    static let loads = CoreMetrics.Counter(label: "raftlite_loads_total")
}

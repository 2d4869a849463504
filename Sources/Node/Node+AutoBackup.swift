import API
import Backup
import Foundation
import JSON

/// Automatic backup and restore (MISSION.md item 2, REFERENCE §7).
///
/// Restore: decided before the node forms or joins a cluster, and only on a node with no Raft state that
/// is not joining — the backup is not even downloaded otherwise. A downloaded backup is held behind a
/// ready gate (`/readyz` answers `store not ready`, writes and strong reads too) until the first leader
/// is known: if this node leads, the image travels the log as a chunked load, so every node gets it;
/// if another node leads, it already has the cluster's data and the restore is skipped. Either way the
/// file is deleted and the gate opens.
///
/// Backup: only the leader uploads, every `interval`, and only when the index of the last entry that
/// changed the database (replicated, stored in the database itself) differs from the index stored with
/// the last upload at the destination — so restarts and leader changes upload nothing new.
extension Node {
    /// Downloads the restore image if one is configured and needed; returns its path.
    func downloadRestoreIfNeeded(hasState: Bool) throws -> String? {
        guard let config = configuration.autoRestore else { return nil }
        let joining = !configuration.joinAddresses.isEmpty && configuration.bootstrapExpect == 0
        do {
            return try AutoRestore.downloadIfNeeded(
                config, hasExistingData: hasState, isJoining: joining, temporaryDirectory: configuration.dataDirectory,
                log: { [logger] in logger.info("\($0)") },
                downloaded: { [self] bytes in
                    update {
                        if let bytes {
                            $0.downloadsOK += 1
                            $0.downloadBytes += bytes
                        } else {
                            $0.downloadsFailed += 1
                        }
                    }
                })
        } catch {
            if config.continueOnFailure {
                logger.error("auto-restore failed; starting without it (continue_on_failure)", metadata: ["error": "\(error)"])
                return nil
            }
            throw NodeError.openFailed("auto-restore failed: \(error)")
        }
    }

    /// Loads a downloaded restore image once the first leader is known (see above).
    func completeRestore(_ path: String) {
        update { $0.restorePending = true }
        startThread(name: "raftlite-auto-restore") { [self] in
            defer {
                try? FileManager.default.removeItem(atPath: path)
                update { $0.restorePending = false }
            }
            while raft.leaderID == nil {
                if status.phase == .shuttingDown || status.phase == .stopped { return }
                Thread.sleep(forTimeInterval: 0.02)
            }
            guard raft.role == .leader else {
                logger.info("auto-restore: another node leads the cluster; skipping the restore")
                update { $0.autoRestoresSkipped += 1 }
                return
            }
            guard FileManager.default.fileExists(atPath: path) else {
                logger.error("auto-restore: the downloaded backup vanished")
                update { $0.autoRestoresFailed += 1 }
                return
            }
            let done = DispatchSemaphore(value: 0)
            // Replicated in chunks straight from the downloaded file: never held in memory.
            loadFile(path, redirect: true, timeout: max(configuration.applyTimeout, 60), gated: false) { [self] result in
                switch result {
                case .success:
                    update { $0.autoRestores += 1 }
                    logger.info("auto-restore: database restored from the backup through the log")
                case .failure(let error):
                    update { $0.autoRestoresFailed += 1 }
                    logger.error("auto-restore: loading the backup failed", metadata: ["error": "\(error.text)"])
                }
                done.signal()
            }
            done.wait()
        }
    }

    /// Starts the uploader, if configured.
    func startAutoBackup() {
        guard let config = configuration.autoBackup else { return }
        let uploader = AutoBackupUploader(
            config: config,
            hooks: AutoBackupHooks(
                isLeader: { [weak self] in self?.raft.role == .leader },
                dbIndex: { [weak self] in self?.raft.dbChangeIndex ?? 0 },
                makeBackup: { [weak self] vacuum in
                    guard let self else { throw NodeError.openFailed("node stopped") }
                    return try self.backupFileBlocking(vacuum: vacuum)
                }),
            scratchDirectory: configuration.dataDirectory,
            log: { [logger] in logger.info("\($0)") })
        uploaderBox.withLock { $0 = uploader }
        uploader.start()
    }

    func stopAutoBackup() {
        uploaderBox.withLock { $0 }?.stop()
    }

    var autoBackupStatus: JSONValue? { uploaderBox.withLock { $0 }?.statusJSON() }

    /// `/debug/vars` → `uploader` (zeros when auto-backup is off, as rqlite's always-registered expvar map).
    var uploaderVars: JSONValue { AutoBackupUploader.expvarJSON(uploaderBox.withLock { $0 }) }

    /// A binary backup of this node's copy, for the uploader (which runs on the leader).
    private func backupFileBlocking(vacuum: Bool) throws -> String {
        let done = DispatchSemaphore(value: 0)
        let outcome = Shared<Result<BackupFile, ServiceError>?>(nil)
        backup(BackupRequest(format: .binary, vacuum: vacuum, noLeader: true)) { result in
            outcome.set(result)
            done.signal()
        }
        done.wait()
        switch outcome.value {
        case .success(let file)?: return file.path
        case .failure(let error)?: throw NodeError.openFailed(error.text)
        case nil: throw NodeError.openFailed("backup produced nothing")
        }
    }
}

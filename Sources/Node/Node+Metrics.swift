import CoreMetrics
import Foundation

extension Node {
    /// Sets the gauges that describe the node's current state; called just before `/metrics` is rendered,
    /// so a scrape reports the state at that moment. Counters and latency histograms are recorded where
    /// the events happen (requests, fsyncs, snapshots).
    public func refreshMetrics() {
        let view = raft
        let s = status
        Gauge(label: "raftlite_raft_term").record(Int64(view.term))
        Gauge(label: "raftlite_raft_commit_index").record(Int64(view.commitIndex))
        Gauge(label: "raftlite_raft_applied_index").record(Int64(view.appliedIndex))
        Gauge(label: "raftlite_raft_last_log_index").record(Int64(view.lastLogIndex))
        Gauge(label: "raftlite_raft_last_snapshot_index").record(Int64(view.snapshotIndex))
        Gauge(label: "raftlite_raft_log_size_bytes").record(view.logSize)
        for role in ["leader", "follower", "candidate", "pre-candidate"] {
            Gauge(label: "raftlite_raft_role", dimensions: [("role", role)]).record(view.role.rawValue == role ? 1 : 0)
        }
        Gauge(label: "raftlite_raft_leader_known").record(view.leaderID == nil ? 0 : 1)
        Gauge(label: "raftlite_cluster_voters").record(Int64(view.members.filter { $0.voter }.count))
        Gauge(label: "raftlite_cluster_nonvoters").record(Int64(view.members.filter { !$0.voter }.count))
        for f in view.followers {
            Gauge(label: "raftlite_raft_follower_lag_entries", dimensions: [("follower", f.id)])
                .record(Int64(view.lastLogIndex) - Int64(f.match))
            Gauge(label: "raftlite_raft_follower_match_index", dimensions: [("follower", f.id)]).record(Int64(f.match))
        }
        Gauge(label: "raftlite_node_ready").record(readiness().storeReady ? 1 : 0)
        Gauge(label: "raftlite_node_uptime_seconds").record(Date().timeIntervalSince(s.startTime))
        Gauge(label: "raftlite_db_size_bytes").record(Self.fileSize(configuration.databasePath))
        Gauge(label: "raftlite_db_wal_size_bytes").record(Self.fileSize(configuration.databasePath + "-wal"))
        if let uploader = uploaderBox.withLock({ $0 }) {
            let c = uploader.counters
            for (result, value) in [("ok", c.ok), ("failed", c.failed), ("skipped", c.skipped), ("skipped_id", c.skippedID)] {
                Gauge(label: "raftlite_auto_backup_uploads", dimensions: [("result", result)]).record(value)
            }
        }
    }
}

/// Events recorded by the Raft worker.
enum WorkerMetrics {
    static let fsync = Timer(label: "raftlite_log_fsync_seconds")
    static let entriesPerFsync = Recorder(label: "raftlite_log_entries_per_fsync", aggregate: true)
    static let snapshotsTaken = Counter(label: "raftlite_snapshots_total", dimensions: [("result", "ok")])
    static let snapshotsFailed = Counter(label: "raftlite_snapshots_total", dimensions: [("result", "failed")])
    static let snapshotDuration = Timer(label: "raftlite_snapshot_duration_seconds")
    static let snapshotsSent = Counter(label: "raftlite_snapshots_sent_total")
    static let snapshotsInstalled = Counter(label: "raftlite_snapshots_installed_total")
    static let proposals = Counter(label: "raftlite_raft_proposals_total")
    static let applied = Counter(label: "raftlite_raft_entries_applied_total")
}

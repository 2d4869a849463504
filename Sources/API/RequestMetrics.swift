import CoreMetrics
import Dispatch

/// Request counts and latency per endpoint, reported through swift-metrics (exported at `/metrics` by
/// whichever backend the daemon bootstraps).
enum RequestMetrics {
    static func record(endpoint: String, method: String, status: Int, since start: UInt64) {
        let elapsed = DispatchTime.now().uptimeNanoseconds &- start
        Counter(
            label: "raftlite_http_requests_total",
            dimensions: [("endpoint", endpoint), ("method", method), ("status", String(status))]
        ).increment()
        Timer(label: "raftlite_http_request_duration_seconds", dimensions: [("endpoint", endpoint)])
            .recordNanoseconds(Int64(clamping: elapsed))
    }
}

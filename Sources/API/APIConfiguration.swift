import JSON

/// What the API needs to know about its node and its deployment.
public struct APIConfiguration: Sendable {
    /// This node's advertised HTTP address, `host:port` without scheme (`X-RQLITE-SERVED-BY`).
    public var advertisedAddress: String
    /// The address the HTTP server listens on (`/status` → `http.bind_addr`).
    public var bindAddress: String
    /// `-http-allow-origin`; nil leaves `Access-Control-Allow-Origin` unset.
    public var allowOrigin: String?
    /// Directory served under `/console/` (nil: `/console/...` answers 404).
    public var publicDirectory: String?
    /// The credential store; nil means authentication is disabled.
    public var auth: AuthStore?
    /// `X-RQLITE-VERSION` (`unknown` when empty).
    public var version: String
    /// Default of `timeout` (seconds): forwarding, node probes, sync.
    public var defaultTimeout: Double
    /// Default of `linearizable_timeout` for `/db/query` (seconds).
    public var defaultLinearizableTimeout: Double
    /// Extra members of the `/status` → `http` section (e.g. `cluster`, `queue`), written after the ones
    /// the API knows itself, then all sorted as Go sorts map keys.
    public var extraHTTPStatus: [(String, JSONValue)]
    /// Renders `/metrics` (the Prometheus text exposition format); nil answers 404.
    public var metrics: (@Sendable () -> [UInt8])? = nil
    /// A monotonic clock in seconds, for `timings`.
    public var clock: @Sendable () -> Double
    /// Random bits for rewriting `RANDOM()`/`RANDOMBLOB(N)` (REFERENCE §3); nil: the system generator.
    public var randomSource: (@Sendable () -> UInt64)? = nil
    /// Wall-clock time in seconds since the Unix epoch, for rewriting `'now'`; nil: the system clock.
    public var wallClock: (@Sendable () -> Double)? = nil
    /// Queued writes (REFERENCE §4): `-write-queue-capacity` (requests held before writers wait).
    public var writeQueueCapacity: Int = 1024
    /// `-write-queue-batch-size`: requests per batch.
    public var writeQueueBatchSize: Int = 128
    /// `-write-queue-timeout` in seconds: a batch is written this long after its first request at the latest.
    public var writeQueueTimeout: Double = 0.05
    /// `-write-queue-tx`: wrap each batch in a transaction.
    public var writeQueueTransaction: Bool = false
    /// Seconds between attempts to write a batch that failed (no leader, leadership lost, ...).
    public var writeQueueRetryInterval: Double = 1
    /// The first queued write's sequence number minus one; nil: the start time in Unix nanoseconds.
    public var writeQueueSequenceStart: Int64? = nil
    /// How long `shutdown()` keeps trying to write what is queued before giving up (seconds).
    public var writeQueueDrainTimeout: Double = 10
    /// Largest SQL-text body `/db/load` executes (it runs from memory, in one transaction); larger ones
    /// get 413. SQLite images have no such cap: they are loaded from the spooled file in chunks.
    public var maxSQLLoadBytes: Int = 64 << 20
    /// Where an in-memory database image is written before it is loaded (when the server did not spool the
    /// body to a file); nil: the system's temporary directory.
    public var scratchDirectory: String? = nil

    public init(
        advertisedAddress: String, bindAddress: String? = nil, allowOrigin: String? = nil,
        publicDirectory: String? = nil, auth: AuthStore? = nil, version: String = "unknown",
        defaultTimeout: Double = 30, defaultLinearizableTimeout: Double = 10,
        extraHTTPStatus: [(String, JSONValue)] = [], clock: (@Sendable () -> Double)? = nil
    ) {
        self.advertisedAddress = advertisedAddress
        self.bindAddress = bindAddress ?? advertisedAddress
        self.allowOrigin = allowOrigin
        self.publicDirectory = publicDirectory
        self.auth = auth
        self.version = version.isEmpty ? "unknown" : version
        self.defaultTimeout = defaultTimeout
        self.defaultLinearizableTimeout = defaultLinearizableTimeout
        self.extraHTTPStatus = extraHTTPStatus
        self.clock = clock ?? MonotonicClock.seconds
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

enum MonotonicClock {
    @Sendable static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

enum WallClock {
    /// Now, in nanoseconds since the Unix epoch.
    static func unixNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

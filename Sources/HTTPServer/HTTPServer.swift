import CMicroHTTPD

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP/1.1 server over libmicrohttpd: an epoll thread pool parses requests, the application's
/// `HTTPHandler` answers them synchronously or later (the connection is suspended meanwhile).
///
/// Lifecycle: `init` → `start()` → `shutdown(gracePeriod:)`. Dropping a running server shuts it down
/// without a grace period.
public final class HTTPServer: Sendable {
    public let configuration: Configuration
    let core: ServerCore
    private let state = Locked(State())

    private struct State {
        var phase: Phase = .idle
        var daemon: OpaquePointer?
        var listenFD: Int32 = -1
        var port: Int = 0
        var settings: UnsafeMutablePointer<raftlite_mhd_settings>?
    }
    private enum Phase { case idle, running, stopped }

    public init(configuration: Configuration = Configuration(), handler: any HTTPHandler) {
        self.configuration = configuration
        self.core = ServerCore(configuration: configuration, handler: handler)
    }

    deinit {
        shutdown(gracePeriod: .zero)
    }

    /// Binds and starts serving. Throws `HTTPServerError` (address in use, unresolvable host, ...).
    public func start() throws {
        try state.withLock { (s: inout State) throws in
            guard s.phase == .idle else {
                throw HTTPServerError(kind: .invalidState, description: "http server already started or stopped")
            }
            let fd = try ListenSocket.open(host: configuration.host, port: configuration.port)
            let settings = UnsafeMutablePointer<raftlite_mhd_settings>.allocate(capacity: 1)
            let flags =
                MHD_USE_EPOLL_INTERNAL_THREAD.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
                | MHD_USE_ERROR_LOG.rawValue
            settings.initialize(
                to: raftlite_mhd_settings(
                    flags: flags, listen_fd: fd, thread_pool_size: UInt32(max(1, configuration.threadPoolSize)),
                    connection_limit: UInt32(max(0, configuration.connectionLimit)),
                    connection_timeout: UInt32(max(0, configuration.connectionTimeout)),
                    connection_memory_limit: max(0, configuration.connectionMemoryLimit),
                    access_handler: Callbacks.access, request_completed: Callbacks.completed,
                    uri_log: Callbacks.uriLog, notify_connection: Callbacks.connectionNotify, log: Callbacks.log,
                    cls: Unmanaged.passUnretained(core).toOpaque()))
            guard let daemon = raftlite_mhd_start(settings) else {
                close(fd)
                settings.deallocate()
                throw HTTPServerError(
                    kind: .daemon,
                    description: "listen tcp \(ListenSocket.displayAddress(host: configuration.host, port: configuration.port)): libmicrohttpd failed to start")
            }
            var port = Int(raftlite_mhd_bound_port(daemon))
            if port <= 0 { port = ListenSocket.localPort(fd) }
            s.daemon = daemon
            s.listenFD = fd
            s.port = port
            s.settings = settings
            s.phase = .running
        }
    }

    /// The port actually bound (useful with port 0); 0 before `start()`.
    public var boundPort: Int {
        state.withLock { $0.port }
    }

    /// A snapshot of the counters.
    public var stats: HTTPServerStats {
        core.counters.withLock { $0 }
    }

    /// Stops accepting connections, lets requests already handed to the handler finish for up to
    /// `gracePeriod`, answers any still pending with 503, then stops the daemon and its threads.
    /// Idempotent. Must not be called from inside a handler.
    public func shutdown(gracePeriod: Duration = .seconds(5)) {
        struct Taken: @unchecked Sendable {
            var daemon: OpaquePointer
            var settings: UnsafeMutablePointer<raftlite_mhd_settings>
        }
        let taken = state.withLock { (s: inout State) -> Taken? in
            guard s.phase == .running, let daemon = s.daemon, let settings = s.settings else {
                s.phase = .stopped
                return nil
            }
            s.phase = .stopped
            let result = Taken(daemon: daemon, settings: settings)
            s.daemon = nil
            s.settings = nil
            s.listenFD = -1
            return result
        }
        guard let taken else { return }
        let daemon = taken.daemon
        let settings = taken.settings

        core.draining.store(true, ordering: .relaxed)
        let quiesced = MHD_quiesce_daemon(daemon)
        if quiesced >= 0 {
            close(quiesced)  // After quiescing the listening socket is ours to close.
        }  // Otherwise libmicrohttpd keeps it and closes it in MHD_stop_daemon.

        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: gracePeriod)
        waitUntilIdle(until: deadline)

        // Past the grace period: nothing new reaches the handler, and whatever still waits gets a 503,
        // which also resumes its connection (stopping the daemon with suspended connections aborts).
        for context in core.refuseNewAndCollect() {
            context.respond(ResponseBuilder.text(503, "server shutting down\n"), forced: true)
        }
        waitUntilIdle(until: clock.now.advanced(by: .milliseconds(500)))

        MHD_stop_daemon(daemon)
        settings.deinitialize(count: 1)
        settings.deallocate()
    }

    private func waitUntilIdle(until deadline: ContinuousClock.Instant) {
        let clock = ContinuousClock()
        while core.counters.withLock({ $0.inFlight }) > 0, clock.now < deadline {
            usleep(2_000)
        }
    }
}

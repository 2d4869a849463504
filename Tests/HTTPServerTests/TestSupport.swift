import Glibc
import HTTPServer

/// A handler made of a closure.
struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPRequest, @escaping HTTPResponder) -> Void
    init(_ body: @escaping @Sendable (HTTPRequest, @escaping HTTPResponder) -> Void) { self.body = body }
    func handle(_ request: HTTPRequest, respond: @escaping HTTPResponder) { body(request, respond) }
}

/// Echoes the request: body back, and what the server parsed in headers.
let echoHandler = ClosureHandler { request, respond in
    let names = request.headers.map(\.name).joined(separator: ",")
    respond(
        HTTPResponse(
            status: 200,
            headers: [
                ("X-Method", request.method), ("X-Path", request.path), ("X-Query", request.rawQuery),
                ("X-Header-Names", names), ("X-Remote", request.remoteAddress),
                ("X-Body-Count", String(request.body.count)),
            ],
            body: .bytes(request.body)))
}

/// Holds responders the test releases when it chooses (the "slow application").
final class ParkedResponders: Sendable {
    private let parked = TestLocked<[(HTTPRequest, HTTPResponder)]>([])
    var count: Int { parked.withLock { $0.count } }
    func park(_ request: HTTPRequest, _ respond: @escaping HTTPResponder) {
        parked.withLock { $0.append((request, respond)) }
    }
    func take() -> [(HTTPRequest, HTTPResponder)] {
        parked.withLock { list in
            defer { list = [] }
            return list
        }
    }
}

/// Polls `condition` until it holds or the deadline passes (no fixed sleeps in tests).
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}

/// Starts a server on 127.0.0.1 with an ephemeral port, runs `body`, always shuts it down.
func withServer<T>(
    _ configuration: HTTPServer.Configuration = quietConfiguration(), handler: any HTTPHandler,
    _ body: (HTTPServer) throws -> T
) throws -> T {
    let server = HTTPServer(configuration: configuration, handler: handler)
    try server.start()
    defer { server.shutdown(gracePeriod: .seconds(2)) }
    return try body(server)
}

/// Collected server log lines (libmicrohttpd is chatty about bad clients).
let serverLog = TestLocked<[String]>([])

func quietConfiguration(
    host: String = "127.0.0.1", threadPoolSize: Int = 4, maxBodyBytes: Int = 64 << 20,
    connectionTimeout: Int = 30
) -> HTTPServer.Configuration {
    HTTPServer.Configuration(
        host: host, port: 0, threadPoolSize: threadPoolSize, maxBodyBytes: maxBodyBytes,
        connectionTimeout: connectionTimeout, log: { line in serverLog.withLock { $0.append(line) } })
}

/// Runs `work` on a new thread (for clients that must run concurrently with the test).
func spawn(_ work: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box { let work: @Sendable () -> Void; init(_ w: @escaping @Sendable () -> Void) { work = w } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(work)).toOpaque()
    pthread_create(
        &thread, nil,
        { raw in
            let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
            box.work()
            return nil
        }, box)
    return thread
}

func join(_ thread: pthread_t) { pthread_join(thread, nil) }

/// A value behind a pthread mutex (visible to ThreadSanitizer, unlike the futex-based stdlib Mutex).
final class TestLocked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

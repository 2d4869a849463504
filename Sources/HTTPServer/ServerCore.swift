import CMicroHTTPD
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// State shared by the libmicrohttpd callbacks of one running server (their `cls`).
final class ServerCore: @unchecked Sendable {
    let configuration: HTTPServer.Configuration
    let handler: any HTTPHandler
    let counters = Locked(HTTPServerStats())

    /// Requests handed to the handler and not yet finished, plus the shutdown gate that refuses new ones.
    private let registry = Locked(Registry())
    private struct Registry {
        var inFlight: [ObjectIdentifier: RequestContext] = [:]
        var refusing = false
    }

    /// Set when shutdown begins: responses then carry `Connection: close`.
    let draining = Atomic<Bool>(false)

    init(configuration: HTTPServer.Configuration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    func log(_ message: String) {
        if let sink = configuration.log {
            sink(message)
        } else {
            let line = Array("http: \(message)\n".utf8)
            line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        }
    }

    /// Records a request as in flight; false when the server is past its grace period and refuses work.
    func register(_ context: RequestContext) -> Bool {
        registry.withLock { r in
            if r.refusing { return false }
            r.inFlight[ObjectIdentifier(context)] = context
            return true
        }
    }

    func unregister(_ context: RequestContext) {
        _ = registry.withLock { $0.inFlight.removeValue(forKey: ObjectIdentifier(context)) }
    }

    /// Closes the gate and returns the requests still waiting for the application.
    func refuseNewAndCollect() -> [RequestContext] {
        registry.withLock { r in
            r.refusing = true
            return Array(r.inFlight.values)
        }
    }

    func count(_ update: (inout HTTPServerStats) -> Void) {
        counters.withLock { update(&$0) }
    }
}

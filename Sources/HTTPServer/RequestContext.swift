import CMicroHTTPD
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One request's state, from the request line (MHD_OPTION_URI_LOG_CALLBACK allocates it and it becomes
/// the request's `con_cls`) to MHD_OPTION_NOTIFY_COMPLETED (which releases it).
///
/// Fields without a lock are touched only by the libmicrohttpd thread that owns the connection (a
/// connection stays on one pool thread). `shared` is the meeting point with the application's responder,
/// which may run on any thread; see DESIGN.md for the suspend/resume protocol.
final class RequestContext: @unchecked Sendable {
    let core: ServerCore
    /// The request target exactly as sent (path and raw query).
    let rawTarget: String
    /// The connection; used off the MHD thread only to resume it while `shared.suspended` is true.
    let connection: OpaquePointer?

    // MHD-thread-only state.
    var headersSeen = false
    var body: [UInt8] = []
    var bodyBytesReceived = 0
    var tooLarge = false
    var dispatched = false
    /// A 413 has been queued for this request.
    var rejected = false
    var method = ""
    var path = ""
    /// The body goes to `spool` (a file) rather than `body`.
    var spooling = false
    var spool: BodySpool?

    struct Shared {
        /// A response given by the application and not yet queued.
        var response: HTTPResponse?
        /// The responder has been called (later calls are ignored).
        var responded = false
        /// The connection is suspended waiting for `response`.
        var suspended = false
        /// libmicrohttpd reported the request finished; the connection must not be touched any more.
        var finished = false
    }
    let shared = Locked(Shared())

    init(core: ServerCore, rawTarget: String, connection: OpaquePointer?) {
        self.core = core
        self.rawTarget = rawTarget
        self.connection = connection
        core.count { $0.liveRequestContexts += 1 }
    }

    deinit {
        spool?.discard()
        core.count { $0.liveRequestContexts -= 1 }
    }

    enum Next {
        case queue(HTTPResponse)
        case suspended
    }

    /// Called on the MHD thread after the handler returned, and again after each resume: takes the
    /// response if there is one, otherwise suspends the connection. Suspending happens under the lock, so
    /// a responder either finds `suspended == true` (and resumes) or ran before (and left `response`).
    func takeResponseOrSuspend() -> Next {
        shared.withLock { s -> Next in
            if let response = s.response {
                s.response = nil
                return .queue(response)
            }
            MHD_suspend_connection(connection)
            s.suspended = true
            core.count { $0.suspended += 1 }
            return .suspended
        }
    }

    /// The responder. Any thread, any time; only the first call counts.
    func respond(_ response: HTTPResponse, forced: Bool = false) {
        enum Outcome { case duplicate, stored, resume, gone }
        let outcome = shared.withLock { s -> Outcome in
            if s.responded { return .duplicate }
            s.responded = true
            if s.finished { return .gone }
            s.response = response
            if s.suspended {
                s.suspended = false
                core.count { $0.suspended -= 1 }
                return .resume
            }
            return .stored
        }
        switch outcome {
        case .resume:
            // The connection cannot finish while suspended, and only this call unsuspends it.
            MHD_resume_connection(connection)
        case .duplicate where !forced:
            core.count { $0.duplicateResponses += 1 }
            core.log("responder called more than once for \(method) \(path); later response ignored")
        case .duplicate, .stored, .gone:
            break
        }
    }

    /// libmicrohttpd is done with the request (sent, failed, or connection closed).
    func finish() {
        spool?.discard()
        spool = nil
        shared.withLock { s in
            s.finished = true
            s.response = nil
            if s.suspended {  // Not reachable with the shutdown protocol; keep the counter honest anyway.
                s.suspended = false
                core.count { $0.suspended -= 1 }
            }
        }
    }
}

/// A request body being written to a file as it arrives. MHD-thread-only, like the rest of the
/// per-request state; the file is deleted when the request is over.
final class BodySpool {
    let path: String
    private var fd: Int32
    /// The first write error; the request is then answered 500 and the file dropped.
    private(set) var failure: String?

    init?(directory: String) {
        var template = Array((directory + "/raftlite-upload-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func write(_ data: UnsafeRawPointer, count: Int) {
        guard failure == nil, fd >= 0 else { return }
        var offset = 0
        while offset < count {
            let n = systemWrite(fd, data + offset, count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
                return
            }
            offset += n
        }
    }

    /// Closes the file, keeping it for the handler.
    func seal() {
        if fd >= 0 { systemClose(fd) }
        fd = -1
    }

    /// Closes and deletes the file.
    func discard() {
        seal()
        unlink(path)
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
private func systemClose(_ fd: Int32) { _ = close(fd) }

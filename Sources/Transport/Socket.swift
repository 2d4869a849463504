import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Seconds on the monotonic clock; immune to wall-clock steps.
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func errnoDescription(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Why a socket operation stopped.
enum SocketFailure: Error, Sendable, Equatable {
    /// The peer closed its side (recv returned 0).
    case eof
    /// No progress within the allowed time.
    case timeout
    /// The transport's wake pipe fired (shutdown), or the socket was shut down locally.
    case shutdown
    case io(Int32)

    var reason: String {
        switch self {
        case .eof: "connection closed by peer"
        case .timeout: "timed out"
        case .shutdown: "transport shut down"
        case .io(let code): errnoDescription(code)
        }
    }
}

/// Waits until `fd` reports one of `events` (or an error/hang-up, which the next recv/send reports), or the wake
/// descriptor becomes readable (throws `.shutdown`), or `timeout` seconds pass (returns false). `nil` waits forever.
func waitFor(_ fd: Int32, events: Int32, wake: Int32, timeout: Double?) throws(SocketFailure) -> Bool {
    let deadline = timeout.map { monotonicNow() + max(0, $0) }
    while true {
        var ms: Int32 = -1
        if let deadline {
            let remaining = deadline - monotonicNow()
            ms = remaining <= 0 ? 0 : Int32(min((remaining * 1000).rounded(.up), Double(Int32.max)))
        }
        var fds = (
            pollfd(fd: fd, events: Int16(events), revents: 0),
            pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
        )
        let r = withUnsafeMutableBytes(of: &fds) {
            poll($0.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, ms)
        }
        if r < 0 {
            if errno == EINTR { continue }
            throw .io(errno)
        }
        if fds.1.revents != 0 { throw .shutdown }
        if fds.0.revents != 0 { return true }
        if let deadline, monotonicNow() >= deadline { return false }
    }
}

/// Receives at least one byte into `buffer` (a non-blocking socket), waiting at most `timeout` for it.
func receiveSome(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, wake: Int32, timeout: Double?
) throws(SocketFailure) -> Int {
    while true {
        let n = recv(fd, buffer.baseAddress, buffer.count, 0)
        if n > 0 { return n }
        if n == 0 { throw .eof }
        let code = errno
        if code == EINTR { continue }
        guard code == EAGAIN || code == EWOULDBLOCK else { throw .io(code) }
        guard try waitFor(fd, events: Int32(POLLIN), wake: wake, timeout: timeout) else { throw .timeout }
    }
}

/// Writes all of `bytes` to a non-blocking socket. `timeout` bounds each wait for buffer space (progress-based),
/// so a peer that stops reading fails the write after `timeout` without progress.
func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, wake: Int32, timeout: Double) throws(SocketFailure) {
    var offset = 0
    while offset < bytes.count {
        let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
        if n > 0 {
            offset += n
            continue
        }
        let code = n < 0 ? errno : EPIPE
        if code == EINTR { continue }
        guard code == EAGAIN || code == EWOULDBLOCK else { throw .io(code) }
        guard try waitFor(fd, events: Int32(POLLOUT), wake: wake, timeout: timeout) else { throw .timeout }
    }
}

/// `sendAll` over an array.
func sendAll(_ fd: Int32, _ bytes: [UInt8], wake: Int32, timeout: Double) throws(SocketFailure) {
    let result = bytes.withUnsafeBytes { raw in
        Result { () throws(SocketFailure) in try sendAll(fd, raw, wake: wake, timeout: timeout) }
    }
    try result.get()
}

/// A socket descriptor that any thread may use and any thread may close, without ever touching a descriptor
/// number that has been closed and reused.
///
/// Lock discipline: `condition` guards `descriptor`, `users` and `shutDown`. IO runs inside `withDescriptor`,
/// which pins the descriptor (`users += 1`) without holding the lock during the IO. `shutdown()` calls
/// `shutdown(2)`, which wakes pinned users blocked in poll/recv/send, and refuses new pins. `close()` shuts down,
/// waits for `users == 0`, then closes. `close()` MUST NOT be called from inside `withDescriptor` (it would wait
/// for itself); code holding a pin calls `shutdown()` and leaves closing to the owner.
final class Socket: @unchecked Sendable {
    private let condition = NSCondition()
    private var descriptor: Int32
    private var users = 0
    private var shutDown = false

    init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    /// Pins the descriptor for IO by the calling thread; nil once the socket has been shut down. Every successful
    /// `pin()` MUST be balanced by `unpin()`.
    func pin() -> Int32? {
        condition.lock()
        defer { condition.unlock() }
        guard !shutDown, descriptor >= 0 else { return nil }
        users += 1
        return descriptor
    }

    func unpin() {
        condition.lock()
        users -= 1
        if users == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Runs `body` with the descriptor pinned; throws `.shutdown` once the socket has been shut down.
    func withDescriptor<T>(_ body: (Int32) throws(SocketFailure) -> T) throws(SocketFailure) -> T {
        guard let fd = pin() else { throw .shutdown }
        defer { unpin() }
        return try body(fd)
    }

    /// Shuts the connection down in both directions and wakes every pinned user. Idempotent; any thread.
    func shutdown() {
        condition.lock()
        defer { condition.unlock() }
        guard !shutDown, descriptor >= 0 else { return }
        shutDown = true
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Shuts down, waits until no thread uses the descriptor, closes it. Idempotent.
    func close() {
        shutdown()
        condition.lock()
        while users > 0 { condition.wait() }
        let fd = descriptor
        descriptor = -1
        condition.unlock()
        if fd >= 0 { Glibc.close(fd) }
    }
}

/// A parsed `host:port` (`[v6]:port` for IPv6 literals). An empty host means "all interfaces" for listening.
struct HostPort: Sendable, Equatable {
    var host: String
    var port: UInt16

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    init(parsing address: String) throws(TransportError) {
        var host: Substring
        var port: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]") else { throw .invalidAddress(address) }
            host = address[address.index(after: address.startIndex)..<close]
            let rest = address[address.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalidAddress(address) }
            port = rest.dropFirst()
        } else {
            guard let colon = address.lastIndex(of: ":") else { throw .invalidAddress(address) }
            host = address[..<colon]
            port = address[address.index(after: colon)...]
            if host.contains(":") { throw .invalidAddress(address) }  // bare IPv6 literal: brackets required
        }
        guard !port.isEmpty, port.allSatisfy(\.isASCII), let number = UInt16(port) else {
            throw .invalidAddress(address)
        }
        self.host = String(host)
        self.port = number
    }
}

/// One resolved socket address.
private struct ResolvedAddress {
    var family: Int32
    var storage: sockaddr_storage
    var length: socklen_t
}

private func resolve(_ hostPort: HostPort, passive: Bool, original: String) throws(TransportError) -> [ResolvedAddress]
{
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
    var result: UnsafeMutablePointer<addrinfo>?
    let port = String(hostPort.port)
    let rc: Int32 =
        hostPort.host.isEmpty
        ? getaddrinfo(nil, port, &hints, &result)
        : getaddrinfo(hostPort.host, port, &hints, &result)
    guard rc == 0 else {
        throw .connectFailed(address: original, reason: "cannot resolve: \(String(cString: gai_strerror(rc)))")
    }
    defer { freeaddrinfo(result) }
    var out: [ResolvedAddress] = []
    var cursor = result
    while let info = cursor {
        if let address = info.pointee.ai_addr, Int(info.pointee.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size {
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) {
                $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(info.pointee.ai_addrlen)))
            }
            out.append(
                ResolvedAddress(family: info.pointee.ai_family, storage: storage, length: info.pointee.ai_addrlen))
        }
        cursor = info.pointee.ai_next
    }
    // With an empty host and AI_PASSIVE, prefer IPv6 (dual-stack on Linux) so one listener serves both families.
    if passive && hostPort.host.isEmpty { out.sort { $0.family == AF_INET6 && $1.family != AF_INET6 } }
    guard !out.isEmpty else { throw .connectFailed(address: original, reason: "no addresses") }
    return out
}

private func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
    var v = value
    _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
}

/// Sets the options every transport connection uses: no Nagle delay (Raft messages are latency-bound, and the
/// writers batch), and TCP keep-alive so a silently vanished peer is noticed on an otherwise idle connection.
func configureConnection(_ fd: Int32) {
    setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
    setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, 15)
    setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, 5)
    setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, 3)
}

/// Dials `address` with a connect timeout, trying each resolved address in turn within the one deadline.
/// Returns a connected, non-blocking, close-on-exec descriptor.
func dialSocket(_ address: String, timeout: Double, wake: Int32) throws(TransportError) -> Int32 {
    let target = try HostPort(parsing: address)
    if target.host.isEmpty { throw .invalidAddress(address) }
    let candidates = try resolve(target, passive: false, original: address)
    let deadline = monotonicNow() + timeout
    var lastReason = "no addresses"
    for var candidate in candidates {
        let fd = socket(
            candidate.family,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0)
        guard fd >= 0 else {
            lastReason = "socket: \(errnoDescription(errno))"
            continue
        }
        let rc = withUnsafePointer(to: &candidate.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, candidate.length) }
        }
        var failure: String?
        if rc != 0 {
            let code = errno
            if code == EINPROGRESS || code == EINTR {
                do {
                    if try waitFor(fd, events: Int32(POLLOUT), wake: wake, timeout: deadline - monotonicNow()) {
                        var soError: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                        if soError != 0 { failure = errnoDescription(soError) }
                    } else {
                        failure = "connect timed out after \(timeout)s"
                    }
                } catch .shutdown {
                    Glibc.close(fd)
                    throw .shutdown
                } catch {
                    failure = error.reason
                }
            } else {
                failure = errnoDescription(code)
            }
        }
        if let failure {
            Glibc.close(fd)
            lastReason = failure
            if monotonicNow() >= deadline { break }
            continue
        }
        configureConnection(fd)
        return fd
    }
    throw .connectFailed(address: address, reason: lastReason)
}

/// Binds and listens on `address` (port 0 picks a free port). Returns the descriptor and the bound port.
func listenSocket(_ address: String, backlog: Int32) throws(TransportError) -> (descriptor: Int32, port: Int) {
    let target = try HostPort(parsing: address)
    let candidates = try resolve(target, passive: true, original: address)
    var lastReason = "no addresses"
    for var candidate in candidates {
        let fd = socket(
            candidate.family,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0)
        guard fd >= 0 else {
            lastReason = "socket: \(errnoDescription(errno))"
            continue
        }
        // Rebinding the same port right after a restart must not wait for TIME_WAIT connections to expire.
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        let bound = withUnsafePointer(to: &candidate.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, candidate.length) }
        }
        guard bound == 0, Glibc.listen(fd, backlog) == 0 else {
            lastReason = errnoDescription(errno)
            Glibc.close(fd)
            continue
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let port: UInt16 =
            Int32(storage.ss_family) == AF_INET6
            ? withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self).sin6_port }
            : withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self).sin_port }
        return (fd, Int(UInt16(bigEndian: port)))
    }
    throw .listenFailed(address: address, reason: lastReason)
}

/// Accepts one pending connection as a non-blocking, close-on-exec descriptor; nil when none is pending.
func acceptConnection(_ listener: Int32) throws(SocketFailure) -> Int32? {
    while true {
        let fd = accept(listener, nil, nil)
        if fd >= 0 {
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            configureConnection(fd)
            return fd
        }
        let code = errno
        switch code {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO: return nil
        default: throw .io(code)
        }
    }
}

/// True when a connection we only write to has been closed or reset by the peer (or sent bytes it never should).
func peerHasClosed(_ fd: Int32) -> Bool {
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&pfd, 1, 0) > 0 else { return false }
    if pfd.revents & Int16(POLLERR | POLLHUP) != 0 { return true }
    var byte: UInt8 = 0
    let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return false }
    return true
}

import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP forwarder on 127.0.0.1 that limits the bandwidth of what its clients send to the target (the
/// replies flow unthrottled), for tests of slow peers: a node advertises the proxy as its Raft address
/// (`-raft-adv-addr`), so everything the other nodes send it — AppendEntries, snapshot chunks — crawls.
/// The limit is shared by all connections and can be changed (or lifted with 0) while traffic flows.
/// `stop()` closes every socket; the threads end with them.
public final class ThrottledProxy: @unchecked Sendable {
    public let port: Int
    public let targetPort: Int
    private let listenFD: Int32
    private let state = Mutex<(rate: Int, nextFree: Double, fds: [Int32], stopped: Bool, forwarded: Int)>((0, 0, [], false, 0))

    /// Listens on a free port of 127.0.0.1 and forwards to `127.0.0.1:targetPort` at `bytesPerSecond`
    /// (0 = unlimited).
    public init(targetPort: Int, bytesPerSecond: Int) throws {
        self.targetPort = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterError("proxy socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else {
            close(fd)
            throw ClusterError("proxy bind/listen: \(errno)")
        }
        listenFD = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        state.withLock { $0.rate = bytesPerSecond }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Changes the limit; 0 lifts it.
    public var bytesPerSecond: Int {
        get { state.withLock { $0.rate } }
        set { state.withLock { $0.rate = newValue } }
    }

    /// Bytes forwarded towards the target so far.
    public var forwardedBytes: Int { state.withLock { $0.forwarded } }

    public func stop() {
        let fds = state.withLock { s -> [Int32] in
            s.stopped = true
            defer { s.fds.removeAll() }
            return s.fds
        }
        shutdown(listenFD, Int32(SHUT_RDWR))
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    deinit {
        stop()
        close(listenFD)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private func acceptLoop() {
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: targetPort)
            let connected = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            let accepted = state.withLock { s -> Bool in
                guard !s.stopped, connected else { return false }
                s.fds += [client, upstream]
                return true
            }
            guard accepted else {
                close(client)
                close(upstream)
                continue
            }
            // Both pumps end when either side closes; the last one out closes both sockets.
            let remaining = Mutex(2)
            let finish: @Sendable () -> Void = { [self] in
                let last = remaining.withLock { n -> Bool in
                    n -= 1
                    return n == 0
                }
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(upstream, Int32(SHUT_RDWR))
                if last {
                    state.withLock { $0.fds.removeAll { $0 == client || $0 == upstream } }
                    close(client)
                    close(upstream)
                }
            }
            Thread.detachNewThread { [self] in
                pump(from: client, to: upstream, throttled: true)
                finish()
            }
            Thread.detachNewThread { [self] in
                pump(from: upstream, to: client, throttled: false)
                finish()
            }
        }
    }

    private func pump(from source: Int32, to destination: Int32, throttled: Bool) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            if throttled { pace(n) }
            var offset = 0
            while offset < n {
                let sent = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
                if sent < 0 && errno == EINTR { continue }
                guard sent > 0 else { return }
                offset += sent
            }
            if throttled { state.withLock { $0.forwarded += n } }
        }
    }

    /// Holds `bytes` back until the shared budget allows them: the limit is a rate, not a burst size.
    private func pace(_ bytes: Int) {
        let now = Date().timeIntervalSinceReferenceDate
        let start = state.withLock { s -> Double in
            guard s.rate > 0 else { return now }
            let start = max(now, s.nextFree)
            s.nextFree = start + Double(bytes) / Double(s.rate)
            return start
        }
        if start > now { Thread.sleep(forTimeInterval: start - now) }
    }
}

import CMicroHTTPD

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Creates the listening socket ourselves (rather than letting libmicrohttpd bind) so that host names,
/// IPv6 literals and bind errors are reported precisely, Go-style.
enum ListenSocket {
    /// Returns a bound, listening, non-blocking socket.
    static func open(host: String, port: Int) throws(HTTPServerError) -> Int32 {
        let display = displayAddress(host: host, port: port)
        guard (0...65535).contains(port) else {
            throw HTTPServerError(kind: .listen, description: "listen tcp \(display): invalid port")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let node: String? = host.isEmpty ? "::" : stripBrackets(host)
        let rc = getaddrinfo(node, String(port), &hints, &result)
        guard rc == 0, let list = result else {
            let reason = String(cString: gai_strerror(rc)).lowercased()
            throw HTTPServerError(kind: .resolve, description: "listen tcp \(display): lookup \(host): \(reason)")
        }
        defer { freeaddrinfo(list) }
        // Prefer IPv4 for names such as `localhost` (as Go does); literals have exactly one entry.
        var candidates: [UnsafeMutablePointer<addrinfo>] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            candidates.append(entry)
            cursor = entry.pointee.ai_next
        }
        if !host.isEmpty {
            candidates.sort { a, b in a.pointee.ai_family == AF_INET && b.pointee.ai_family != AF_INET }
        }
        guard let chosen = candidates.first else {
            throw HTTPServerError(kind: .resolve, description: "listen tcp \(display): lookup \(host): no such host")
        }
        let ai = chosen.pointee
        let fd = socket(ai.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw failure("socket", display) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if ai.ai_family == AF_INET6 {
            // Empty host or `::`: dual-stack "every interface" (as Go does); any other IPv6 address stays
            // IPv6-only.
            var v6only: Int32 = host.isEmpty || stripBrackets(host) == "::" ? 0 : 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &v6only, socklen_t(MemoryLayout<Int32>.size))
        }
        if bind(fd, ai.ai_addr, ai.ai_addrlen) != 0 {
            let error = failure("bind", bindDisplay(ai, fallback: display))
            close(fd)
            throw error
        }
        if listen(fd, SOMAXCONN) != 0 {
            let error = failure("listen", display)
            close(fd)
            throw error
        }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        return fd
    }

    /// The port the kernel gave the socket.
    static func localPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return -1 }
        return withUnsafePointer(to: &storage) { pointer -> Int in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            default:
                return -1
            }
        }
    }

    static func displayAddress(host: String, port: Int) -> String {
        let bare = stripBrackets(host)
        return bare.contains(":") ? "[\(bare)]:\(port)" : "\(bare):\(port)"
    }

    private static func stripBrackets(_ host: String) -> String {
        if host.hasPrefix("["), host.hasSuffix("]") { return String(host.dropFirst().dropLast()) }
        return host
    }

    private static func bindDisplay(_ ai: addrinfo, fallback: String) -> String {
        var buffer = [CChar](repeating: 0, count: 80)
        let rc = buffer.withUnsafeMutableBufferPointer { raftlite_format_sockaddr(ai.ai_addr, $0.baseAddress, $0.count) }
        return rc == 0 ? String(nulTerminated: buffer) : fallback
    }

    private static func failure(_ call: String, _ display: String) -> HTTPServerError {
        let code = errno
        let reason = String(cString: strerror(code)).lowercased()
        let kind: HTTPServerError.Kind = code == EADDRINUSE ? .addressInUse : .listen
        return HTTPServerError(kind: kind, description: "listen tcp \(display): \(call): \(reason)")
    }
}

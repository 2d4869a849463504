extension HTTPServer {
    /// How the server listens and what it accepts.
    public struct Configuration: Sendable {
        /// Address to bind: an IPv4 or IPv6 literal (`127.0.0.1`, `::1`, `0.0.0.0`, `::`), a host name
        /// (`localhost`, resolved; IPv4 preferred), or empty for every interface (dual-stack when possible).
        public var host: String
        /// TCP port; 0 asks the kernel for an ephemeral one (read it back from `boundPort`).
        public var port: Int
        /// Worker threads, each with its own epoll set. They never wait on the application.
        public var threadPoolSize: Int
        /// Largest accepted request body. Beyond it the server answers 413 `request body too large\n`
        /// without buffering the excess.
        public var maxBodyBytes: Int
        /// Bytes past `maxBodyBytes` that are read and thrown away so the 413 can be delivered on a
        /// connection that stays usable. A body declared (Content-Length) larger still gets the 413 right
        /// after its headers and the connection is closed after it; an undeclared (chunked) body that
        /// grows past it gets the connection closed without a response.
        public var maxDiscardBytes: Int
        /// Concurrent connections; further ones wait in the listen backlog until one closes.
        /// 0 = libmicrohttpd's default (the process file-descriptor limit).
        public var connectionLimit: Int
        /// Seconds a connection may stay idle (between requests or mid-request) before it is closed.
        /// 0 = never. A connection whose request is waiting for the application is not timed out.
        public var connectionTimeout: Int
        /// Per-connection memory for the request line, headers and read buffer; a request whose headers do
        /// not fit is refused (431/413 by libmicrohttpd) and the connection closed.
        public var connectionMemoryLimit: Int
        /// Receives libmicrohttpd's error log and the server's own diagnostics. nil = standard error.
        public var log: (@Sendable (String) -> Void)?
        /// Where the bodies of `spooledPaths` requests are written as they arrive, instead of memory (a
        /// directory on the same file system as the data they will become). nil = no spooling.
        public var spoolDirectory: String?
        /// Request paths (percent-decoded, exact) whose bodies are spooled to a file in `spoolDirectory`
        /// and handed over as `HTTPRequest.bodyFile`: bulk uploads such as database images.
        public var spooledPaths: Set<String> = []
        /// Largest accepted spooled body (instead of `maxBodyBytes`); the same 413 beyond it.
        public var maxSpooledBodyBytes: Int = 1 << 40

        public init(
            host: String = "127.0.0.1", port: Int = 0, threadPoolSize: Int = 4,
            maxBodyBytes: Int = 64 << 20, maxDiscardBytes: Int = 16 << 20, connectionLimit: Int = 0,
            connectionTimeout: Int = 60, connectionMemoryLimit: Int = 64 << 10,
            log: (@Sendable (String) -> Void)? = nil
        ) {
            self.host = host
            self.port = port
            self.threadPoolSize = threadPoolSize
            self.maxBodyBytes = maxBodyBytes
            self.maxDiscardBytes = maxDiscardBytes
            self.connectionLimit = connectionLimit
            self.connectionTimeout = connectionTimeout
            self.connectionMemoryLimit = connectionMemoryLimit
            self.log = log
        }
    }
}

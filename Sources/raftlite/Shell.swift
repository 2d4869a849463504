import ArgumentParser
import Common

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `raftlite`: the interactive SQL shell, with rqlite's `rqlite` flags.
struct Shell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftlite",
        abstract: "Interactive SQL shell for Raftlite (and rqlite) nodes.",
        discussion: """
            Statements end with ';' and may span lines; lines starting with '.' are commands (.help lists \
            them). When standard input is not a terminal, SQL is read from it line by line, without prompt \
            or line editing, and the exit status is 1 if any statement or command failed.

            Environment: RQLITE_HOST=[scheme:]//host[:port] supplies what -H, -p and -s leave unset; \
            RAFTLITE_HISTFILESIZE is how many lines ~/.raftlite_history keeps (default 100; 0 deletes it).
            """)

    @Option(name: [.customShort("H"), .long], help: "Node host address (default 127.0.0.1).")
    var host: String?

    @Option(name: [.short, .long], help: "Node HTTP port (default 4001).")
    var port: Int?

    @Option(name: [.customShort("P"), .long], help: "HTTP URL prefix.")
    var prefix: String = "/"

    @Option(name: [.short, .long], help: "Protocol scheme (http; https is not supported yet).")
    var scheme: String?

    @Option(name: [.short, .long], help: "Basic auth credentials in the form username:password.")
    var user: String?

    @Option(name: [.customShort("t"), .customLong("http-timeout")], help: "HTTP timeout (Go duration or seconds; 0 waits forever; not applied to .boot and .restore).")
    var httpTimeout: String = "30s"

    @Option(name: [.short, .long], help: "Comma-separated host:port fallbacks, tried when the current host cannot be reached.")
    var alternatives: String?

    @Flag(name: [.short, .long], help: "Do not verify the node's HTTPS certificate (https is not supported yet).")
    var insecure = false

    @Option(name: [.short, .customLong("ca-cert")], help: "Trusted root CA certificate (https is not supported yet).")
    var caCert: String?

    @Option(name: [.customShort("d"), .customLong("client-cert")], help: "Client certificate (https is not supported yet).")
    var clientCert: String?

    @Option(name: [.customShort("k"), .customLong("client-key")], help: "Client key (https is not supported yet).")
    var clientKey: String?

    @Flag(name: [.short, .long], help: "Print the shell's version and exit.")
    var version = false

    func run() throws {
        if version {
            print("raftlite \(RaftliteVersion.version) (commit \(RaftliteVersion.commit))")
            return
        }
        var resolvedScheme = scheme
        var resolvedHost = host
        var resolvedPort = port
        let env = getenv("RQLITE_HOST").map { String(cString: $0) } ?? ""
        if !env.isEmpty {
            guard let parsed = parseHostEnv(env) else {
                throw ValidationError("RQLITE_HOST must be [scheme:]//host[:port], got \"\(env)\"")
            }
            resolvedScheme = resolvedScheme ?? parsed.scheme
            resolvedHost = resolvedHost ?? parsed.host
            resolvedPort = resolvedPort ?? parsed.port
        }
        let finalScheme = (resolvedScheme ?? "http").lowercased()
        if finalScheme == "https" || insecure || caCert != nil || clientCert != nil || clientKey != nil {
            throw ShellError("https (TLS) is not supported yet by the raftlite shell; use -s http")
        }
        guard finalScheme == "http" else { throw ValidationError("scheme must be http or https, got \"\(finalScheme)\"") }
        let finalPort = resolvedPort ?? 4001
        guard (1...65535).contains(finalPort) else { throw ValidationError("port must be between 1 and 65535") }
        guard let timeout = parseTimeout(httpTimeout) else {
            throw ValidationError("-t/--http-timeout must be a duration such as 30s, 1m or 500ms")
        }
        if let user, !user.contains(":") {
            throw ValidationError("-u/--user must be username:password")
        }
        var endpoints = [Endpoint(host: resolvedHost ?? "127.0.0.1", port: finalPort)]
        if let alternatives {
            for item in alternatives.split(separator: ",") where !item.trimmingSpaces.isEmpty {
                guard let e = Endpoint.parse(String(item)) else {
                    throw ValidationError("-a/--alternatives must be a comma-separated host:port list, got \"\(item)\"")
                }
                if !endpoints.contains(e) { endpoints.append(e) }
            }
        }
        signal(SIGPIPE, SIG_IGN)
        let client = HTTPClient(endpoints: endpoints, prefix: prefix, credentials: user, timeout: timeout)
        let session = Session(client: client)
        let failed = session.run()
        if failed { throw ExitCode(1) }
    }
}

/// `RQLITE_HOST=[scheme:]//host[:port]`.
func parseHostEnv(_ value: String) -> (scheme: String, host: String, port: Int)? {
    var rest = Substring(value)
    var scheme = "http"
    if let range = rest.range(of: "//") {
        let before = rest[..<range.lowerBound]
        if !before.isEmpty {
            guard before.hasSuffix(":") else { return nil }
            scheme = String(before.dropLast()).lowercased()
            guard scheme == "http" || scheme == "https" else { return nil }
        }
        rest = rest[range.upperBound...]
    } else {
        return nil
    }
    if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
    guard let e = Endpoint.parse(String(rest)) else { return nil }
    return (scheme, e.host, e.port)
}

/// `30s`, `1m30s`, `500ms`, `2h`, or plain seconds; nil when malformed.
func parseTimeout(_ text: String) -> Double? {
    if let seconds = Double(text), seconds >= 0 { return seconds }
    var total = 0.0
    var s = Substring(text)
    guard !s.isEmpty else { return nil }
    while !s.isEmpty {
        let number = s.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(number) else { return nil }
        s = s.dropFirst(number.count)
        let unit = s.prefix { !$0.isNumber && $0 != "." }
        s = s.dropFirst(unit.count)
        switch unit {
        case "ns": total += value / 1e9
        case "us", "µs": total += value / 1e6
        case "ms": total += value / 1e3
        case "s": total += value
        case "m": total += value * 60
        case "h": total += value * 3600
        default: return nil
        }
    }
    return total
}

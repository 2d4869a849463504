import Foundation

/// The daemon's configuration, resolved and validated with rqlite's rules (REFERENCE §5), so the same
/// command lines are accepted and refused with the same messages.
struct DaemonConfig {
    var dataPath: String
    var httpAddr: String
    var httpAdv: String
    var raftAddr: String
    var raftAdv: String
    var nodeID: String
    var allowOrigin: String
    var authFile: String
    var publicDir: String
    var foreignKeys: Bool
    var maxReadConnections: Int
    var raftLogLevel: String

    enum Failure: Error {
        /// Print `fatal: <message>`, exit 1.
        case fatal(String)
        /// Print the message as is, exit 1.
        case plain(String)
    }

    init(flags f: FlagSet, positional: [String]) throws(Failure) {
        for name in ["raft-reap-node-timeout", "raft-reap-read-only-node-timeout"] where f.isSet(name) {
            if f.duration(name) <= 0 { throw .fatal("-\(name) must be greater than 0") }
        }
        guard let data = positional.first else { throw .fatal("no data directory set") }
        if positional.count > 1 {
            let rest = positional.dropFirst().joined(separator: " ")
            throw .plain("arguments after data directory (\(data)) are not accepted ([\(rest)])")
        }
        guard !data.isEmpty else { throw .fatal("data directory path is required") }
        dataPath = URL(fileURLWithPath: data).standardizedFileURL.path

        for name in ["auth", "auto-backup", "auto-restore", "http-ca-cert", "http-cert", "http-key",
            "node-ca-cert", "node-cert", "node-key"]
        where !f.string(name).isEmpty && !FileManager.default.fileExists(atPath: f.string(name)) {
            throw .fatal("\(f.string(name)) does not exist")
        }
        for p in f.string("extensions-path").split(separator: ",") where !FileManager.default.fileExists(atPath: String(p)) {
            throw .fatal("extension path does not exist: \(p)")
        }
        if f.string("http-cert").isEmpty != f.string("http-key").isEmpty {
            throw .fatal("either both -http-cert and -http-key must be set, or neither")
        }
        if f.string("node-cert").isEmpty != f.string("node-key").isEmpty {
            throw .fatal("either both -node-cert and -node-key must be set, or neither")
        }

        httpAddr = f.string("http-addr")
        raftAddr = f.string("raft-addr")
        if raftAddr == httpAddr { throw .fatal("HTTP and Raft addresses must differ") }
        raftAdv = f.string("raft-adv-addr").isEmpty ? raftAddr : f.string("raft-adv-addr")
        httpAdv = f.string("http-adv-addr").isEmpty ? httpAddr : f.string("http-adv-addr")
        nodeID = f.string("node-id").isEmpty ? raftAdv : f.string("node-id")

        if httpAddr.lowercased().hasPrefix("http") || httpAdv.lowercased().hasPrefix("http") {
            throw .fatal("HTTP options should not include protocol (http:// or https://)")
        }
        guard HostPort(httpAddr) != nil else { throw .fatal("HTTP bind address not valid") }
        guard let hadv = HostPort(httpAdv) else { throw .fatal("HTTP advertised HTTP address not valid") }
        if hadv.isUnspecified {
            throw .fatal("advertised HTTP address is not routable (\(hadv.host)), specify it via -http-addr or -http-adv-addr")
        }
        guard let rbind = HostPort(raftAddr) else { throw .fatal("raft bind address not valid") }
        guard Int(rbind.port) != nil else { throw .fatal("raft bind port not valid") }
        guard let radv = HostPort(raftAdv) else { throw .fatal("raft advertised address not valid") }
        if radv.isUnspecified {
            throw .fatal("advertised Raft address is not routable (\(radv.host)), specify it via -raft-addr or -raft-adv-addr")
        }
        guard Int(radv.port) != nil else { throw .fatal("raft advertised port is not valid") }
        if raftAdv == httpAdv { throw .fatal("advertised HTTP and Raft addresses must differ") }
        guard let hbind = HostPort(httpAddr), let port = Int(hbind.port), (0...65535).contains(port) else {
            throw .fatal("HTTP bind port not valid")
        }

        if f.uint("bootstrap-expect") > 0 && f.bool("raft-non-voter") {
            throw .fatal("bootstrapping only applicable to voting nodes")
        }
        let join = f.string("join")
        if !join.isEmpty {
            for address in join.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard HostPort(address) != nil else { throw .fatal("\(address) is an invalid join address") }
                if f.uint("bootstrap-expect") == 0 {
                    if address == raftAdv || address == raftAddr {
                        throw .fatal("node cannot join with itself unless bootstrapping")
                    }
                    if !f.string("auto-restore").isEmpty {
                        throw .fatal("auto-restoring cannot be used when joining a cluster")
                    }
                }
            }
            if !f.string("disco-mode").isEmpty {
                throw .fatal("disco mode cannot be used when also explicitly joining a cluster")
            }
        }
        switch f.string("disco-mode") {
        case "": break
        case "etcd-kv", "consul-kv":
            if f.uint("bootstrap-expect") > 0 {
                throw .fatal("bootstrapping not applicable when using \(f.string("disco-mode"))")
            }
        case "dns", "dns-srv":
            if f.uint("bootstrap-expect") == 0 && !f.bool("raft-non-voter") {
                throw .fatal("bootstrap-expect value required when using \(f.string("disco-mode")) with a voting node")
            }
        default:
            throw .fatal("disco mode must be one of consul-kv, etcd-kv, dns, or dns-srv")
        }
        switch f.string("raft-log-level").uppercased() {
        case "ERROR", "WARN", "INFO", "DEBUG": break
        default: throw .fatal("invalid -raft-log-level \"\(f.string("raft-log-level"))\": must be ERROR, WARN, INFO or DEBUG")
        }

        allowOrigin = f.string("http-allow-origin")
        authFile = f.string("auth")
        foreignKeys = f.bool("fk")
        let ro = f.int("db-max-ro-conns")
        if ro < 0 { throw .fatal("-db-max-ro-conns must not be negative") }
        // Reads run on one thread per connection; beyond a few per core they only add contention.
        let useful = max(2, ProcessInfo.processInfo.activeProcessorCount * 2)
        maxReadConnections = ro == 0 ? useful : min(ro, useful)
        raftLogLevel = f.string("raft-log-level").uppercased()
        publicDir = f.string("public-dir")
        if publicDir.isEmpty {
            publicDir = Self.defaultPublicDir()
        } else if !FileManager.default.fileExists(atPath: publicDir + "/index.html") {
            throw .fatal("public directory \(publicDir) has no index.html")
        }
    }

    /// The dashboard next to the binary (`<bin>/public`, `<bin>/../share/raftlite/public`), else `./public`.
    static func defaultPublicDir() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let bin = URL(fileURLWithPath: exe).deletingLastPathComponent()
        let candidates = [
            bin.appendingPathComponent("public").path,
            bin.appendingPathComponent("../share/raftlite/public").standardizedFileURL.path,
            FileManager.default.currentDirectoryPath + "/public",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") } ?? candidates.last!
    }
}

/// `host:port` split as Go's `net.SplitHostPort` does (`[::1]:4001` for IPv6).
struct HostPort {
    var host: String
    var port: String

    init?(_ text: String) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            port = String(rest.dropFirst())
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = String(text[..<colon])
            if host.contains(":") { return nil }  // an IPv6 address must be bracketed
            port = String(text[text.index(after: colon)...])
        }
        if port.contains("[") || port.contains("]") { return nil }
    }

    var isUnspecified: Bool { host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0" }
}

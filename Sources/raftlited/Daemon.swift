import API
import Common
import Foundation
import HTTPServer
import Logging
import Node

enum Daemon {
    /// Starts the HTTP API on the bind address before the node opens, so status answers at once.
    static func startHTTP(config: DaemonConfig, flags: FlagSet, node: Node, logger: Logger) throws -> (
        server: HTTPServer, api: APIHandler
    ) {
        var auth: AuthStore?
        if !config.authFile.isEmpty {
            guard let bytes = FileManager.default.contents(atPath: config.authFile) else {
                throw DaemonError("failed to read auth file \(config.authFile)")
            }
            do {
                auth = try AuthStore(json: Array(bytes))
            } catch {
                throw DaemonError("failed to load auth file \(config.authFile): \(error)")
            }
        }
        let handler = APIHandler(
            database: node, status: node, admin: node, backups: node,
            configuration: APIConfiguration(
                advertisedAddress: config.httpAdv, bindAddress: config.httpAddr,
                allowOrigin: config.allowOrigin.isEmpty ? nil : config.allowOrigin,
                publicDirectory: config.publicDir, auth: auth, version: RaftliteVersion.version,
                writeQueue: flags))
        let bind = HostPort(config.httpAddr)!
        let server = HTTPServer(
            configuration: HTTPServer.Configuration(host: bind.host, port: Int(bind.port)!),
            handler: handler)
        try server.start()
        logger.info("HTTP server listening", metadata: ["http.addr": "\(bind.host):\(server.boundPort)"])
        return (server, handler)
    }

    /// Blocks until SIGTERM or SIGINT arrives; returns its name.
    static func waitForTerminationSignal() -> String {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received == SIGTERM ? "SIGTERM" : "SIGINT"
    }

    /// Blocks SIGTERM/SIGINT in every thread so `waitForTerminationSignal` receives them. Must run before
    /// any thread starts.
    static func blockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }
}

extension APIConfiguration {
    /// The configuration with the `-write-queue-*` flags applied.
    init(
        advertisedAddress: String, bindAddress: String, allowOrigin: String?, publicDirectory: String?,
        auth: AuthStore?, version: String, writeQueue flags: FlagSet
    ) {
        self.init(
            advertisedAddress: advertisedAddress, bindAddress: bindAddress, allowOrigin: allowOrigin,
            publicDirectory: publicDirectory, auth: auth, version: version)
        writeQueueCapacity = flags.int("write-queue-capacity")
        writeQueueBatchSize = flags.int("write-queue-batch-size")
        writeQueueTimeout = flags.duration("write-queue-timeout")
        writeQueueTransaction = flags.bool("write-queue-tx")
    }
}

struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

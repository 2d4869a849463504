import API
import Common
import Foundation
import HTTPServer
import CoreMetrics
import Logging
import Node
import Prometheus

enum Daemon {
    /// Starts the HTTP API on the bind address before the node opens, so status answers at once.
    /// `auth` is the `-auth` store the node checks internode calls with: the API checks the same one.
    static func startHTTP(
        config: DaemonConfig, flags: FlagSet, node: Node, auth: AuthStore?, logger: Logger
    ) throws -> (server: HTTPServer, api: APIHandler) {
        var apiConfiguration = APIConfiguration(
            advertisedAddress: config.httpAdv, bindAddress: config.httpAddr,
            allowOrigin: config.allowOrigin.isEmpty ? nil : config.allowOrigin,
            publicDirectory: config.publicDir, auth: auth, version: RaftliteVersion.version,
            writeQueue: flags)
        apiConfiguration.scratchDirectory = config.dataPath
        let registry = metricsRegistry
        apiConfiguration.metrics = {
            node.refreshMetrics()
            return registry.emitToBuffer()
        }
        let handler = APIHandler(
            database: node, status: node, admin: node, backups: node, configuration: apiConfiguration)
        let bind = HostPort(config.httpAddr)!
        var serverConfiguration = HTTPServer.Configuration(host: bind.host, port: Int(bind.port)!)
        // Database images are written to the data directory as they arrive, never held in memory.
        serverConfiguration.spoolDirectory = config.dataPath
        serverConfiguration.spooledPaths = ["/db/load", "/boot"]
        let server = HTTPServer(configuration: serverConfiguration, handler: handler)
        try server.start()
        logger.info("HTTP server listening", metadata: ["http.addr": "\(bind.host):\(server.boundPort)"])
        return (server, handler)
    }

    /// The Prometheus registry behind swift-metrics; `/metrics` renders it.
    static let metricsRegistry = PrometheusCollectorRegistry()

    /// Routes every swift-metrics counter, gauge and timer of the process into the Prometheus registry.
    static func bootstrapMetrics() {
        var factory = PrometheusMetricsFactory(registry: metricsRegistry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
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


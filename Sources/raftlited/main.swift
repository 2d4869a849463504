import API
import Backup
import Common
import Foundation
import HTTPServer
import Logging
import Node
import SQLiteDB

// raftlited: the Raftlite daemon. Flags follow rqlite's (REFERENCE §5); the data directory is the last
// argument. Start-up order: parse and validate flags, start the HTTP server (so status answers from the
// first instant), open the node, then serve until SIGTERM/SIGINT, and shut down in reverse order.

Daemon.blockTerminationSignals()
let program = "raftlited"
let description = "Raftlite is a fault-tolerant distributed SQL database (SQLite + Raft), compatible with rqlite's API."

func writeStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

var flags = RaftliteFlags.make()
let positional: [String]
do {
    positional = try flags.parse(Array(CommandLine.arguments.dropFirst()))
} catch .helpRequested {
    writeStderr("\n\(description)\n\n" + flags.usage(program: program))
    exit(0)
} catch .invalid(let message) {
    writeStderr(message + "\n\n\(description)\n\n" + flags.usage(program: program))
    exit(2)
}

if flags.bool("version") {
    print(
        "\(program) \(RaftliteVersion.version) linux \(Node.runtimeArch) \(Node.swiftVersion) "
            + "sqlite\(Connection.sqliteVersion) (commit \(RaftliteVersion.commit), compiler swiftc)")
    exit(0)
}

let config: DaemonConfig
do {
    config = try DaemonConfig(flags: flags, positional: positional)
} catch .fatal(let message) {
    writeStderr("fatal: \(message)\n")
    exit(1)
} catch .plain(let message) {
    writeStderr(message + "\n")
    exit(1)
}

let unsupported = RaftliteFlags.unsupportedFlags(flags)
if !unsupported.isEmpty {
    let names = unsupported.map { "-" + $0 }.joined(separator: ", ")
    writeStderr("fatal: \(names): not supported yet by \(program) \(RaftliteVersion.version)\n")
    exit(1)
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "raftlited")
Daemon.bootstrapMetrics()

var nodeConfiguration = NodeConfiguration(
    nodeID: config.nodeID, dataDirectory: config.dataPath, httpAdvertisedAddress: config.httpAdv,
    httpBindAddress: config.httpAddr, raftAdvertisedAddress: config.raftAdv, raftBindAddress: config.raftAddr,
    foreignKeys: config.foreignKeys, readConnections: config.maxReadConnections)
nodeConfiguration.joinAddresses = flags.string("join").split(separator: ",").map(String.init)
nodeConfiguration.joinAttempts = Int(flags.uint("join-attempts"))
nodeConfiguration.joinInterval = flags.duration("join-interval")
nodeConfiguration.bootstrapExpect = Int(flags.uint("bootstrap-expect"))
nodeConfiguration.bootstrapExpectTimeout = flags.duration("bootstrap-expect-timeout")
nodeConfiguration.nonVoter = flags.bool("raft-non-voter")
nodeConfiguration.heartbeatTimeout = flags.duration("raft-heartbeat-timeout")
nodeConfiguration.electionTimeout = flags.duration("raft-election-timeout")
nodeConfiguration.applyTimeout = flags.duration("raft-apply-timeout")
nodeConfiguration.connectTimeout = flags.duration("cluster-connect-timeout")
nodeConfiguration.stepDownOnShutdown = flags.bool("raft-shutdown-stepdown")
nodeConfiguration.removeOnShutdown = flags.bool("raft-cluster-remove-shutdown")
nodeConfiguration.reapNodeTimeout = flags.duration("raft-reap-node-timeout")
nodeConfiguration.reapReadOnlyNodeTimeout = flags.duration("raft-reap-read-only-node-timeout")
nodeConfiguration.snapshotThreshold = flags.uint("raft-snap")
nodeConfiguration.raftLogLevel = config.raftLogLevel
// The cluster service checks the same -auth store as the HTTP API; -join-as names the user whose
// password (from that store) this node sends with join, notify and its own removal (REFERENCE §6).
if !config.authFile.isEmpty {
    do {
        nodeConfiguration.auth = try AuthStore.load(path: config.authFile)
    } catch {
        writeStderr("fatal: failed to load auth file \(config.authFile): \(error)\n")
        exit(1)
    }
}
let joinAs = flags.string("join-as")
if !joinAs.isEmpty {
    guard let auth = nodeConfiguration.auth else {
        writeStderr("fatal: -join-as requires -auth: the password of \(joinAs) is read from the auth file\n")
        exit(1)
    }
    guard let user = auth.users[joinAs] else {
        writeStderr("fatal: -join-as: user \(joinAs) not found in auth file \(config.authFile)\n")
        exit(1)
    }
    nodeConfiguration.joinCredentials = Credentials(username: user.username, password: user.password)
}
/// Reads and parses the `-auto-backup` / `-auto-restore` file when the flag is set. A file that cannot be
/// read or used stops the start with an error naming it: a node told to back up must not run without it.
func configFile<T>(_ flag: String, _ path: String, _ parse: ([UInt8]) throws -> T) -> T? {
    guard !path.isEmpty else { return nil }
    guard let data = FileManager.default.contents(atPath: path) else {
        writeStderr("fatal: failed to read \(flag) file \(path)\n")
        exit(1)
    }
    do {
        return try parse(Array(data))
    } catch {
        writeStderr("fatal: \(flag) file \(path): \(error)\n")
        exit(1)
    }
}
nodeConfiguration.autoBackup = configFile("auto-backup", flags.string("auto-backup")) {
    try AutoBackupConfig.parse($0)
}
nodeConfiguration.autoRestore = configFile("auto-restore", flags.string("auto-restore")) {
    try AutoRestoreConfig.parse($0)
}
for (name, value) in [
    ("raft-heartbeat-timeout", nodeConfiguration.heartbeatTimeout), ("raft-election-timeout", nodeConfiguration.electionTimeout),
    ("raft-apply-timeout", nodeConfiguration.applyTimeout),
] where value <= 0 {
    writeStderr("fatal: -\(name) must be greater than 0\n")
    exit(1)
}

let node: Node
do {
    node = try Node(configuration: nodeConfiguration, logger: logger)
} catch {
    writeStderr("fatal: \(error)\n")
    exit(1)
}

let server: HTTPServer
let api: APIHandler
do {
    let started = try Daemon.startHTTP(config: config, flags: flags, node: node, auth: nodeConfiguration.auth, logger: logger)
    server = started.server
    api = started.api
} catch {
    writeStderr("fatal: failed to start HTTP server: \(error)\n")
    exit(1)
}

do {
    try node.open()
} catch {
    logger.error("failed to open node", metadata: ["error": "\(error)"])
    server.shutdown(gracePeriod: .seconds(5))
    writeStderr("fatal: \(error)\n")
    exit(1)
}

let receivedSignal = Daemon.waitForTerminationSignal()
logger.info("received \(receivedSignal), shutting down")
api.shutdown()  // writes what the queue holds while the node still runs
server.shutdown(gracePeriod: .seconds(10))
node.shutdown()
logger.info("shutdown complete")
exit(0)

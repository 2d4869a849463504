import Foundation

/// A real `raftlited` process on 127.0.0.1, for end-to-end tests. Always stopped by its PID, in `stop()`
/// or at the latest in `deinit`.
public final class RaftliteProcess {
    public let process = Process()
    public let httpPort: Int
    public let raftPort: Int
    public let dataDirectory: String
    public let logPath: String
    public let arguments: [String]
    public let nodeID: String?
    public let extraArguments: [String]
    private var stopped = false

    /// The daemon binary: `RAFTLITED` from the environment, else next to the test bundle.
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["RAFTLITED"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("raftlited").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        // `swift test` runs the bundle from .build/<config>/.
        let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/raftlited"
        return fallback
    }

    /// Starts a node; `extraArguments` go before the data directory.
    public init(
        dataDirectory: String, httpPort: Int = freePort(), raftPort: Int = freePort(), nodeID: String? = nil,
        extraArguments: [String] = []
    ) throws {
        self.httpPort = httpPort
        self.raftPort = raftPort
        self.dataDirectory = dataDirectory
        self.nodeID = nodeID
        self.extraArguments = extraArguments
        logPath = dataDirectory + ".log"
        var args = ["-http-addr", "127.0.0.1:\(httpPort)", "-raft-addr", "127.0.0.1:\(raftPort)"]
        if let nodeID { args += ["-node-id", nodeID] }
        args += extraArguments + [dataDirectory]
        arguments = args
        process.executableURL = URL(fileURLWithPath: Self.binaryPath)
        process.arguments = args
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    /// Polls `/readyz` until the node is ready, or the deadline passes.
    @discardableResult
    public func waitUntilReady(timeout: Double = 30) -> Bool {
        eventually(timeout: timeout) {
            guard process.isRunning else { return false }
            return try HTTP.get(httpPort, "/readyz").status == 200
        }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits for exit (SIGKILL after `timeout`); returns the exit status.
    @discardableResult
    public func stop(timeout: Double = 20) -> Int32 {
        guard !stopped else { return process.terminationStatus }
        stopped = true
        if process.isRunning {
            kill(pid, SIGTERM)
            if !eventually(timeout: timeout, { !process.isRunning }) {
                kill(pid, SIGKILL)
            }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Stops this node (SIGTERM; nothing more if it already stopped or was killed) and starts it again on
    /// the same data directory, ports and node ID, with `extraArguments` (by default the ones it had).
    public func restarted(extraArguments: [String]? = nil) throws -> RaftliteProcess {
        stop()
        return try RaftliteProcess(
            dataDirectory: dataDirectory, httpPort: httpPort, raftPort: raftPort, nodeID: nodeID,
            extraArguments: extraArguments ?? self.extraArguments)
    }

    /// SIGKILL: a crash.
    public func kill9() {
        guard !stopped else { return }
        stopped = true
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        if !stopped && process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs a program to completion; returns its exit status and combined output (-1 and the reason if it
/// cannot be started).
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { return (-1, "\(executable): \(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs `raftlited` to completion with the given arguments (flag-validation tests).
public func runRaftlited(_ arguments: [String], timeout: Double = 20) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: RaftliteProcess.binaryPath)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    if !eventually(timeout: timeout, { !process.isRunning }) {
        kill(process.processIdentifier, SIGKILL)
    }
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

import Foundation
import RaftSimulation
import Testing

/// Golden scenario tests, one file per rule of the Raft thesis (the section is named at the top of each
/// file). Each block is a command, `----`, and the expected output. Set RAFTLITE_REWRITE=1 to regenerate
/// the expectations after an intended change, then review the diff.
struct ScenarioTests {
    static let files = [
        "election", "prevote", "vote_restriction", "persist_before_send", "replication", "conflict_backoff",
        "check_quorum", "flow_control", "snapshot", "membership", "remove_leader", "transfer",
        "read_index", "not_leader", "restart",
    ]

    @Test(arguments: files)
    func scenario(_ name: String) throws {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "testdata"),
            "missing testdata/\(name).txt")
        let text = try String(contentsOf: url, encoding: .utf8)
        let actual = runScenario(text)
        if ProcessInfo.processInfo.environment["RAFTLITE_REWRITE"] != nil {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("testdata/\(name).txt")
            try actual.write(to: source, atomically: true, encoding: .utf8)
            return
        }
        if actual != text {
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let e = text.split(separator: "\n", omittingEmptySubsequences: false)
            var firstDiff = 0
            while firstDiff < min(a.count, e.count) && a[firstDiff] == e[firstDiff] { firstDiff += 1 }
            Issue.record(
                """
                \(name).txt differs from its golden output at line \(firstDiff + 1):
                expected: \(firstDiff < e.count ? String(e[firstDiff]) : "<end>")
                actual:   \(firstDiff < a.count ? String(a[firstDiff]) : "<end>")
                """)
        }
    }
}

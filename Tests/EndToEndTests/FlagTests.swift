import Testing
import TestSupport

/// raftlited's command line, as rqlite scripts use it: Go flag syntax, rqlite's messages and exit codes.
@Suite struct FlagTests {
    @Test func unknownFlagPrintsUsageAndExits2() throws {
        let (status, output) = try runRaftlited(["-no-such-flag", "/tmp/x"])
        #expect(status == 2)
        #expect(output.contains("flag provided but not defined: -no-such-flag"))
        #expect(output.contains("Usage: raftlited [flags] <data directory>"))
    }

    @Test func badDurationPrintsUsageAndExits2() throws {
        let (status, output) = try runRaftlited(["-raft-election-timeout", "fast", "/tmp/x"])
        #expect(status == 2)
        #expect(output.contains("invalid value \"fast\" for flag -raft-election-timeout"))
    }

    @Test func badIntegerAndBooleanExit2() throws {
        #expect(try runRaftlited(["-db-max-ro-conns=many", "/tmp/x"]).status == 2)
        #expect(try runRaftlited(["-fk=maybe", "/tmp/x"]).status == 2)
        #expect(try runRaftlited(["-http-addr"]).status == 2)
    }

    @Test func helpExitsZero() throws {
        let (status, output) = try runRaftlited(["-h"])
        #expect(status == 0)
        #expect(output.contains("-http-addr string"))
    }

    @Test func versionPrintsAndExitsZero() throws {
        let (status, output) = try runRaftlited(["-version"])
        #expect(status == 0)
        #expect(output.hasPrefix("raftlited v"))
        #expect(output.contains("sqlite3."))
    }

    @Test func dataDirectoryIsRequired() throws {
        let (status, output) = try runRaftlited(["-node-id", "1"])
        #expect(status == 1)
        #expect(output == "fatal: no data directory set\n")
    }

    @Test func argumentsAfterDataDirectoryAreRefused() throws {
        let (status, output) = try runRaftlited(["/tmp/data", "-fk"])
        #expect(status == 1)
        #expect(output == "arguments after data directory (/tmp/data) are not accepted ([-fk])\n")
    }

    @Test func addressRulesMatchRqlite() throws {
        var r = try runRaftlited(["-http-addr", "127.0.0.1:4001", "-raft-addr", "127.0.0.1:4001", "/tmp/d"])
        #expect(r.status == 1)
        #expect(r.output == "fatal: HTTP and Raft addresses must differ\n")
        r = try runRaftlited(["-http-addr", "0.0.0.0:4001", "/tmp/d"])
        #expect(r.output.contains("fatal: advertised HTTP address is not routable (0.0.0.0)"))
        r = try runRaftlited(["-http-addr", "http://localhost:4001", "/tmp/d"])
        #expect(r.output == "fatal: HTTP options should not include protocol (http:// or https://)\n")
        r = try runRaftlited(["-raft-addr", "nope", "/tmp/d"])
        #expect(r.output == "fatal: raft bind address not valid\n")
        r = try runRaftlited(["-raft-reap-node-timeout", "0s", "/tmp/d"])
        #expect(r.output == "fatal: -raft-reap-node-timeout must be greater than 0\n")
    }

    @Test func unimplementedFlagsAreRefusedNotIgnored() throws {
        let (status, output) = try runRaftlited(["-auto-vacuum-int", "1h", "/tmp/d"])
        #expect(status == 1)
        #expect(output.contains("-auto-vacuum-int"))
        #expect(output.contains("not supported yet"))
    }

    @Test func missingAuthFileIsFatal() throws {
        let (status, output) = try runRaftlited(["-auth", "/nonexistent/auth.json", "/tmp/d"])
        #expect(status == 1)
        #expect(output == "fatal: /nonexistent/auth.json does not exist\n")
    }
}

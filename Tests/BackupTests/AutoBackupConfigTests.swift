import Backup
import Foundation
import Testing

@Suite struct AutoBackupConfigTests {
    let env = ["AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret", "BUCKET": "mybucket"]

    func backup(_ json: String, _ environment: [String: String]? = nil) throws -> AutoBackupConfig {
        try AutoBackupConfig.parse(Array(json.utf8), environment: environment ?? env)
    }

    func restore(_ json: String, _ environment: [String: String]? = nil) throws -> AutoRestoreConfig {
        try AutoRestoreConfig.parse(Array(json.utf8), environment: environment ?? env)
    }

    func error(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func fullS3ConfigWithEnvironmentExpansion() throws {
        let c = try backup(
            """
            {"version": 1, "type": "s3", "interval": "5m", "timestamp": true, "no_compress": true, "vacuum": true,
             "sub": {"access_key_id": "$AWS_ACCESS_KEY_ID", "secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
                     "endpoint": "s3.example.com", "region": "eu-west-1", "bucket": "$BUCKET",
                     "path": "backups/db.sqlite.gz", "force_path_style": true}}
            """)
        #expect(c.interval == 300)
        #expect(c.timestamp && c.noCompress && c.vacuum)
        #expect(
            c.storage
                == .s3(
                    S3Config(
                        accessKeyID: "envkey", secretAccessKey: "envsecret", endpoint: "https://s3.example.com",
                        region: "eu-west-1", bucket: "mybucket", path: "backups/db.sqlite.gz", forcePathStyle: true)))
    }

    @Test func defaultsAndCredentialFallback() throws {
        let c = try backup(
            #"{"type": "s3", "interval": 1000000000, "sub": {"bucket": "b", "path": "k", "endpoint": "http://127.0.0.1:9000"}}"#
        )
        #expect(c.interval == 1)
        #expect(!c.timestamp && !c.noCompress && !c.vacuum)
        guard case .s3(let s3) = c.storage else { Issue.record("not s3"); return }
        #expect(s3.accessKeyID == "envkey")
        #expect(s3.secretAccessKey == "envsecret")
        #expect(s3.endpoint == "http://127.0.0.1:9000")
        #expect(s3.region == "us-east-1")
        #expect(!s3.forcePathStyle)
    }

    @Test func endpointFromTheAWSEnvironmentWhenTheFileNamesNone() throws {
        func s3(_ json: String, _ extra: [String: String]) throws -> S3Config {
            guard case .s3(let c) = try backup(json, env.merging(extra) { $1 }).storage else { throw BackupConfigError("not s3") }
            return c
        }
        let bare = #"{"type": "s3", "interval": "1s", "sub": {"bucket": "b", "path": "k"}}"#
        let named = #"{"type": "s3", "interval": "1s", "sub": {"bucket": "b", "path": "k", "endpoint": "minio:9000"}}"#
        #expect(try s3(bare, [:]).environmentEndpoint == "")
        #expect(try s3(bare, ["AWS_ENDPOINT_URL": "http://127.0.0.1:1"]).environmentEndpoint == "http://127.0.0.1:1")
        // The service-specific variable wins, as in the AWS SDKs.
        let both = ["AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2"]
        #expect(try s3(bare, both).environmentEndpoint == "http://127.0.0.1:2")
        #expect(try s3(bare, both.merging(["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"]) { $1 }).environmentEndpoint == "")
        // An endpoint in the file always wins.
        let c = try s3(named, both)
        #expect(c.endpoint == "https://minio:9000")
        #expect(c.environmentEndpoint == "")
        #expect(error { try s3(bare, ["AWS_ENDPOINT_URL_S3": "ftp://x"]) }.contains("AWS_ENDPOINT_URL_S3 \"ftp://x\" is not a valid"))
    }

    @Test func unsetVariablesExpandToNothing() {
        #expect(expandEnvironment("a$NOPE-b${NOPE}c$", [:]) == "a-bc$")
        #expect(expandEnvironment("$X/${X}x$Xy", ["X": "1", "Xy": "2"]) == "1/1x2")
    }

    @Test func fileConfigCreatesTheDirectory() throws {
        let root = NSTemporaryDirectory() + "raftlite-cfg-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = try backup(#"{"type": "file", "interval": "10s", "sub": {"dir": "\#(root)/a/b", "name": "db.gz"}}"#)
        #expect(c.storage == .file(FileConfig(dir: root + "/a/b", name: "db.gz")))
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: root + "/a/b", isDirectory: &isDir) && isDir.boolValue)
    }

    @Test func backupErrorsNameTheField() {
        let s3sub = #""sub": {"bucket": "b", "path": "p"}"#
        let cases: [(String, String)] = [
            ("not json", "not valid JSON"),
            ("[]", "JSON object"),
            (#"{"version": 2, "type": "s3", "interval": "1s", \#(s3sub)}"#, "version 2 not supported"),
            (#"{"version": "1", "type": "s3", "interval": "1s", \#(s3sub)}"#, "version must be an integer"),
            (#"{"interval": "1s", \#(s3sub)}"#, "type must be set"),
            (#"{"type": "gcs", "interval": "1s", \#(s3sub)}"#, "gcs is not supported yet"),
            (#"{"type": "ftp", "interval": "1s", \#(s3sub)}"#, "unsupported storage type"),
            (#"{"type": "s3", \#(s3sub)}"#, "interval must be set"),
            (#"{"type": "s3", "interval": "0s", \#(s3sub)}"#, "interval must be greater than zero"),
            (#"{"type": "s3", "interval": -5, \#(s3sub)}"#, "interval must be greater than zero"),
            (#"{"type": "s3", "interval": "soon", \#(s3sub)}"#, "interval \"soon\" is not a valid duration"),
            (#"{"type": "s3", "interval": true, \#(s3sub)}"#, "interval must be a duration"),
            (#"{"type": "s3", "interval": "1s", "timestamp": "yes", \#(s3sub)}"#, "timestamp must be true or false"),
            (#"{"type": "s3", "interval": "1s", "no_compress": 1, \#(s3sub)}"#, "no_compress must be true or false"),
            (#"{"type": "s3", "interval": "1s", "vacuum": "x", \#(s3sub)}"#, "vacuum must be true or false"),
            (#"{"type": "s3", "interval": "1s", "sub": 3}"#, "sub must be a JSON object"),
            (#"{"type": "s3", "interval": "1s", "sub": {"path": "p"}}"#, "sub.bucket must be set"),
            (#"{"type": "s3", "interval": "1s", "sub": {"bucket": "b"}}"#, "sub.path must be set"),
            (#"{"type": "s3", "interval": "1s", "sub": {"bucket": 1, "path": "p"}}"#, "sub.bucket must be a string"),
            (
                #"{"type": "s3", "interval": "1s", "sub": {"bucket": "b", "path": "p", "force_path_style": "y"}}"#,
                "sub.force_path_style must be true or false"
            ),
            (
                #"{"type": "s3", "interval": "1s", "sub": {"bucket": "b", "path": "p", "endpoint": "ftp://x"}}"#,
                "sub.endpoint"
            ),
            (#"{"type": "file", "interval": "1s", "sub": {"name": "n"}}"#, "sub.dir must be set"),
            (#"{"type": "file", "interval": "1s", "sub": {"dir": "rel/dir", "name": "n"}}"#, "must be an absolute path"),
            (#"{"type": "file", "interval": "1s", "sub": {"dir": "/tmp"}}"#, "sub.name must be set"),
            (#"{"type": "file", "interval": "1s", "sub": {"dir": "/tmp", "name": "a/b"}}"#, "bare file name"),
            (#"{"type": "file", "interval": "1s", "sub": {"dir": "/tmp", "name": ".."}}"#, "bare file name"),
        ]
        for (json, expected) in cases {
            let message = error { try backup(json) }
            #expect(message.contains(expected), "\(json) ⇒ \(message)")
        }
    }

    @Test func missingCredentialsAreReported() {
        let json = #"{"type": "s3", "interval": "1s", "sub": {"bucket": "b", "path": "p"}}"#
        #expect(error { try backup(json, [:]) }.contains("sub.access_key_id is not set and AWS_ACCESS_KEY_ID"))
        #expect(
            error { try backup(json, ["AWS_ACCESS_KEY_ID": "k"]) }
                .contains("sub.secret_access_key is not set and AWS_SECRET_ACCESS_KEY"))
    }

    @Test func fileDirectoryMustBeCreatableAndWritable() throws {
        let root = NSTemporaryDirectory() + "raftlite-cfg-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = FileManager.default.createFile(atPath: root, contents: Data("x".utf8))
        #expect(
            error { try backup(#"{"type": "file", "interval": "1s", "sub": {"dir": "\#(root)/sub", "name": "n"}}"#) }
                .contains("cannot be created"))
        #expect(
            error { try backup(#"{"type": "file", "interval": "1s", "sub": {"dir": "\#(root)", "name": "n"}}"#) }
                .contains("not a directory"))
        if getuid() != 0 {  // root writes anywhere
            try FileManager.default.removeItem(atPath: root)
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
            chmod(root, 0o500)
            defer { chmod(root, 0o700) }
            #expect(
                error { try backup(#"{"type": "file", "interval": "1s", "sub": {"dir": "\#(root)", "name": "n"}}"#) }
                    .contains("not writable"))
        }
    }

    @Test func restoreConfig() throws {
        let c = try restore(
            #"{"version": 1, "type": "s3", "timeout": "60s", "continue_on_failure": true, "sub": {"bucket": "b", "path": "p"}}"#
        )
        #expect(c.timeout == 60)
        #expect(c.continueOnFailure)
        let d = try restore(#"{"type": "file", "sub": {"dir": "/nonexistent/raftlite", "name": "db.gz"}}"#)
        #expect(d.timeout == 30)
        #expect(!d.continueOnFailure)
        #expect(d.storage == .file(FileConfig(dir: "/nonexistent/raftlite", name: "db.gz")))
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent/raftlite"))
    }

    @Test func restoreErrors() {
        let sub = #""sub": {"bucket": "b", "path": "p"}"#
        let cases: [(String, String)] = [
            (#"{"version": 3, "type": "s3", \#(sub)}"#, "version 3 not supported"),
            (#"{"type": "s3", "timeout": "0s", \#(sub)}"#, "timeout must be greater than zero"),
            (#"{"type": "s3", "timeout": "x", \#(sub)}"#, "timeout \"x\" is not a valid duration"),
            (#"{"type": "s3", "continue_on_failure": 1, \#(sub)}"#, "continue_on_failure must be true or false"),
            (#"{"type": "gcs", \#(sub)}"#, "gcs is not supported yet"),
            (#"{"type": "azure", \#(sub)}"#, "unsupported storage type"),
        ]
        for (json, expected) in cases {
            let message = error { try restore(json) }
            #expect(message.contains(expected), "\(json) ⇒ \(message)")
        }
    }
}

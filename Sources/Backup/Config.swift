import Common
import Foundation
import JSON

/// A configuration file that cannot be used, with a message naming the offending field.
public struct BackupConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where backups go, or where a restore comes from.
public enum StorageConfig: Sendable, Equatable {
    case s3(S3Config)
    case file(FileConfig)
}

/// The `sub` object of an `s3` configuration, with defaults applied and credentials resolved.
public struct S3Config: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// With a scheme (`https://` prepended when the file gave none); empty means AWS itself.
    public var endpoint: String
    public var region: String
    public var bucket: String
    /// The object key.
    public var path: String
    public var forcePathStyle: Bool
    /// The endpoint the AWS SDKs take from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` when the file names
    /// none (as rqlite's S3 client does); used only when `endpoint` is empty.
    public var environmentEndpoint: String

    public init(
        accessKeyID: String, secretAccessKey: String, endpoint: String = "", region: String = "us-east-1",
        bucket: String, path: String, forcePathStyle: Bool = false, environmentEndpoint: String = ""
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.path = path
        self.forcePathStyle = forcePathStyle
        self.environmentEndpoint = environmentEndpoint
    }
}

/// The `sub` object of a `file` configuration.
public struct FileConfig: Sendable, Equatable {
    /// Absolute directory holding the backup and `METADATA.json`.
    public var dir: String
    /// Bare file name of the backup inside `dir`.
    public var name: String
    public init(dir: String, name: String) {
        self.dir = dir
        self.name = name
    }
}

/// `-auto-backup` configuration (rqlite's JSON format).
public struct AutoBackupConfig: Sendable, Equatable {
    public var version: Int64
    public var storage: StorageConfig
    /// Seconds between ticks.
    public var interval: Double
    public var timestamp: Bool
    public var noCompress: Bool
    public var vacuum: Bool

    public init(
        storage: StorageConfig, interval: Double, timestamp: Bool = false, noCompress: Bool = false,
        vacuum: Bool = false, version: Int64 = 1
    ) {
        self.version = version
        self.storage = storage
        self.interval = interval
        self.timestamp = timestamp
        self.noCompress = noCompress
        self.vacuum = vacuum
    }

    /// Parses the file's bytes, expanding `$VAR`/`${VAR}` from `environment` first. A `file` destination's
    /// directory is created if missing and must be writable.
    public static func parse(_ bytes: [UInt8], environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(BackupConfigError) -> AutoBackupConfig
    {
        let object = try ConfigReader.load(bytes, environment: environment)
        let version = try ConfigReader.version(object)
        let storage = try ConfigReader.storage(object, environment: environment, createDirectory: true)
        guard let interval = try ConfigReader.duration(object, "interval") else {
            throw BackupConfigError("interval must be set (a Go duration such as \"5m\", or nanoseconds)")
        }
        return AutoBackupConfig(
            storage: storage, interval: interval,
            timestamp: try ConfigReader.bool(object, "timestamp"),
            noCompress: try ConfigReader.bool(object, "no_compress"),
            vacuum: try ConfigReader.bool(object, "vacuum"), version: version)
    }
}

/// `-auto-restore` configuration (rqlite's JSON format; Raftlite also restores from `file`).
public struct AutoRestoreConfig: Sendable, Equatable {
    public var version: Int64
    public var storage: StorageConfig
    /// Seconds allowed for the download; 30 when the file does not say.
    public var timeout: Double
    public var continueOnFailure: Bool

    public init(storage: StorageConfig, timeout: Double = 30, continueOnFailure: Bool = false, version: Int64 = 1) {
        self.version = version
        self.storage = storage
        self.timeout = timeout
        self.continueOnFailure = continueOnFailure
    }

    public static func parse(_ bytes: [UInt8], environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(BackupConfigError) -> AutoRestoreConfig
    {
        let object = try ConfigReader.load(bytes, environment: environment)
        let version = try ConfigReader.version(object)
        let storage = try ConfigReader.storage(object, environment: environment, createDirectory: false)
        return AutoRestoreConfig(
            storage: storage, timeout: try ConfigReader.duration(object, "timeout") ?? 30,
            continueOnFailure: try ConfigReader.bool(object, "continue_on_failure"), version: version)
    }
}

/// Go's `os.ExpandEnv` for the forms config files use: `${NAME}` and `$NAME` (letters, digits, `_`);
/// unset variables expand to nothing; a `$` not followed by a name is kept.
public func expandEnvironment(_ text: String, _ environment: [String: String]) -> String {
    let chars = Array(text.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    func isNameChar(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_"
    }
    while i < chars.count {
        let c = chars[i]
        guard c == "$", i + 1 < chars.count else {
            out.append(c)
            i += 1
            continue
        }
        if chars[i + 1] == "{", let close = chars[(i + 2)...].firstIndex(of: "}") {
            let name = String(String.UnicodeScalarView(chars[(i + 2)..<close]))
            out.append(contentsOf: (environment[name] ?? "").unicodeScalars)
            i = close + 1
        } else if isNameChar(chars[i + 1]) {
            var j = i + 1
            while j < chars.count, isNameChar(chars[j]) { j += 1 }
            let name = String(String.UnicodeScalarView(chars[(i + 1)..<j]))
            out.append(contentsOf: (environment[name] ?? "").unicodeScalars)
            i = j
        } else {
            out.append(c)
            i += 1
        }
    }
    return String(out)
}

enum ConfigReader {
    typealias Object = [(String, JSONValue)]

    static func load(_ bytes: [UInt8], environment: [String: String]) throws(BackupConfigError) -> Object {
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw BackupConfigError("config file is not UTF-8 text")
        }
        let expanded = expandEnvironment(text, environment)
        let value: JSONValue
        do {
            value = try JSONValue.parse(Array(expanded.utf8))
        } catch {
            throw BackupConfigError("config file is not valid JSON: \(error)")
        }
        guard case .object(let object) = value else { throw BackupConfigError("config file must hold a JSON object") }
        return object
    }

    static func field(_ object: Object, _ key: String) -> JSONValue? {
        object.last(where: { $0.0 == key })?.1
    }

    static func version(_ object: Object) throws(BackupConfigError) -> Int64 {
        guard let value = field(object, "version") else { return 0 }
        guard case .integer(let v) = value else { throw BackupConfigError("version must be an integer") }
        guard v <= 1 else { throw BackupConfigError("config version \(v) not supported (at most 1)") }
        return v
    }

    static func bool(_ object: Object, _ key: String, prefix: String = "") throws(BackupConfigError) -> Bool {
        guard let value = field(object, key), value != .null else { return false }
        guard case .bool(let b) = value else { throw BackupConfigError("\(prefix)\(key) must be true or false") }
        return b
    }

    static func string(_ object: Object, _ key: String, prefix: String = "sub.") throws(BackupConfigError) -> String? {
        guard let value = field(object, key), value != .null else { return nil }
        guard case .string(let s) = value else { throw BackupConfigError("\(prefix)\(key) must be a string") }
        return s
    }

    /// A Go duration string or an integer number of nanoseconds, in seconds; nil when absent.
    static func duration(_ object: Object, _ key: String) throws(BackupConfigError) -> Double? {
        guard let value = field(object, key), value != .null else { return nil }
        let nanoseconds: Int64
        switch value {
        case .string(let s):
            guard let ns = GoDuration.parseNanoseconds(s) else {
                throw BackupConfigError("\(key) \"\(s)\" is not a valid duration")
            }
            nanoseconds = ns
        case .integer(let n):
            nanoseconds = n
        default:
            throw BackupConfigError("\(key) must be a duration string or a number of nanoseconds")
        }
        guard nanoseconds > 0 else { throw BackupConfigError("\(key) must be greater than zero") }
        return Double(nanoseconds) / 1e9
    }

    static func storage(_ object: Object, environment: [String: String], createDirectory: Bool)
        throws(BackupConfigError) -> StorageConfig
    {
        guard let typeValue = field(object, "type") else { throw BackupConfigError("type must be set (s3 or file)") }
        guard case .string(let type) = typeValue else { throw BackupConfigError("type must be a string") }
        let sub: Object
        switch field(object, "sub") {
        case .object(let o)?: sub = o
        case nil, .null?: sub = []
        default: throw BackupConfigError("sub must be a JSON object")
        }
        switch type {
        case "s3": return .s3(try s3(sub, environment: environment))
        case "file": return .file(try file(sub, createDirectory: createDirectory))
        case "gcs": throw BackupConfigError("storage type gcs is not supported yet by Raftlite (use s3 or file)")
        default: throw BackupConfigError("unsupported storage type \"\(type)\"")
        }
    }

    static func s3(_ sub: Object, environment: [String: String]) throws(BackupConfigError) -> S3Config {
        var accessKey = try string(sub, "access_key_id") ?? ""
        var secret = try string(sub, "secret_access_key") ?? ""
        if accessKey.isEmpty { accessKey = environment["AWS_ACCESS_KEY_ID"] ?? "" }
        if secret.isEmpty { secret = environment["AWS_SECRET_ACCESS_KEY"] ?? "" }
        guard !accessKey.isEmpty else {
            throw BackupConfigError("sub.access_key_id is not set and AWS_ACCESS_KEY_ID is empty")
        }
        guard !secret.isEmpty else {
            throw BackupConfigError("sub.secret_access_key is not set and AWS_SECRET_ACCESS_KEY is empty")
        }
        var endpoint = try string(sub, "endpoint") ?? ""
        if !endpoint.isEmpty, !endpoint.contains("://") { endpoint = "https://" + endpoint }
        if !endpoint.isEmpty {
            guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://"), S3Endpoint(endpoint) != nil else {
                throw BackupConfigError("sub.endpoint \"\(endpoint)\" is not a valid http(s) URL")
            }
        }
        var environmentEndpoint = ""
        if endpoint.isEmpty, environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]?.lowercased() != "true" {
            for name in ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"] {
                guard let value = environment[name], !value.isEmpty else { continue }
                guard S3Endpoint(value) != nil else {
                    throw BackupConfigError("\(name) \"\(value)\" is not a valid http(s) URL")
                }
                environmentEndpoint = value
                break
            }
        }
        var region = try string(sub, "region") ?? ""
        if region.isEmpty { region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1" }
        guard let bucket = try string(sub, "bucket"), !bucket.isEmpty else {
            throw BackupConfigError("sub.bucket must be set")
        }
        guard let path = try string(sub, "path"), !path.isEmpty else { throw BackupConfigError("sub.path must be set") }
        let pathStyle = try bool(sub, "force_path_style", prefix: "sub.")
        return S3Config(
            accessKeyID: accessKey, secretAccessKey: secret, endpoint: endpoint, region: region, bucket: bucket,
            path: path, forcePathStyle: pathStyle, environmentEndpoint: environmentEndpoint)
    }

    static func file(_ sub: Object, createDirectory: Bool) throws(BackupConfigError) -> FileConfig {
        guard let dir = try string(sub, "dir"), !dir.isEmpty else { throw BackupConfigError("sub.dir must be set") }
        guard dir.hasPrefix("/") else { throw BackupConfigError("sub.dir \"\(dir)\" must be an absolute path") }
        guard let name = try string(sub, "name"), !name.isEmpty else { throw BackupConfigError("sub.name must be set") }
        guard !name.contains("/"), !name.contains("\\"), name != ".", name != ".." else {
            throw BackupConfigError("sub.name \"\(name)\" must be a bare file name, without directory separators")
        }
        if createDirectory {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw BackupConfigError("sub.dir \"\(dir)\" is not a directory") }
            } else {
                do {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                } catch {
                    throw BackupConfigError("sub.dir \"\(dir)\" cannot be created: \(error.localizedDescription)")
                }
            }
            guard access(dir, W_OK) == 0 else { throw BackupConfigError("sub.dir \"\(dir)\" is not writable") }
        }
        return FileConfig(dir: dir, name: name)
    }
}

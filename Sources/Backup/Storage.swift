import Foundation
import JSON

/// A storage operation that failed, with a message saying what and where.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where auto-backups go and auto-restores come from.
public protocol BackupStorage: Sendable {
    /// For `/status` and logs, as rqlite names it: `s3://bucket/key` (AWS), `<endpoint>/bucket/key` (another
    /// S3-compatible endpoint), `dir:<dir>, file:<name>` (file).
    var destination: String { get }
    /// Stores the file's contents as the latest backup, recording `id` alongside it.
    func put(file: String, id: String) throws
    /// The id recorded with the latest backup, nil when there is none.
    func currentID() throws -> String?
    /// Copies the latest backup into `path` (created or truncated) within `timeout` seconds.
    func download(to path: String, timeout: Double) throws
}

/// Makes the storage a configuration names. Contacts nothing.
public func makeStorage(_ config: StorageConfig, timestamp: Bool = false) -> BackupStorage {
    switch config {
    case .s3(let s3): return S3Storage(config: s3, timestamp: timestamp)
    case .file(let file): return FileStorage(config: file, timestamp: timestamp)
    }
}

/// `YYYYMMDDHHMMSS_` prefixed to the last path component, in UTC at `date`.
public func timestampedKey(_ key: String, at date: Date) -> String {
    let stamp = String(SigV4.amzDate(date).filter { $0 != "T" && $0 != "Z" })
    if let slash = key.lastIndex(of: "/") {
        return String(key[...slash]) + stamp + "_" + String(key[key.index(after: slash)...])
    }
    return stamp + "_" + key
}

// MARK: - S3

/// Scheme, host and port of an S3 endpoint URL.
public struct S3Endpoint: Sendable, Equatable {
    public var scheme: String
    public var host: String
    public var port: Int

    public init(scheme: String, host: String, port: Int) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    public init?(_ url: String) {
        guard let range = url.range(of: "://") else { return nil }
        scheme = url[..<range.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var rest = url[range.upperBound...]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard !rest.isEmpty else { return nil }
        if rest.hasPrefix("[") {  // [v6]:port
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()) else { return nil }
                port = p
            } else {
                port = scheme == "https" ? 443 : 80
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), p > 0, p < 65536 else { return nil }
            port = p
        } else {
            host = String(rest)
            port = scheme == "https" ? 443 : 80
        }
    }
}

/// A client for one bucket over S3's REST protocol, signed with SigV4.
public struct S3Client: Sendable {
    public let config: S3Config
    public let endpoint: S3Endpoint
    public let now: @Sendable () -> Date

    public init(config: S3Config, now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        let url =
            !config.endpoint.isEmpty ? config.endpoint
            : !config.environmentEndpoint.isEmpty ? config.environmentEndpoint
            : "https://s3.\(config.region).amazonaws.com"
        self.endpoint = S3Endpoint(url) ?? S3Endpoint("https://s3.amazonaws.com")!
        self.now = now
    }

    /// Whether requests name the bucket in the path rather than the host: when the configuration forces it,
    /// and, as the AWS SDKs decide, when the endpoint is an IP address or the bucket is not a DNS label that
    /// can prefix the host (an https host with dots in the bucket would not match the certificate).
    var usesPathStyle: Bool {
        if config.forcePathStyle || Self.isIPAddress(endpoint.host) { return true }
        let b = config.bucket.utf8
        guard (3...63).contains(b.count),
            b.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x2e }),
            let first = b.first, let last = b.last, first != 0x2d, first != 0x2e, last != 0x2d, last != 0x2e,
            !Self.isIPAddress(config.bucket)
        else { return true }
        return endpoint.scheme == "https" && config.bucket.contains(".")
    }

    static func isIPAddress(_ host: String) -> Bool {
        if host.contains(":") { return true }  // IPv6
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && UInt8(p) != nil }
    }

    /// Host header and request path for `key` (empty key: the bucket itself).
    func address(key: String) -> (host: String, hostHeader: String, path: String) {
        let encodedKey = SigV4.uriEncode(key, keepSlash: true)
        let defaultPort = (endpoint.scheme == "https" && endpoint.port == 443)
            || (endpoint.scheme == "http" && endpoint.port == 80)
        let hostPart = endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host
        if usesPathStyle {
            let hostHeader = defaultPort ? hostPart : "\(hostPart):\(endpoint.port)"
            let bucketPath = "/" + SigV4.uriEncode(config.bucket, keepSlash: false)
            return (endpoint.host, hostHeader, key.isEmpty ? bucketPath : bucketPath + "/" + encodedKey)
        }
        let host = "\(config.bucket).\(endpoint.host)"
        return (host, defaultPort ? host : "\(host):\(endpoint.port)", "/" + encodedKey)
    }

    func send(
        method: String, key: String, headers extra: [(String, String)] = [], bodyFile: String? = nil,
        payloadHash: String = SigV4.emptyPayloadHash, responseFile: String? = nil, timeout: Double = 60
    ) throws -> HTTPResponse {
        let (host, hostHeader, path) = address(key: key)
        let date = SigV4.amzDate(now())
        var headers: [(String, String)] = [
            ("host", hostHeader), ("x-amz-date", date), ("x-amz-content-sha256", payloadHash),
        ]
        headers += extra
        let auth = SigV4.authorization(
            accessKeyID: config.accessKeyID, secret: config.secretAccessKey, region: config.region, service: "s3",
            amzDate: date, method: method, encodedPath: path, query: "", headers: headers, payloadHash: payloadHash)
        headers.append(("Authorization", auth))
        if let bodyFile {
            let size = (try FileManager.default.attributesOfItem(atPath: bodyFile)[.size] as? NSNumber)?.intValue ?? 0
            headers.append(("Content-Length", String(size)))
        } else if method == "PUT" {
            headers.append(("Content-Length", "0"))
        }
        let request = HTTPRequest(
            method: method, scheme: endpoint.scheme, host: host, port: endpoint.port, target: path, headers: headers,
            bodyFile: bodyFile)
        return try HTTPTransport.perform(request, responseFile: responseFile, timeout: timeout)
    }

    func failure(_ what: String, _ key: String, _ response: HTTPResponse) -> StorageError {
        let text = String(decoding: response.body.prefix(2048), as: UTF8.self)
        var code = ""
        if let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>"), start.upperBound <= end.lowerBound {
            code = " " + String(text[start.upperBound..<end.lowerBound])
        }
        return StorageError(
            "\(what) s3://\(config.bucket)/\(key) failed: HTTP \(response.status)\(code)")
    }

    /// Creates the bucket (tests and first-time setup).
    public func createBucket() throws {
        let r = try send(method: "PUT", key: "")
        guard (200..<300).contains(r.status) else { throw failure("create bucket", "", r) }
    }

    /// Uploads a file as `key` with user metadata (`x-amz-meta-<name>`), its SHA-256 signed.
    public func putObject(key: String, file: String, metadata: [(String, String)], timeout: Double = 600) throws {
        let hash = try SigV4.sha256Hex(file: file)
        let r = try send(
            method: "PUT", key: key, headers: metadata.map { ("x-amz-meta-\($0.0)", $0.1) }, bodyFile: file,
            payloadHash: hash, timeout: timeout)
        guard (200..<300).contains(r.status) else { throw failure("upload to", key, r) }
    }

    /// The object's headers (lowercased), nil when it does not exist.
    public func headObject(key: String) throws -> [String: String]? {
        let r = try send(method: "HEAD", key: key, timeout: 30)
        if r.status == 404 { return nil }
        guard (200..<300).contains(r.status) else { throw failure("HEAD", key, r) }
        return r.headers
    }

    /// Streams the object into `path`.
    public func getObject(key: String, to path: String, timeout: Double) throws {
        let r = try send(method: "GET", key: key, responseFile: path, timeout: timeout)
        if r.status == 404 { throw StorageError("backup s3://\(config.bucket)/\(key) does not exist (HTTP 404)") }
        guard (200..<300).contains(r.status) else { throw failure("download of", key, r) }
    }
}

/// Backups in one S3 (or S3-compatible) object; the id rides in `x-amz-meta-x-rqlite-auto-backup-id`.
public struct S3Storage: BackupStorage {
    public static let idMetadataName = "x-rqlite-auto-backup-id"
    public let client: S3Client
    public let timestamp: Bool

    public init(config: S3Config, timestamp: Bool = false, now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = S3Client(config: config, now: now)
        self.timestamp = timestamp
    }

    /// rqlite's form: `s3://bucket/key` for AWS (no endpoint in the file, or an `amazonaws.com` one), else
    /// `<endpoint>/bucket/key`.
    public var destination: String {
        let c = client.config
        if c.endpoint.isEmpty || c.endpoint.hasSuffix("amazonaws.com") { return "s3://\(c.bucket)/\(c.path)" }
        return "\(c.endpoint)/\(c.bucket)/\(c.path)"
    }

    public func put(file: String, id: String) throws {
        let key = timestamp ? timestampedKey(client.config.path, at: client.now()) : client.config.path
        try client.putObject(key: key, file: file, metadata: [(Self.idMetadataName, id)])
    }

    /// As rqlite: read from the configured (un-prefixed) key, so with timestamps this normally finds nothing.
    public func currentID() throws -> String? {
        try client.headObject(key: client.config.path)?["x-amz-meta-\(Self.idMetadataName)"]
    }

    public func download(to path: String, timeout: Double) throws {
        try client.getObject(key: client.config.path, to: path, timeout: timeout)
    }
}

// MARK: - File

/// Backups in a local directory: the backup file plus `METADATA.json`, both replaced atomically.
public struct FileStorage: BackupStorage {
    public static let metadataFileName = "METADATA.json"
    public let config: FileConfig
    public let timestamp: Bool
    public let now: @Sendable () -> Date

    public init(config: FileConfig, timestamp: Bool = false, now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        self.timestamp = timestamp
        self.now = now
    }

    /// rqlite's form: `dir:<dir>, file:<name>`.
    public var destination: String { "dir:\(config.dir), file:\(config.name)" }
    var metadataPath: String { config.dir + "/" + Self.metadataFileName }

    public func put(file: String, id: String) throws {
        let date = now()
        let name = timestamp ? timestampedKey(config.name, at: date) : config.name
        let target = config.dir + "/" + name
        try FileManager.default.createDirectory(atPath: config.dir, withIntermediateDirectories: true)
        try Self.atomicCopy(from: file, to: target)
        var w = JSONWriter()
        w.beginObject()
        w.key("id")
        w.string(id)
        w.key("timestamp")
        w.integer(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
        w.key("name")
        w.string(target)
        w.endObject()
        try Self.atomicWrite(Data(w.bytes), to: metadataPath)
    }

    public func currentID() throws -> String? {
        guard let data = FileManager.default.contents(atPath: metadataPath) else { return nil }
        guard case .object(let fields)? = try? JSONValue.parse([UInt8](data)),
            case .string(let id)? = fields.last(where: { $0.0 == "id" })?.1
        else { throw StorageError("\(metadataPath) is not valid backup metadata") }
        return id
    }

    /// The latest backup: the file `METADATA.json` names when it lies in `dir`, else `dir/name`.
    public func download(to path: String, timeout: Double) throws {
        var source = config.dir + "/" + config.name
        if let data = FileManager.default.contents(atPath: metadataPath),
            case .object(let fields)? = try? JSONValue.parse([UInt8](data)),
            case .string(let name)? = fields.last(where: { $0.0 == "name" })?.1,
            name.hasPrefix(config.dir + "/"), FileManager.default.fileExists(atPath: name)
        {
            source = name
        }
        guard FileManager.default.fileExists(atPath: source) else {
            throw StorageError("backup \(source) does not exist")
        }
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: source, toPath: path)
    }

    static func atomicCopy(from source: String, to target: String) throws {
        let temp = target + ".tmp-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileManager.default.copyItem(atPath: source, toPath: temp)
            try syncAndRename(temp, target)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
    }

    static func atomicWrite(_ data: Data, to target: String) throws {
        let temp = target + ".tmp-\(UInt32.random(in: 0...UInt32.max))"
        do {
            guard FileManager.default.createFile(atPath: temp, contents: data) else {
                throw StorageError("cannot write \(temp)")
            }
            try syncAndRename(temp, target)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
    }

    private static func syncAndRename(_ temp: String, _ target: String) throws {
        let fd = open(temp, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        guard rename(temp, target) == 0 else {
            throw StorageError("cannot rename \(temp) to \(target): \(String(cString: strerror(errno)))")
        }
        let dir = (target as NSString).deletingLastPathComponent
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

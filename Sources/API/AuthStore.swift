import JSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// rqlite's credential store (`-auth <file>`, REFERENCE §6): plaintext passwords, per-user permissions,
/// and the `*` user whose permissions apply to every client, authenticated or not.
public struct AuthStore: Sendable, Equatable {
    /// Permission names, exactly as rqlite spells them.
    public enum Permission: String, Sendable, CaseIterable {
        case all, join
        case joinReadOnly = "join-read-only"
        case joinReadReplica = "join-read-replica"
        case remove, execute, query, status, ready, backup, load, snapshot
        case leaderOps = "leader-ops"
        case ui
    }

    public struct User: Sendable, Equatable {
        public var username: String
        public var password: String
        public var perms: Set<String>

        public init(username: String, password: String, perms: [String]) {
            self.username = username
            self.password = password
            self.perms = Set(perms)
        }
    }

    public struct LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Users in file order; a later record with the same name replaces the earlier one.
    public private(set) var users: [String: User]

    public init(users: [User]) {
        var map: [String: User] = [:]
        for u in users { map[u.username] = u }
        self.users = map
    }

    /// Parses the JSON text of an auth file: an array of `{"username","password","perms"}` records.
    /// As in rqlite, every record is decoded into one reused value, so a record that omits a field inherits
    /// the previous record's value for it.
    public init(json bytes: [UInt8]) throws(LoadError) {
        let top: JSONValue
        do {
            top = try JSONValue.parse(bytes)
        } catch {
            throw LoadError(message: "invalid auth file: \(error)")
        }
        guard case .array(let records) = top else {
            throw LoadError(message: "invalid auth file: expected a JSON array of credential records")
        }
        var username = ""
        var password = ""
        var perms: [String] = []
        var users: [User] = []
        for (n, record) in records.enumerated() {
            guard case .object(let fields) = record else {
                throw LoadError(message: "invalid auth file: record \(n) is not an object")
            }
            for (key, value) in fields {
                switch key.lowercased() {
                case "username":
                    guard case .string(let s) = value else {
                        throw LoadError(message: "invalid auth file: record \(n): username must be a string")
                    }
                    username = s
                case "password":
                    guard case .string(let s) = value else {
                        throw LoadError(message: "invalid auth file: record \(n): password must be a string")
                    }
                    password = s
                case "perms":
                    if case .null = value {
                        perms = []
                        continue
                    }
                    guard case .array(let items) = value else {
                        throw LoadError(message: "invalid auth file: record \(n): perms must be an array of strings")
                    }
                    var list: [String] = []
                    for item in items {
                        guard case .string(let p) = item else {
                            throw LoadError(message: "invalid auth file: record \(n): perms must be an array of strings")
                        }
                        list.append(p)
                    }
                    perms = list
                default:
                    continue
                }
            }
            users.append(User(username: username, password: password, perms: perms))
        }
        self.init(users: users)
    }

    /// Loads an auth file from disk.
    public static func load(path: String) throws(LoadError) -> AuthStore {
        guard let bytes = FileReader.read(path: path) else {
            throw LoadError(message: "failed to read auth file \(path)")
        }
        return try AuthStore(json: bytes)
    }

    /// rqlite's decision for permission `perm`: allowed when `*` holds it (or `all`); otherwise the
    /// credentials must name a user whose password matches and who holds it (or `all`).
    public func allows(username: String?, password: String?, perm: String) -> Bool {
        if let anyone = users["*"], anyone.perms.contains(perm) || anyone.perms.contains(Permission.all.rawValue) {
            return true
        }
        guard let username, let user = users[username] else { return false }
        guard user.password == (password ?? "") else { return false }
        return user.perms.contains(perm) || user.perms.contains(Permission.all.rawValue)
    }

    public func allows(username: String?, password: String?, perm: Permission) -> Bool {
        allows(username: username, password: password, perm: perm.rawValue)
    }

    /// The credentials of an `Authorization: Basic ...` header, as Go's `Request.BasicAuth` reads them.
    public static func basicCredentials(_ header: String?) -> (username: String, password: String)? {
        guard let header else { return nil }
        let prefix = "basic "
        guard header.utf8.count > prefix.utf8.count,
            String(header.prefix(prefix.count)).lowercased() == prefix
        else { return nil }
        guard let decoded = Base64.decode(String(header.dropFirst(prefix.count))) else { return nil }
        guard let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return (
            String(decoding: decoded[..<colon], as: UTF8.self),
            String(decoding: decoded[(colon + 1)...], as: UTF8.self)
        )
    }
}

private func posixRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ n: Int) -> Int {
    read(fd, buf, n)
}

/// Whole-file reads through POSIX calls (no Foundation in the API module).
enum FileReader {
    /// The bytes of a regular file, nil when it is missing, unreadable or not a regular file.
    static func read(path: String) -> [UInt8]? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, 65536) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

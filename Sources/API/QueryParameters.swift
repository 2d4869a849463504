import Common

/// The query string of a request, parsed with Go's `url.ParseQuery` semantics and validated up front as
/// rqlite does (REFERENCE §1.3). Keys are case-sensitive; only the first value of a repeated key counts;
/// boolean options are presence flags (`?pretty=false` turns pretty printing on).
public struct QueryParameters: Sendable, Equatable {
    /// First value of each key.
    public private(set) var values: [String: String]

    public init(values: [String: String] = [:]) {
        self.values = values
    }

    /// Errors raised while parsing; their `message` is sent as a 400 text error.
    public struct Invalid: Error, Equatable, Sendable {
        public var message: String
    }

    /// Parses and validates a raw (undecoded) query string.
    public init(rawQuery: String) throws(Invalid) {
        let parsed = try QueryParameters.parseGoQuery(rawQuery)
        self.values = parsed
        try validate()
    }

    /// Go's `url.ParseQuery`: `&`-separated pairs, `+` is a space, `%XX` escapes; a `;` in a pair or a bad
    /// escape is an error (the first error is reported, as Go does, after parsing what it can).
    static func parseGoQuery(_ raw: String) throws(Invalid) -> [String: String] {
        var result: [String: String] = [:]
        var firstError: String?
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            if pair.contains(";") {
                if firstError == nil { firstError = "invalid semicolon separator in query" }
                continue
            }
            let key: Substring
            let value: Substring
            if let eq = pair.firstIndex(of: "=") {
                key = pair[..<eq]
                value = pair[pair.index(after: eq)...]
            } else {
                key = pair
                value = ""
            }
            let k: String
            let v: String
            switch (unescape(key), unescape(value)) {
            case (.success(let a), .success(let b)):
                k = a
                v = b
            case (.failure(let e), _), (_, .failure(let e)):
                if firstError == nil { firstError = e.message }
                continue
            }
            if result[k] == nil { result[k] = v }
        }
        if let firstError { throw Invalid(message: firstError) }
        return result
    }

    /// Go's `QueryUnescape`.
    static func unescape(_ s: Substring) -> Result<String, Invalid> {
        let bytes = Array(s.utf8)
        if !bytes.contains(UInt8(ascii: "%")) && !bytes.contains(UInt8(ascii: "+")) { return .success(String(s)) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) else {
                    let bad = String(decoding: bytes[i..<min(i + 3, bytes.count)], as: UTF8.self)
                    return .failure(Invalid(message: "invalid URL escape \(goQuote(bad))"))
                }
                out.append(h << 4 | l)
                i += 3
            } else if b == UInt8(ascii: "+") {
                out.append(0x20)
                i += 1
            } else {
                out.append(b)
                i += 1
            }
        }
        return .success(String(decoding: out, as: UTF8.self))
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }

    /// Go's `strconv.Quote` for the printable strings that occur here.
    static func goQuote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private func validate() throws(Invalid) {
        for key in ["timeout", "freshness", "db_timeout", "linearizable_timeout"] {
            if let v = values[key], GoDuration.parseNanoseconds(v) == nil {
                throw Invalid(message: "\(key) is not a valid duration")
            }
        }
        for key in ["retries", "trailing_logs"] {
            if let v = values[key], Int(v) == nil {
                throw Invalid(message: "\(key) is not a valid integer")
            }
        }
        if has("freshness_strict") && !has("freshness") {
            throw Invalid(message: "freshness_strict requires freshness")
        }
        if let q = values["q"], q.isEmpty {
            throw Invalid(message: "query parameter not set")
        }
    }

    // MARK: Accessors

    public subscript(key: String) -> String? { values[key] }

    /// Presence flag.
    public func has(_ key: String) -> Bool { values[key] != nil }

    public var pretty: Bool { has("pretty") }
    public var timings: Bool { has("timings") }
    public var transaction: Bool { has("transaction") }
    public var associative: Bool { has("associative") }
    public var blobArray: Bool { has("blob_array") }
    public var raftIndex: Bool { has("raft_index") }
    public var noParse: Bool { has("noparse") }
    public var redirect: Bool { has("redirect") }
    public var noLeader: Bool { has("noleader") }
    public var nonVoters: Bool { has("nonvoters") }
    public var level: ReadLevel { ReadLevel(parameter: values["level"]) }
    public var freshnessStrict: Bool { has("freshness_strict") }

    /// A validated duration parameter in seconds, nil when absent.
    public func seconds(_ key: String) -> Double? {
        values[key].flatMap(GoDuration.parseSeconds)
    }

    /// `timeout` in seconds (default 30 s).
    public func timeout(default def: Double = 30) -> Double { seconds("timeout") ?? def }

    public func integer(_ key: String) -> Int? { values[key].flatMap { Int($0) } }
}

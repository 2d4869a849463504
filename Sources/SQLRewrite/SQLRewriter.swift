/// Makes non-deterministic SQL deterministic before it is replicated (REFERENCE §3.1–3.2): every replica
/// executes the statement Raft carries, so `RANDOM()`, `RANDOMBLOB(N)` and `'now'` must be turned into
/// literals on the node that receives the request.
///
/// The rewriter works on SQLite tokens rather than a parse tree: the output is the input text with only the
/// substituted spans changed (rqlite re-serialises its parse tree instead). It never fails: text that does
/// not tokenise, or whose parentheses do not balance, is left untouched for SQLite to report.
public struct SQLRewriter: Sendable {
    /// Rewrite `RANDOM()` and `RANDOMBLOB(N)` (off with `norwrandom`).
    public var rewriteRandom: Bool
    /// Rewrite `'now'` arguments of the date and time functions (off with `norwtime`).
    public var rewriteTime: Bool
    /// 64 random bits per call (`RANDOM()` values and `RANDOMBLOB` bytes).
    public var random: @Sendable () -> UInt64
    /// The current time in seconds since the Unix epoch.
    public var now: @Sendable () -> Double

    /// Blobs larger than this are left to SQLite (the literal would be twice as large in the log entry).
    public static let maxRandomBlobBytes = 4 << 20

    public init(
        rewriteRandom: Bool = true, rewriteTime: Bool = true, random: (@Sendable () -> UInt64)? = nil,
        now: (@Sendable () -> Double)? = nil
    ) {
        self.rewriteRandom = rewriteRandom
        self.rewriteTime = rewriteTime
        self.random = random ?? { UInt64.random(in: .min ... .max) }
        self.now = now ?? SystemClock.unixSeconds
    }

    /// What processing one statement found.
    public struct Outcome: Sendable, Equatable {
        /// The statement to execute: rewritten, or the original text.
        public var sql: String
        /// Whether anything was substituted.
        public var rewritten: Bool
        /// The statement has a `RETURNING` clause: run it as a query that returns rows (`forceQuery`).
        public var returning: Bool
        /// The statement starts with `EXPLAIN` (read-only).
        public var explain: Bool

        public init(sql: String, rewritten: Bool = false, returning: Bool = false, explain: Bool = false) {
            self.sql = sql
            self.rewritten = rewritten
            self.returning = returning
            self.explain = explain
        }
    }

    /// rqlite's cheap pre-filter (§3.1): only statements whose lower-cased text contains one of these are
    /// tokenised. (`returning`/`explain` are matched without the trailing space rqlite uses, so that a
    /// clause after a newline or tab is found too.)
    static let triggers: [[UInt8]] = [
        "random(", "randomblob(", "time(", "date(", "julianday(", "unixepoch(", "timediff(", "returning", "explain",
    ].map { Array($0.utf8) }

    /// Whether `sql` may need processing at all.
    public static func mightNeedProcessing(_ sql: String) -> Bool {
        if let found = sql.utf8.withContiguousStorageIfAvailable({ buf in
            triggers.contains { containsLowercased(buf, $0) }
        }) {
            return found
        }
        return Array(sql.utf8).withUnsafeBufferPointer { buf in triggers.contains { containsLowercased(buf, $0) } }
    }

    /// Whether the statement has a `RETURNING` keyword outside literals, quoted identifiers and comments.
    public static func hasReturning(_ sql: String) -> Bool {
        guard sql.utf8.count >= 9, sql.lowercased().contains("returning") else { return false }
        guard case .success(let tokens) = SQLTokenizer.tokenize(Array(sql.utf8)) else { return false }
        let bytes = Array(sql.utf8)
        return tokens.contains { t in
            t.kind == .word && t.end - t.start == 9
                && String(decoding: bytes[t.start..<t.end], as: UTF8.self).lowercased() == "returning"
        }
    }

    /// Processes one statement as the write path does: pre-filter, then rewrite and flag.
    public func process(_ sql: String) -> Outcome {
        guard SQLRewriter.mightNeedProcessing(sql) else { return Outcome(sql: sql) }
        switch analyse(Array(sql.utf8), validate: false) {
        case .failure: return Outcome(sql: sql)
        case .success(let outcome): return outcome
        }
    }

    /// The `/db/sql` preview: every statement is tokenised and checked (unknown leading keyword, unbalanced
    /// parentheses, unterminated literal), and the rewritten text returned, or SQLite's wording of the error.
    public func preview(_ sql: String) -> Result<Outcome, SQLSyntaxError> {
        let bytes = Array(sql.utf8)
        return analyse(bytes, validate: true).map { outcome in
            var o = outcome
            if !o.rewritten { o.sql = sql }
            return o
        }
    }

    // MARK: Analysis

    static let statementKeywords: Set<String> = [
        "select", "insert", "update", "delete", "replace", "create", "drop", "alter", "with", "values", "explain",
        "pragma", "begin", "commit", "end", "rollback", "savepoint", "release", "attach", "detach", "vacuum",
        "analyze", "reindex",
    ]
    /// Words after which `name(` names a table, an index or a view rather than calling a function.
    static let tableContext: Set<String> = [
        "into", "table", "exists", "references", "on", "view", "index", "trigger", "update", "from", "join",
    ]
    static let timeFunctions: Set<String> = ["date", "time", "datetime", "julianday", "unixepoch"]
    static let orderByEnd: Set<String> = ["limit", "offset", "rows", "range", "groups"]

    func analyse(_ s: [UInt8], validate: Bool) -> Result<Outcome, SQLSyntaxError> {
        let tokens: [SQLToken]
        switch SQLTokenizer.tokenize(s) {
        case .failure(let e): return .failure(e)
        case .success(let t): tokens = t
        }
        func text(_ t: SQLToken) -> String { String(decoding: s[t.start..<t.end], as: UTF8.self) }
        func word(_ i: Int) -> String? {
            guard i >= 0 && i < tokens.count, tokens[i].kind == .word else { return nil }
            return text(tokens[i]).lowercased()
        }
        func isPunct(_ i: Int, _ c: Character) -> Bool {
            i >= 0 && i < tokens.count && tokens[i].kind == .punct && tokens[i].end - tokens[i].start == 1
                && s[tokens[i].start] == c.asciiValue!
        }

        // Matching parentheses, checked first so that unbalanced text is left alone.
        var match = [Int](repeating: -1, count: tokens.count)
        var open: [Int] = []
        for i in tokens.indices {
            if isPunct(i, "(") {
                open.append(i)
            } else if isPunct(i, ")") {
                guard let o = open.popLast() else { return .failure(SQLSyntaxError("near \")\": syntax error")) }
                match[o] = i
                match[i] = o
            }
        }
        if !open.isEmpty { return .failure(SQLSyntaxError("incomplete input")) }

        if validate {
            var atStart = true
            for i in tokens.indices {
                if isPunct(i, ";") {
                    atStart = true
                    continue
                }
                if atStart {
                    atStart = false
                    let w = word(i)
                    if w == nil || !SQLRewriter.statementKeywords.contains(w!) {
                        return .failure(SQLSyntaxError("near \"\(text(tokens[i]))\": syntax error"))
                    }
                }
            }
        }

        var outcome = Outcome(sql: "")
        outcome.explain = word(0) == "explain"
        var replacements: [(start: Int, end: Int, text: [UInt8])] = []
        var julianDay: [UInt8]?
        func jd() -> [UInt8] {
            if let julianDay { return julianDay }
            let v = SQLRewriter.formatJulianDay(unixSeconds: now())
            julianDay = v
            return v
        }
        // ORDER BY terms in progress: the parenthesis depth at which each started.
        var orderBy: [Int] = []
        var depth = 0
        var i = 0
        while i < tokens.count {
            let t = tokens[i]
            if t.kind == .punct {
                if isPunct(i, "(") {
                    depth += 1
                } else if isPunct(i, ")") {
                    while let d = orderBy.last, d >= depth { orderBy.removeLast() }
                    depth -= 1
                } else if isPunct(i, ";") {
                    orderBy.removeAll()
                    depth = 0
                }
                i += 1
                continue
            }
            guard t.kind == .word else {
                i += 1
                continue
            }
            let w = text(t).lowercased()
            if w == "returning" { outcome.returning = true }
            if w == "explain" && (i == 0 || isPunct(i - 1, ";")) { outcome.explain = true }
            if w == "order" && word(i + 1) == "by" {
                orderBy.append(depth)
                i += 2
                continue
            }
            if SQLRewriter.orderByEnd.contains(w), let d = orderBy.last, d == depth {
                orderBy.removeLast()
            }
            guard isPunct(i + 1, "("), !isPunct(i - 1, "."), !(word(i - 1).map(SQLRewriter.tableContext.contains) ?? false)
            else {
                i += 1
                continue
            }
            let close = match[i + 1]
            // Argument token ranges, split at top-level commas.
            var args: [Range<Int>] = []
            if close > i + 2 {
                var argStart = i + 2
                var k = i + 2
                while k < close {
                    if isPunct(k, "(") {
                        k = match[k] + 1
                        continue
                    }
                    if isPunct(k, ",") {
                        args.append(argStart..<k)
                        argStart = k + 1
                    }
                    k += 1
                }
                args.append(argStart..<close)
            }
            func isNow(_ r: Range<Int>) -> Bool {
                guard r.count == 1 else { return false }
                let a = tokens[r.lowerBound]
                switch a.kind {
                case .word: return text(a).lowercased() == "now"
                case .string, .quotedIdentifier:
                    return a.end - a.start == 5 && text(a).dropFirst().dropLast().lowercased() == "now"
                default: return false
                }
            }
            func replaceArg(_ r: Range<Int>) {
                replacements.append((tokens[r.lowerBound].start, tokens[r.lowerBound].end, jd()))
            }
            let inOrderBy = !orderBy.isEmpty
            if rewriteRandom && !inOrderBy && w == "random" && args.isEmpty {
                var v = Int64(bitPattern: random())
                if v == .min { v = .max }
                replacements.append((t.start, tokens[close].end, Array(String(v).utf8)))
                i = close + 1
                continue
            }
            if rewriteRandom && !inOrderBy && w == "randomblob" && args.count == 1 && args[0].count == 1,
                tokens[args[0].lowerBound].kind == .number,
                let count = Int(text(tokens[args[0].lowerBound])), count <= SQLRewriter.maxRandomBlobBytes
            {
                replacements.append((t.start, tokens[close].end, randomBlobLiteral(max(count, 1))))
                i = close + 1
                continue
            }
            if rewriteTime {
                if SQLRewriter.timeFunctions.contains(w), let first = args.first, isNow(first) {
                    replaceArg(first)
                } else if w == "strftime" && args.count > 1 && isNow(args[1]) {
                    replaceArg(args[1])
                } else if w == "timediff" && args.count > 1 {
                    if isNow(args[0]) { replaceArg(args[0]) }
                    if isNow(args[1]) { replaceArg(args[1]) }
                }
            }
            i += 1
        }

        guard !replacements.isEmpty else {
            outcome.sql = String(decoding: s, as: UTF8.self)
            return .success(outcome)
        }
        replacements.sort { $0.start < $1.start }
        var out: [UInt8] = []
        out.reserveCapacity(s.count + replacements.reduce(0) { $0 + $1.text.count })
        var pos = 0
        for r in replacements {
            out.append(contentsOf: s[pos..<r.start])
            // `x-random()` must not become the comment `x--5`.
            if r.text.first == UInt8(ascii: "-") && out.last == UInt8(ascii: "-") { out.append(0x20) }
            out.append(contentsOf: r.text)
            pos = r.end
        }
        out.append(contentsOf: s[pos...])
        outcome.sql = String(decoding: out, as: UTF8.self)
        outcome.rewritten = true
        return .success(outcome)
    }

    func randomBlobLiteral(_ count: Int) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = [UInt8(ascii: "X"), UInt8(ascii: "'")]
        out.reserveCapacity(count * 2 + 3)
        var remaining = count
        while remaining > 0 {
            var bits = random()
            for _ in 0..<min(8, remaining) {
                let b = UInt8(truncatingIfNeeded: bits)
                bits >>= 8
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
            remaining -= 8
        }
        out.append(UInt8(ascii: "'"))
        return out
    }

    /// The Julian day number of a Unix time, as Go's `%f` prints it (6 decimals).
    public static func formatJulianDay(unixSeconds: Double) -> [UInt8] {
        let jd = unixSeconds / 86400 + 2440587.5
        let micro = (jd * 1_000_000).rounded()
        let whole = Int64(micro / 1_000_000)
        let frac = Int64(micro) - whole * 1_000_000
        var f = String(frac)
        f = String(repeating: "0", count: 6 - f.count) + f
        return Array("\(whole).\(f)".utf8)
    }

    static func containsLowercased(_ hay: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        let n = needle.count
        guard hay.count >= n, let first = needle.first else { return false }
        var i = 0
        let last = hay.count - n
        while i <= last {
            var b = hay[i]
            if b >= 0x41 && b <= 0x5A { b += 0x20 }
            if b == first {
                var j = 1
                while j < n {
                    var c = hay[i + j]
                    if c >= 0x41 && c <= 0x5A { c += 0x20 }
                    if c != needle[j] { break }
                    j += 1
                }
                if j == n { return true }
            }
            i += 1
        }
        return false
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

enum SystemClock {
    @Sendable static func unixSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

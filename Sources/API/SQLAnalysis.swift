import SQLRewrite

/// Light-weight SQL inspection done by the HTTP layer before a request reaches the node: disallowed pragmas
/// (REFERENCE §3.3) and RETURNING detection (§3.2, done by `SQLRewrite`'s tokenizer so that string literals,
/// quoted identifiers and comments never trigger a match).
public enum SQLAnalysis {
    /// Whether a statement tries to change a pragma rqlite forbids, with the semantics of rqlite's regular
    /// expressions (case-insensitive, anchored at the start of the text):
    /// `^\s*PRAGMA\s+(\w+\.)?journal_mode\s*=`, `^\s*PRAGMA\s+wal_autocheckpoint\s*=`,
    /// `^\s*PRAGMA\s+(\w+\.)?wal_checkpoint`, `^\s*PRAGMA\s+(\w+\.)?synchronous\s*=`,
    /// `^\s*PRAGMA\s+(\w+\.)?query_only\s*=`.
    public static func isDisallowedPragma(_ sql: String) -> Bool {
        let s = Array(sql.utf8.prefix(256)).map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 + 0x20 : $0 }
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0C || b == 0x0D }
        func isWord(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
        }
        var i = 0
        while i < s.count && isSpace(s[i]) { i += 1 }
        let pragma = Array("pragma".utf8)
        guard s.count >= i + pragma.count, Array(s[i..<(i + pragma.count)]) == pragma else { return false }
        i += pragma.count
        guard i < s.count, isSpace(s[i]) else { return false }
        while i < s.count && isSpace(s[i]) { i += 1 }
        // Does `name` (optionally followed by `\s*=`) match at position p?
        func matches(_ name: String, at p: Int, needsAssign: Bool) -> Bool {
            let n = Array(name.utf8)
            guard s.count >= p + n.count, Array(s[p..<(p + n.count)]) == n else { return false }
            guard needsAssign else { return true }
            var j = p + n.count
            while j < s.count && isSpace(s[j]) { j += 1 }
            return j < s.count && s[j] == UInt8(ascii: "=")
        }
        // Candidate name positions: right here, or after a `\w+.` schema prefix.
        var starts = [i]
        var j = i
        while j < s.count && isWord(s[j]) { j += 1 }
        if j > i && j < s.count && s[j] == UInt8(ascii: ".") { starts.append(j + 1) }
        for (k, p) in starts.enumerated() {
            if matches("journal_mode", at: p, needsAssign: true) { return true }
            if k == 0 && matches("wal_autocheckpoint", at: p, needsAssign: true) { return true }
            if matches("wal_checkpoint", at: p, needsAssign: false) { return true }
            if matches("synchronous", at: p, needsAssign: true) { return true }
            if matches("query_only", at: p, needsAssign: true) { return true }
        }
        return false
    }

    /// Whether the statement has a RETURNING clause (a `RETURNING` keyword outside literals and comments).
    public static func hasReturning(_ sql: String) -> Bool {
        SQLRewriter.hasReturning(sql)
    }
}

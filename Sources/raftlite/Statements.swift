/// Splits SQL text into statements at top-level semicolons, the way SQLite's `sqlite3_complete` sees them:
/// semicolons inside quotes, identifiers, comments, or the `BEGIN ... END` body of `CREATE TRIGGER` do not end
/// a statement.
struct StatementSplitter {
    /// The complete statements in `text` (each with its `;`), and the incomplete remainder.
    static func split(_ text: String) -> (statements: [String], rest: String) {
        let chars = Array(text.unicodeScalars)
        var statements: [String] = []
        var start = 0
        var i = 0
        var words: [String] = []  // the first few keywords of the current statement, and the last one
        var lastWord = ""
        var word = ""
        func endWord() {
            if !word.isEmpty {
                if words.count < 4 { words.append(word.uppercased()) }
                lastWord = word.uppercased()
                word = ""
            }
        }
        func isTrigger() -> Bool {
            // CREATE [TEMP|TEMPORARY] TRIGGER
            guard words.first == "CREATE" else { return false }
            if words.count > 1 && words[1] == "TRIGGER" { return true }
            return words.count > 2 && (words[1] == "TEMP" || words[1] == "TEMPORARY") && words[2] == "TRIGGER"
        }
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "'", "\"", "`", "[":
                endWord()
                let close: Unicode.Scalar = c == "[" ? "]" : c
                i += 1
                while i < chars.count {
                    if chars[i] == close {
                        if close != "]" && i + 1 < chars.count && chars[i + 1] == close {
                            i += 2
                            continue
                        }
                        break
                    }
                    i += 1
                }
                lastWord = ""
            case "-" where i + 1 < chars.count && chars[i + 1] == "-":
                endWord()
                while i < chars.count && chars[i] != "\n" { i += 1 }
            case "/" where i + 1 < chars.count && chars[i + 1] == "*":
                endWord()
                i += 2
                while i + 1 < chars.count && !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
                i += 1
            case ";":
                endWord()
                if !isTrigger() || lastWord == "END" {
                    var s = String(String.UnicodeScalarView(chars[start...min(i, chars.count - 1)])).trimmingSpaces
                    if s != ";" && !s.isEmpty {
                        if s.hasSuffix(";") { s = String(s.dropLast()).trimmingSpaces + ";" }
                        statements.append(s)
                    }
                    start = i + 1
                    words = []
                    lastWord = ""
                } else {
                    lastWord = ";"
                }
            default:
                if c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c) {
                    word.unicodeScalars.append(c)
                } else {
                    endWord()
                    if !c.properties.isWhitespace { lastWord = String(c) }
                }
            }
            i += 1
        }
        let rest = start < chars.count ? String(String.UnicodeScalarView(chars[start...])) : ""
        return (statements, isBlank(rest) ? "" : rest)
    }

    /// Whether text holds nothing but whitespace and complete comments (nothing to send, nothing to wait for).
    static func isBlank(_ text: String) -> Bool {
        let chars = Array(text.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.properties.isWhitespace {
                i += 1
            } else if c == "-" && i + 1 < chars.count && chars[i + 1] == "-" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
            } else if c == "/" && i + 1 < chars.count && chars[i + 1] == "*" {
                i += 2
                while i + 1 < chars.count && !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
                if i + 1 >= chars.count { return false }  // an unterminated comment continues on the next line
                i += 2
            } else {
                return false
            }
        }
        return true
    }
}

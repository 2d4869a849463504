/// A lexer with SQLite's lexical rules (tokenize.c), enough to find function calls, keywords and clause
/// boundaries without a full SQL grammar: string literals `'...'` (with `''`), quoted identifiers `"..."`,
/// `[...]` and `` `...` ``, blob literals `x'..'`, numbers, bound variables (`?NNN`, `:a`, `@a`, `$a`),
/// and `--` / `/* */` comments, which are skipped together with whitespace.
public struct SQLToken: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A bare identifier or keyword.
        case word
        /// `'...'`.
        case string
        /// `"..."`, `[...]` or `` `...` ``.
        case quotedIdentifier
        case blob
        case number
        case variable
        /// Operators and punctuation (`(`, `)`, `,`, `;`, `.`, `||`, `<=`, ...).
        case punct
    }

    public var kind: Kind
    /// Byte offsets into the statement's UTF-8 text.
    public var start: Int
    public var end: Int
}

/// Why a statement could not be tokenised; `message` uses SQLite's wording.
public struct SQLSyntaxError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

enum SQLTokenizer {
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0C || b == 0x0D }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isIdentByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x24
            || b >= 0x80
    }
    static func isIdentStart(_ b: UInt8) -> Bool { isIdentByte(b) && !isDigit(b) && b != 0x24 }

    /// Tokens of `s`, or the first lexical error (an unterminated literal or quoted identifier). An
    /// unterminated block comment runs to the end of the text, as in SQLite.
    static func tokenize(_ s: [UInt8]) -> Result<[SQLToken], SQLSyntaxError> {
        var tokens: [SQLToken] = []
        var i = 0
        let n = s.count
        func unrecognized(_ from: Int) -> SQLSyntaxError {
            SQLSyntaxError("unrecognized token: \"" + String(decoding: s[from..<n], as: UTF8.self) + "\"")
        }
        while i < n {
            let b = s[i]
            let start = i
            if isSpace(b) {
                i += 1
                continue
            }
            if b == UInt8(ascii: "-") && i + 1 < n && s[i + 1] == UInt8(ascii: "-") {
                while i < n && s[i] != 0x0A { i += 1 }
                continue
            }
            if b == UInt8(ascii: "/") && i + 1 < n && s[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i < n && !(s[i] == UInt8(ascii: "*") && i + 1 < n && s[i + 1] == UInt8(ascii: "/")) { i += 1 }
                i = min(i + 2, n)
                continue
            }
            switch b {
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                i += 1
                var closed = false
                while i < n {
                    if s[i] == b {
                        if i + 1 < n && s[i + 1] == b {
                            i += 2
                            continue
                        }
                        closed = true
                        i += 1
                        break
                    }
                    i += 1
                }
                guard closed else { return .failure(unrecognized(start)) }
                tokens.append(SQLToken(kind: b == UInt8(ascii: "'") ? .string : .quotedIdentifier, start: start, end: i))
            case UInt8(ascii: "["):
                while i < n && s[i] != UInt8(ascii: "]") { i += 1 }
                guard i < n else { return .failure(unrecognized(start)) }
                i += 1
                tokens.append(SQLToken(kind: .quotedIdentifier, start: start, end: i))
            case _ where (b == UInt8(ascii: "x") || b == UInt8(ascii: "X")) && i + 1 < n && s[i + 1] == UInt8(ascii: "'"):
                i += 2
                while i < n && s[i] != UInt8(ascii: "'") { i += 1 }
                guard i < n else { return .failure(unrecognized(start)) }
                i += 1
                tokens.append(SQLToken(kind: .blob, start: start, end: i))
            case UInt8(ascii: "?"):
                i += 1
                while i < n && isDigit(s[i]) { i += 1 }
                tokens.append(SQLToken(kind: .variable, start: start, end: i))
            case UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "$"):
                i += 1
                while i < n && (isIdentByte(s[i]) || s[i] == UInt8(ascii: ":")) { i += 1 }
                tokens.append(SQLToken(kind: i - start > 1 ? .variable : .punct, start: start, end: i))
            case UInt8(ascii: "."):
                if i + 1 < n && isDigit(s[i + 1]) {
                    i = scanNumber(s, from: i)
                    tokens.append(SQLToken(kind: .number, start: start, end: i))
                } else {
                    i += 1
                    tokens.append(SQLToken(kind: .punct, start: start, end: i))
                }
            default:
                if isDigit(b) {
                    i = scanNumber(s, from: i)
                    tokens.append(SQLToken(kind: .number, start: start, end: i))
                } else if isIdentStart(b) {
                    while i < n && isIdentByte(s[i]) { i += 1 }
                    tokens.append(SQLToken(kind: .word, start: start, end: i))
                } else {
                    // Two-byte operators: || <= >= == != <> << >> -> (and ->>).
                    i += 1
                    if i < n {
                        let pair = (b, s[i])
                        switch pair {
                        case (0x7C, 0x7C), (0x3C, 0x3D), (0x3E, 0x3D), (0x3D, 0x3D), (0x21, 0x3D), (0x3C, 0x3E),
                            (0x3C, 0x3C), (0x3E, 0x3E):
                            i += 1
                        case (0x2D, 0x3E):
                            i += 1
                            if i < n && s[i] == 0x3E { i += 1 }
                        default: break
                        }
                    }
                    tokens.append(SQLToken(kind: .punct, start: start, end: i))
                }
            }
        }
        return .success(tokens)
    }

    /// A numeric literal: hex `0x..`, or digits (with `_` separators), fraction and exponent. Trailing
    /// identifier bytes are swallowed into the token (SQLite rejects such a token; it stays one token here).
    static func scanNumber(_ s: [UInt8], from start: Int) -> Int {
        var i = start
        let n = s.count
        if s[i] == UInt8(ascii: "0") && i + 1 < n && (s[i + 1] == UInt8(ascii: "x") || s[i + 1] == UInt8(ascii: "X")) {
            i += 2
            while i < n && isIdentByte(s[i]) { i += 1 }
            return i
        }
        while i < n && (isDigit(s[i]) || s[i] == UInt8(ascii: "_")) { i += 1 }
        if i < n && s[i] == UInt8(ascii: ".") {
            i += 1
            while i < n && (isDigit(s[i]) || s[i] == UInt8(ascii: "_")) { i += 1 }
        }
        if i < n && (s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E")) {
            var j = i + 1
            if j < n && (s[j] == UInt8(ascii: "+") || s[j] == UInt8(ascii: "-")) { j += 1 }
            if j < n && isDigit(s[j]) {
                i = j
                while i < n && isDigit(s[i]) { i += 1 }
            }
        }
        while i < n && isIdentByte(s[i]) { i += 1 }
        return i
    }
}

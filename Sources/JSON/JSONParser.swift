/// Errors from `JSONValue.parse`, with the byte offset where the problem was found.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case trailingData
        case invalidNumber
        case numberOutOfRange
        case invalidEscape
        case invalidUnicodeEscape
        case controlCharacterInString
        case invalidUTF8
        case tooDeep(limit: Int)
    }

    public var reason: Reason
    /// Byte offset into the input.
    public var offset: Int

    public init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String {
        switch reason {
        case .unexpectedEnd: return "unexpected end of JSON input"
        case .unexpectedByte(let b): return "invalid character \(JSONParseError.quote(b)) at offset \(offset)"
        case .trailingData: return "invalid character after top-level value at offset \(offset)"
        case .invalidNumber: return "invalid number at offset \(offset)"
        case .numberOutOfRange: return "number out of range at offset \(offset)"
        case .invalidEscape: return "invalid escape in string at offset \(offset)"
        case .invalidUnicodeEscape: return "invalid \\u escape in string at offset \(offset)"
        case .controlCharacterInString: return "control character in string at offset \(offset)"
        case .invalidUTF8: return "invalid UTF-8 at offset \(offset)"
        case .tooDeep(let limit): return "exceeded max nesting depth \(limit) at offset \(offset)"
        }
    }

    private static func quote(_ b: UInt8) -> String {
        if b >= 0x20 && b < 0x7f { return "'\(Character(Unicode.Scalar(b)))'" }
        return "0x" + String(b, radix: 16)
    }
}

extension JSONValue {
    /// The default maximum nesting depth of arrays and objects accepted by `parse`.
    public static let defaultMaxDepth = 512

    /// Parses one JSON text (RFC 8259, strict): exactly one value surrounded by optional whitespace, UTF-8
    /// throughout, no comments, no trailing commas, no leading zeros, no NaN/Infinity.
    ///
    /// Numbers without fraction or exponent that fit in Int64 become `.integer`; any other number becomes
    /// `.double`. A number that overflows Double (e.g. `1e400`) is rejected as out of range. Duplicate object
    /// keys are kept, in order.
    ///
    /// With `replacingInvalidUTF8`, each byte of an invalid UTF-8 sequence inside a string becomes U+FFFD
    /// instead of failing the parse — what Go's `encoding/json` decoder does.
    public static func parse(
        _ bytes: [UInt8], maxDepth: Int = JSONValue.defaultMaxDepth, replacingInvalidUTF8: Bool = false
    ) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.replaceInvalidUTF8 = replacingInvalidUTF8
        return try parser.parseDocument()
    }

    /// Parses JSON text given as a String.
    public static func parse(_ text: String, maxDepth: Int = JSONValue.defaultMaxDepth) throws(JSONParseError)
        -> JSONValue
    {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var i = 0
    var depth = 0
    var replaceInvalidUTF8 = false

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let v = try parseValue()
        skipWhitespace()
        if i != bytes.count { throw JSONParseError(.trailingData, at: i) }
        return v
    }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw JSONParseError(.unexpectedByte(bytes[i]), at: i)
        }
    }

    mutating func expectLiteral(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        let p = word.utf8Start
        for k in 0..<n {
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            guard bytes[i] == p[k] else { throw JSONParseError(.unexpectedByte(bytes[i]), at: i) }
            i += 1
        }
    }

    mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > maxDepth { throw JSONParseError(.tooDeep(limit: maxDepth), at: i) }
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        i += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if bytes[i] == UInt8(ascii: "]") {
                i += 1
                depth -= 1
                return .array(items)
            }
            throw JSONParseError(.unexpectedByte(bytes[i]), at: i)
        }
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        i += 1  // {
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            guard bytes[i] == UInt8(ascii: "\"") else { throw JSONParseError(.unexpectedByte(bytes[i]), at: i) }
            let key = try parseString()
            skipWhitespace()
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            guard bytes[i] == UInt8(ascii: ":") else { throw JSONParseError(.unexpectedByte(bytes[i]), at: i) }
            i += 1
            skipWhitespace()
            let value = try parseValue()
            members.append((key, value))
            skipWhitespace()
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if bytes[i] == UInt8(ascii: "}") {
                i += 1
                depth -= 1
                return .object(members)
            }
            throw JSONParseError(.unexpectedByte(bytes[i]), at: i)
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = i
        var isInteger = true
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else if isDigit(bytes[i]) {
            while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        } else {
            throw JSONParseError(.invalidNumber, at: i)
        }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            guard isDigit(bytes[i]) else { throw JSONParseError(.invalidNumber, at: i) }
            while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            guard isDigit(bytes[i]) else { throw JSONParseError(.invalidNumber, at: i) }
            while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if isInteger, let v = Int64(text) { return .integer(v) }
        guard let d = Double(text), d.isFinite else { throw JSONParseError(.numberOutOfRange, at: start) }
        return .double(d)
    }

    @inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    mutating func parseString() throws(JSONParseError) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") {
                out.append(contentsOf: bytes[runStart..<i])
                try parseEscape(into: &out)
                runStart = i
                continue
            }
            if b < 0x20 { throw JSONParseError(.controlCharacterInString, at: i) }
            if b < 0x80 {
                i += 1
                continue
            }
            if replaceInvalidUTF8 {
                let len = JSONWriter.validSequenceLength(bytes, at: i)
                if len == 0 {
                    out.append(contentsOf: bytes[runStart..<i])
                    out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    i += 1
                    runStart = i
                } else {
                    i += len
                }
                continue
            }
            try validateUTF8Sequence()
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `i` (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
    mutating func validateUTF8Sequence() throws(JSONParseError) {
        let b0 = bytes[i]
        var need: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: throw JSONParseError(.invalidUTF8, at: i)
        }
        guard i + need < bytes.count else { throw JSONParseError(.invalidUTF8, at: i) }
        let b1 = bytes[i + 1]
        guard b1 >= lo && b1 <= hi else { throw JSONParseError(.invalidUTF8, at: i) }
        if need >= 2 {
            for k in 2...need where bytes[i + k] & 0xC0 != 0x80 { throw JSONParseError(.invalidUTF8, at: i) }
        }
        i += need + 1
    }

    mutating func parseEscape(into out: inout [UInt8]) throws(JSONParseError) {
        i += 1  // backslash
        guard i < bytes.count else { throw JSONParseError(.unexpectedEnd, at: i) }
        let c = bytes[i]
        i += 1
        switch c {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHex4()
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                // A high surrogate must pair with a following \u low surrogate; otherwise it becomes U+FFFD
                // (as Go does).
                if i + 1 < bytes.count && bytes[i] == UInt8(ascii: "\\") && bytes[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    let low = try readHex4()
                    if low >= 0xDC00 && low <= 0xDFFF {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = save
                        scalar = 0xFFFD
                    }
                } else {
                    scalar = 0xFFFD
                }
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                scalar = 0xFFFD
            }
            appendUTF8(UInt32(scalar), to: &out)
        default:
            throw JSONParseError(.invalidEscape, at: i - 1)
        }
    }

    mutating func readHex4() throws(JSONParseError) -> Int {
        guard i + 4 <= bytes.count else { throw JSONParseError(.unexpectedEnd, at: bytes.count) }
        var v = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: Int
            switch b {
            case 0x30...0x39: d = Int(b - 0x30)
            case 0x41...0x46: d = Int(b - 0x41 + 10)
            case 0x61...0x66: d = Int(b - 0x61 + 10)
            default: throw JSONParseError(.invalidUnicodeEscape, at: i)
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }
}

@inline(__always)
func appendUTF8(_ s: UInt32, to out: inout [UInt8]) {
    switch s {
    case 0..<0x80:
        out.append(UInt8(s))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | (s >> 6)))
        out.append(UInt8(0x80 | (s & 0x3F)))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | (s >> 12)))
        out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (s & 0x3F)))
    default:
        out.append(UInt8(0xF0 | (s >> 18)))
        out.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (s & 0x3F)))
    }
}

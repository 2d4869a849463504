import JSON
import SQLiteDB

/// Turns a request body into statements (REFERENCE §1.4). Errors carry rqlite's exact messages and are
/// answered with 400 text errors.
public enum RequestParser {
    public struct Invalid: Error, Equatable, Sendable {
        public var message: String
        static let invalidJSON = Invalid(message: "invalid JSON body")
        static let invalidRequest = Invalid(message: "invalid request")
        static let noStatements = Invalid(message: "no statements")
    }

    /// Whether a Content-Type selects the raw-SQL body form.
    public static func isPlainText(_ contentType: String?) -> Bool {
        contentType?.hasPrefix("text/plain") ?? false
    }

    /// The statements of a body: raw SQL when `plainText`, otherwise the JSON array form. Empty-string
    /// statements are kept here; the handlers drop them.
    public static func parse(body: [UInt8], plainText: Bool) throws(Invalid) -> [Statement] {
        if plainText {
            return [Statement(sql: String(decoding: body, as: UTF8.self))]
        }
        return try parseJSON(body)
    }

    static func parseJSON(_ body: [UInt8]) throws(Invalid) -> [Statement] {
        // rqlite reads the first token on its own: anything valid that is not `[` is an invalid request,
        // even if the rest of the body is broken.
        var k = 0
        while k < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[k]) { k += 1 }
        guard k < body.count else { throw .invalidJSON }
        if body[k] != UInt8(ascii: "[") {
            if body[k] == UInt8(ascii: "{") { throw .invalidRequest }
            // A scalar: invalid request when it is a complete token, else invalid JSON.
            if (try? JSONValue.parse(body, replacingInvalidUTF8: true)) != nil { throw .invalidRequest }
            throw .invalidJSON
        }
        let top: JSONValue
        do {
            // Go's decoder turns invalid UTF-8 inside strings into U+FFFD rather than failing.
            top = try JSONValue.parse(body, replacingInvalidUTF8: true)
        } catch {
            throw .invalidJSON
        }
        guard case .array(let elements) = top else { throw .invalidRequest }
        var statements: [Statement] = []
        statements.reserveCapacity(elements.count)
        for element in elements {
            switch element {
            case .string(let sql):
                statements.append(Statement(sql: sql))
            case .array(let items):
                guard let first = items.first, case .string(let sql) = first else { throw .invalidRequest }
                var parameters: [Parameter] = []
                for item in items.dropFirst() {
                    if case .object(let members) = item {
                        for (name, value) in members {
                            parameters.append(Parameter(name: name, value: try sqlValue(value)))
                        }
                    } else {
                        parameters.append(Parameter(value: try sqlValue(item)))
                    }
                }
                statements.append(Statement(sql: sql, parameters: parameters))
            default:
                throw .invalidRequest
            }
        }
        if statements.isEmpty { throw .noStatements }
        return statements
    }

    /// rqlite's parameter typing: integers that fit int64, other numbers float64, bool, null, text (or a
    /// BLOB for a hex blob literal), an array of byte values as a BLOB; anything else is unsupported.
    static func sqlValue(_ v: JSONValue) throws(Invalid) -> SQLValue {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .integer(let i): return .integer(i)
        case .double(let d): return .real(d)
        case .string(let s):
            if let blob = hexBlobLiteral(s) { return .blob(blob) }
            return .text(s)
        case .array(let items):
            var bytes: [UInt8] = []
            bytes.reserveCapacity(items.count)
            for item in items {
                guard case .integer(let i) = item, i >= 0, i <= 255 else {
                    throw Invalid(message: "unsupported type []interface {}")
                }
                bytes.append(UInt8(i))
            }
            return .blob(bytes)
        case .object:
            throw Invalid(message: "unsupported type map[string]interface {}")
        }
    }

    /// The bytes of a SQLite hex blob literal (`x'0A0B'`, `X'..'`, surrounding whitespace ignored, even
    /// number of hex digits), nil when the text is not one.
    public static func hexBlobLiteral(_ text: String) -> [UInt8]? {
        var u = Substring(text).utf8[...]
        while let f = u.first, f == 0x20 || f == 0x09 || f == 0x0A || f == 0x0D || f == 0x0B || f == 0x0C {
            u = u.dropFirst()
        }
        while let l = u.last, l == 0x20 || l == 0x09 || l == 0x0A || l == 0x0D || l == 0x0B || l == 0x0C {
            u = u.dropLast()
        }
        let b = Array(u)
        guard b.count >= 3, b[0] == UInt8(ascii: "x") || b[0] == UInt8(ascii: "X"), b[1] == UInt8(ascii: "'"),
            b[b.count - 1] == UInt8(ascii: "'")
        else { return nil }
        let hex = b[2..<(b.count - 1)]
        guard hex.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(hex.count / 2)
        var it = hex.makeIterator()
        while let h = it.next(), let l = it.next() {
            guard let hv = nibble(h), let lv = nibble(l) else { return nil }
            out.append(hv << 4 | lv)
        }
        return out
    }

    private static func nibble(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
}

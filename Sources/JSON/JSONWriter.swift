/// Writes JSON straight into a byte buffer, reproducing Go's `encoding/json` output byte for byte:
/// compact like `json.Marshal`, or indented like `json.MarshalIndent(v, "", "    ")`.
///
/// Strings are escaped as Go escapes them by default (HTML-safe): `"` and `\` with a backslash; `\n`, `\r`,
/// `\t`, `\b`, `\f` in short form (Go ≥ 1.22); other control characters as `\u00xx` (lower-case hex); `<`,
/// `>`, `&` as `\u003c`, `\u003e`, `\u0026`; U+2028 and U+2029 as `\u2028`, `\u2029`; invalid UTF-8 as
/// `\ufffd`. Callers are responsible for the order of object keys (Go sorts map keys; structs keep field order).
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]
    public let pretty: Bool
    /// One entry per open container: whether it has no element yet.
    private var empty: [Bool] = []
    private var afterKey = false

    public init(pretty: Bool = false, capacity: Int = 256) {
        self.pretty = pretty
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    private mutating func elementPrefix() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = empty.last else { return }
        if !last { bytes.append(UInt8(ascii: ",")) }
        empty[empty.count - 1] = false
        if pretty { newline() }
    }

    @inline(__always)
    private mutating func newline() {
        bytes.append(0x0A)
        for _ in 0..<empty.count { bytes.append(contentsOf: [0x20, 0x20, 0x20, 0x20]) }
    }

    public mutating func beginObject() {
        elementPrefix()
        bytes.append(UInt8(ascii: "{"))
        empty.append(true)
    }

    public mutating func endObject() {
        let wasEmpty = empty.removeLast()
        if pretty && !wasEmpty { newline() }
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        elementPrefix()
        bytes.append(UInt8(ascii: "["))
        empty.append(true)
    }

    public mutating func endArray() {
        let wasEmpty = empty.removeLast()
        if pretty && !wasEmpty { newline() }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes an object key; the next write is its value.
    public mutating func key(_ k: String) {
        elementPrefix()
        JSONWriter.appendQuoted(k, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        if pretty { bytes.append(0x20) }
        afterKey = true
    }

    public mutating func null() {
        elementPrefix()
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
    }

    public mutating func bool(_ v: Bool) {
        elementPrefix()
        if v {
            bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        } else {
            bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        }
    }

    public mutating func integer(_ v: Int64) {
        elementPrefix()
        JSONWriter.appendInteger(v, to: &bytes)
    }

    public mutating func unsigned(_ v: UInt64) {
        elementPrefix()
        if v <= UInt64(Int64.max) {
            JSONWriter.appendInteger(Int64(v), to: &bytes)
        } else {
            bytes.append(contentsOf: Array(String(v).utf8))
        }
    }

    public mutating func double(_ v: Double) {
        elementPrefix()
        GoFloat.append(v, to: &bytes)
    }

    public mutating func string(_ s: String) {
        elementPrefix()
        JSONWriter.appendQuoted(s, to: &bytes)
    }

    /// Writes bytes as a JSON string, replacing invalid UTF-8 with `\ufffd` as Go does.
    public mutating func string(utf8 raw: [UInt8]) {
        elementPrefix()
        JSONWriter.appendQuoted(utf8: raw, to: &bytes)
    }

    /// Writes pre-encoded JSON text as one value (must be valid, compact JSON when `pretty` is false).
    public mutating func raw(_ json: [UInt8]) {
        elementPrefix()
        bytes.append(contentsOf: json)
    }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .integer(let i): integer(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for (k, item) in members {
                key(k)
                value(item)
            }
            endObject()
        }
    }

    // MARK: Primitives

    public static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var u = v.magnitude
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { buf in
            while u > 0 {
                buf[n] = UInt8(ascii: "0") + UInt8(u % 10)
                u /= 10
                n += 1
            }
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(buf[k]) }
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Whether an ASCII byte can be copied unescaped (Go's htmlSafeSet).
    @inline(__always)
    private static func isSafe(_ b: UInt8) -> Bool {
        b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x3C && b != 0x3E && b != 0x26
    }

    @inline(__always)
    private static func appendEscapedASCII(_ b: UInt8, to out: inout [UInt8]) {
        out.append(0x5C)
        switch b {
        case 0x22, 0x5C: out.append(b)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        default:
            out.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
        }
    }

    /// Appends a quoted, escaped JSON string.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { buf in
            appendQuoted(validUTF8: buf, to: &out)
        }
    }

    private static func appendQuoted(validUTF8 buf: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        var start = 0
        var i = 0
        let n = buf.count
        while i < n {
            let b = buf[i]
            if b < 0x80 {
                if isSafe(b) {
                    i += 1
                    continue
                }
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<i])) }
                appendEscapedASCII(b, to: &out)
                i += 1
                start = i
                continue
            }
            // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
            if b == 0xE2 && i + 2 < n && buf[i + 1] == 0x80 && (buf[i + 2] == 0xA8 || buf[i + 2] == 0xA9) {
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<i])) }
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x32, 0x30, 0x32, buf[i + 2] == 0xA8 ? 0x38 : 0x39])
                i += 3
                start = i
                continue
            }
            i += 1
        }
        if start < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<n])) }
        out.append(0x22)
    }

    /// Appends a quoted JSON string from raw bytes; each invalid UTF-8 sequence becomes `\ufffd`.
    public static func appendQuoted(utf8 raw: [UInt8], to out: inout [UInt8]) {
        out.append(0x22)
        var i = 0
        let n = raw.count
        while i < n {
            let b = raw[i]
            if b < 0x80 {
                if isSafe(b) { out.append(b) } else { appendEscapedASCII(b, to: &out) }
                i += 1
                continue
            }
            let len = validSequenceLength(raw, at: i)
            if len == 0 {
                out.append(contentsOf: Array("\\ufffd".utf8))
                i += 1
                continue
            }
            if len == 3 && b == 0xE2 && raw[i + 1] == 0x80 && (raw[i + 2] == 0xA8 || raw[i + 2] == 0xA9) {
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x32, 0x30, 0x32, raw[i + 2] == 0xA8 ? 0x38 : 0x39])
            } else {
                out.append(contentsOf: raw[i..<(i + len)])
            }
            i += len
        }
        out.append(0x22)
    }

    /// Length of the valid UTF-8 sequence starting at `i`, 0 if invalid.
    static func validSequenceLength(_ bytes: [UInt8], at i: Int) -> Int {
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
        default: return 0
        }
        guard i + need < bytes.count else { return 0 }
        guard bytes[i + 1] >= lo && bytes[i + 1] <= hi else { return 0 }
        if need >= 2 {
            for k in 2...need where bytes[i + k] & 0xC0 != 0x80 { return 0 }
        }
        return need + 1
    }
}

extension JSONValue {
    /// The Go `encoding/json` text of this value: compact (`json.Marshal`) or indented with four spaces
    /// (`json.MarshalIndent(v, "", "    ")`).
    public func encoded(pretty: Bool = false) -> [UInt8] {
        var w = JSONWriter(pretty: pretty)
        w.value(self)
        return w.bytes
    }

    /// `encoded(pretty:)` as a String.
    public func encodedString(pretty: Bool = false) -> String {
        String(decoding: encoded(pretty: pretty), as: UTF8.self)
    }

    /// This value with the keys of every object sorted (as Go's encoder sorts map keys), recursively.
    public func sortedKeys() -> JSONValue {
        switch self {
        case .array(let items): return .array(items.map { $0.sortedKeys() })
        case .object(let members):
            return .object(members.map { ($0.0, $0.1.sortedKeys()) }.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) })
        default: return self
        }
    }
}

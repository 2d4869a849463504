#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSON

/// How rows are printed (`.mode`).
enum OutputMode: String, CaseIterable {
    /// Aligned table with a header, as rqlite's shell prints.
    case column
    case csv
    case json
    /// One `column = value` line per column, a blank line between rows.
    case line
}

/// Where results go: standard output, or a file chosen with `.output`. Errors always go to standard error.
final class Output {
    private(set) var fd: Int32 = 1
    private(set) var path: String?
    private var buffer: [UInt8] = []

    func redirect(to path: String?) throws {
        flush()
        if fd != 1 { close(fd) }
        fd = 1
        self.path = nil
        guard let path else { return }
        let f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard f >= 0 else { throw ShellError("cannot open \"\(path)\": \(errnoText())") }
        fd = f
        self.path = path
    }

    func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count > 64 * 1024 { flush() }
    }

    func line(_ s: String = "") {
        write(s)
        write("\n")
    }

    func flush() {
        writeAll(fd, buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func error(_ message: String) {
        flush()
        writeAll(2, Array("Error: \(message)\n".utf8))
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
    }
}

/// A cell as text: NULL for null, numbers as the server wrote them, strings raw, arrays and objects as JSON.
func cellText(_ value: JSONValue) -> String {
    switch value {
    case .null: return "NULL"
    case .bool(let b): return b ? "true" : "false"
    case .integer(let i): return String(i)
    case .double(let d): return GoFloat.format(d)
    case .string(let s): return s
    case .array, .object: return value.encodedString()
    }
}

/// Terminal columns a character takes: 2 for East Asian wide and emoji, 0 for combining marks and
/// zero-width characters, else 1 (a compact take on wcwidth).
func columnWidth(_ c: Character) -> Int {
    guard let first = c.unicodeScalars.first else { return 0 }
    let v = first.value
    if v < 0x300 { return v < 0x20 || (v >= 0x7f && v < 0xa0) ? 0 : 1 }
    if (0x300...0x36f).contains(v) || v == 0x200b || v == 0x200d || (0xfe00...0xfe0f).contains(v) { return 0 }
    let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115f, 0x2e80...0x303e, 0x3041...0x33ff, 0x3400...0x4dbf, 0x4e00...0x9fff, 0xa000...0xa4cf,
        0xac00...0xd7a3, 0xf900...0xfaff, 0xfe30...0xfe4f, 0xff00...0xff60, 0xffe0...0xffe6, 0x1f300...0x1f64f,
        0x1f900...0x1f9ff, 0x20000...0x2fffd, 0x30000...0x3fffd,
    ]
    return wide.contains { $0.contains(v) } ? 2 : 1
}

/// Terminal columns a string takes.
func columnWidth(_ s: String) -> Int { s.reduce(0) { $0 + columnWidth($1) } }

/// A rows result from the server: column names and row values.
struct Rows {
    var columns: [String]
    var values: [[JSONValue]]

    init?(_ result: JSONValue) {
        guard result["columns"] != nil || result["types"] != nil || result["values"] != nil else { return nil }
        if case .array(let cols)? = result["columns"] {
            columns = cols.map { if case .string(let s) = $0 { return s } else { return cellText($0) } }
        } else {
            columns = []
        }
        if case .array(let rows)? = result["values"] {
            values = rows.map { if case .array(let r) = $0 { return r } else { return [$0] } }
        } else {
            values = []
        }
    }

    init(columns: [String], values: [[JSONValue]]) {
        self.columns = columns
        self.values = values
    }

    func cell(_ row: Int, _ column: Int) -> JSONValue {
        column < values[row].count ? values[row][column] : .null
    }

    func render(_ mode: OutputMode, to out: Output) {
        switch mode {
        case .column: renderTable(out)
        case .csv: renderCSV(out)
        case .json: renderJSON(out)
        case .line: renderLines(out)
        }
    }

    /// rqlite's shell table:
    /// ```
    /// +----+-------+
    /// | id | name  |
    /// +----+-------+
    /// | 1  | fiona |
    /// +----+-------+
    /// ```
    private func renderTable(_ out: Output) {
        guard !columns.isEmpty else { return }
        let text = values.indices.map { r in columns.indices.map { cellText(cell(r, $0)) } }
        var widths = columns.map { columnWidth($0) }
        for row in text {
            for (c, s) in row.enumerated() { widths[c] = max(widths[c], columnWidth(s)) }
        }
        let border = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+"
        func row(_ cells: [String]) -> String {
            "|" + cells.enumerated().map { c, s in " " + s + String(repeating: " ", count: widths[c] - columnWidth(s)) + " " }
                .joined(separator: "|") + "|"
        }
        out.line(border)
        out.line(row(columns))
        out.line(border)
        for r in text { out.line(row(r)) }
        out.line(border)
    }

    private func csvField(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || s.first == " " || s.last == " " {
            return "\"" + s.replacingAll("\"", with: "\"\"") + "\""
        }
        return s
    }

    private func renderCSV(_ out: Output) {
        out.line(columns.map(csvField).joined(separator: ","))
        for r in values.indices {
            out.line(columns.indices.map { c -> String in
                let v = cell(r, c)
                if case .null = v { return "" }
                return csvField(cellText(v))
            }.joined(separator: ","))
        }
    }

    private func renderJSON(_ out: Output) {
        if values.isEmpty {
            out.line("[]")
            return
        }
        for r in values.indices {
            let object = JSONValue.object(columns.indices.map { (columns[$0], cell(r, $0)) })
            out.write(r == 0 ? "[" : "")
            out.write(object.encodedString())
            out.line(r == values.count - 1 ? "]" : ",")
        }
    }

    private func renderLines(_ out: Output) {
        let width = columns.map { columnWidth($0) }.max() ?? 0
        for r in values.indices {
            if r > 0 { out.line() }
            for (c, name) in columns.enumerated() {
                out.line(String(repeating: " ", count: width - columnWidth(name)) + name + " = " + cellText(cell(r, c)))
            }
        }
    }
}

/// JSON from status-like endpoints as an indented `key: value` tree (rqlite's shell prints them this way).
func treeLines(_ value: JSONValue, indent: Int = 0) -> [String] {
    let pad = String(repeating: "  ", count: indent)
    switch value {
    case .object(let members):
        var lines: [String] = []
        for (key, v) in members {
            switch v {
            case .null: continue
            case .object(let m) where !m.isEmpty:
                lines.append(pad + key + ":")
                lines += treeLines(v, indent: indent + 1)
            case .array(let items) where items.contains(where: { if case .object = $0 { return true } else { return false } }):
                lines.append(pad + key + ":")
                lines += treeLines(v, indent: indent + 1)
            default:
                lines.append(pad + key + ": " + scalarText(v))
            }
        }
        return lines
    case .array(let items):
        var lines: [String] = []
        for item in items {
            if case .object = item {
                let inner = treeLines(item, indent: indent + 1)
                for (i, l) in inner.enumerated() {
                    lines.append(i == 0 ? pad + "- " + l.dropFirst(pad.count + 2) : l)
                }
                if inner.isEmpty { lines.append(pad + "- {}") }
            } else {
                lines.append(pad + "- " + scalarText(item))
            }
        }
        return lines
    default:
        return [pad + scalarText(value)]
    }
}

private func scalarText(_ v: JSONValue) -> String {
    switch v {
    case .array(let items): return "[" + items.map(scalarText).joined(separator: ", ") + "]"
    case .object(let m) where m.isEmpty: return "{}"
    default: return cellText(v)
    }
}

/// `0.000123` — seconds with six decimals, as rqlite's `Run Time: %f seconds`.
func fixedSix(_ x: Double) -> String {
    let micros = Int((x * 1_000_000).rounded())
    let frac = String(micros % 1_000_000)
    return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
}

/// `1.5 MiB`
func byteCount(_ n: Int) -> String {
    if n < 1024 { return "\(n) B" }
    let units = ["KiB", "MiB", "GiB", "TiB"]
    var value = Double(n) / 1024
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }

    /// Percent-encodes for a URL query value.
    var queryEscaped: String {
        var out = ""
        for b in utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xf)])
            }
        }
        return out
    }
}

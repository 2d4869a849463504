/// Go's `time.Duration` string syntax, as rqlite's flags and query parameters use it.
///
/// Parsing accepts what Go's `time.ParseDuration` accepts: an optional sign, then one or more decimal
/// numbers each with a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), e.g. `300ms`, `-1.5h`, `2h45m`.
/// A bare `0` is valid; any other number without a unit is not. Formatting reproduces Go's
/// `Duration.String()` byte for byte (`1h2m3s`, `312µs`, `1.5s`, `0s`).
public enum GoDuration {
    /// Nanoseconds in one of each unit.
    private static let units: [(String, Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]

    /// Parses a Go duration string into nanoseconds; nil when the text is not a valid duration.
    public static func parseNanoseconds(_ text: String) -> Int64? {
        var s = Substring(text)
        guard !s.isEmpty else { return nil }
        var negative = false
        if s.first == "-" || s.first == "+" {
            negative = s.first == "-"
            s = s.dropFirst()
        }
        if s == "0" { return 0 }
        guard !s.isEmpty else { return nil }
        var total: Double = 0
        while !s.isEmpty {
            // The number: digits, optionally a fraction.
            var digits = ""
            while let c = s.first, c.isASCII, c.isNumber || c == "." {
                digits.append(c)
                s = s.dropFirst()
            }
            guard !digits.isEmpty, digits != ".", digits.filter({ $0 == "." }).count <= 1,
                let value = Double(digits.hasPrefix(".") ? "0" + digits : digits)
            else { return nil }
            // The unit: the longest match.
            var unitText = ""
            while let c = s.first, !(c.isASCII && (c.isNumber || c == ".")) {
                unitText.append(c)
                s = s.dropFirst()
            }
            guard let unit = units.first(where: { $0.0 == unitText }) else { return nil }
            total += value * unit.1
        }
        guard total <= Double(Int64.max) else { return nil }
        let ns = Int64(total.rounded())
        return negative ? -ns : ns
    }

    /// Parses a Go duration string into seconds; nil when invalid.
    public static func parseSeconds(_ text: String) -> Double? {
        parseNanoseconds(text).map { Double($0) / 1e9 }
    }

    /// Formats nanoseconds exactly as Go's `time.Duration.String()`.
    public static func format(nanoseconds d: Int64) -> String {
        if d == 0 { return "0s" }
        let negative = d < 0
        var u = d.magnitude
        var out: String
        if u < 1_000_000_000 {
            // Sub-second: ns, µs or ms with a fraction.
            let (unit, scale): (String, UInt64)
            if u < 1_000 {
                return (negative ? "-" : "") + "\(u)ns"
            } else if u < 1_000_000 {
                (unit, scale) = ("µs", 1_000)
            } else {
                (unit, scale) = ("ms", 1_000_000)
            }
            out = fraction(u, scale: scale) + unit
        } else {
            let totalSeconds = u / 1_000_000_000
            let frac = u % 1_000_000_000
            var secText = "\(totalSeconds % 60)"
            if frac != 0 {
                var f = String(frac)
                f = String(repeating: "0", count: 9 - f.count) + f
                while f.hasSuffix("0") { f.removeLast() }
                secText += "." + f
            }
            out = secText + "s"
            u = totalSeconds / 60
            if u > 0 {
                out = "\(u % 60)m" + out
                u /= 60
                if u > 0 { out = "\(u)h" + out }
            }
        }
        return (negative ? "-" : "") + out
    }

    /// Formats seconds as Go would format the equivalent Duration.
    public static func format(seconds: Double) -> String {
        format(nanoseconds: Int64((seconds * 1e9).rounded()))
    }

    private static func fraction(_ v: UInt64, scale: UInt64) -> String {
        let whole = v / scale
        var rest = v % scale
        guard rest != 0 else { return "\(whole)" }
        var digits = ""
        var s = scale / 10
        while s > 0 {
            digits.append(Character(String(rest / s)))
            rest %= s
            s /= 10
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }
}

/// Go's float formatting as `encoding/json` applies it to float64 values.
public enum GoFloat {
    /// Appends `value` as Go's `json.Marshal` writes a float64: `strconv.FormatFloat(v, 'f', -1, 64)` with
    /// shortest round-trip digits, switching to exponent form (`'e'`) when |v| < 1e-6 or |v| >= 1e21, and
    /// shortening a two-digit negative exponent `e-07` to `e-7`. Non-finite values (which Go refuses to
    /// encode) are written as `null`.
    public static func append(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            return
        }
        if value == 0 {
            if value.sign == .minus { out.append(UInt8(ascii: "-")) }
            out.append(UInt8(ascii: "0"))
            return
        }
        // Fast path: integral values below 2^53 print as plain integers in both notations.
        if value.magnitude < 9_007_199_254_740_992, value == value.rounded(.towardZero) {
            var i = Int64(value)
            if i == 0 {  // -0.0 handled above; tiny values are not integral
                out.append(UInt8(ascii: "0"))
                return
            }
            if i < 0 {
                out.append(UInt8(ascii: "-"))
                i = -i
            }
            JSONWriter.appendInteger(i, to: &out)
            return
        }
        // Swift's description gives the shortest digits that round-trip; take them apart.
        let (negative, digits, pointExponent) = decompose(value)
        if negative { out.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        if magnitude < 1e-6 || magnitude >= 1e21 {
            // d.ddddde±XX
            out.append(digits[0])
            if digits.count > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[1...])
            }
            out.append(UInt8(ascii: "e"))
            let exp = pointExponent - 1
            out.append(exp < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            let e = exp.magnitude
            // Go prints at least two exponent digits, then json trims "e-0X" to "e-X".
            if e < 10 {
                if exp >= 0 { out.append(UInt8(ascii: "0")) }
                out.append(UInt8(ascii: "0") + UInt8(e))
            } else {
                out.append(contentsOf: Array(String(e).utf8))
            }
        } else {
            // Fixed notation: value = 0.digits × 10^pointExponent.
            if pointExponent <= 0 {
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "."))
                for _ in 0..<(-pointExponent) { out.append(UInt8(ascii: "0")) }
                out.append(contentsOf: digits)
            } else if pointExponent >= digits.count {
                out.append(contentsOf: digits)
                for _ in 0..<(pointExponent - digits.count) { out.append(UInt8(ascii: "0")) }
            } else {
                out.append(contentsOf: digits[0..<pointExponent])
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[pointExponent...])
            }
        }
    }

    /// The Go JSON text of a float64.
    public static func format(_ value: Double) -> String {
        var out: [UInt8] = []
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Shortest significant digits (no leading/trailing zeros) and the exponent `e` such that
    /// |value| = 0.digits × 10^e.
    static func decompose(_ value: Double) -> (negative: Bool, digits: [UInt8], pointExponent: Int) {
        let text = Array(value.description.utf8)
        var idx = 0
        var negative = false
        if text.first == UInt8(ascii: "-") {
            negative = true
            idx = 1
        }
        var digits: [UInt8] = []
        var intDigits = 0
        var seenPoint = false
        var exp10 = 0
        while idx < text.count {
            let c = text[idx]
            if c == UInt8(ascii: ".") {
                seenPoint = true
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                exp10 = Int(String(decoding: text[(idx + 1)...], as: UTF8.self)) ?? 0
                break
            } else {
                digits.append(c)
                if !seenPoint { intDigits += 1 }
            }
            idx += 1
        }
        // Strip leading zeros (adjusting the point position) and trailing zeros.
        var lead = 0
        while lead < digits.count - 1 && digits[lead] == UInt8(ascii: "0") { lead += 1 }
        var pointExponent = intDigits - lead + exp10
        digits.removeFirst(lead)
        while digits.count > 1 && digits.last == UInt8(ascii: "0") { digits.removeLast() }
        if digits == [UInt8(ascii: "0")] { pointExponent = 0 }
        return (negative, digits, pointExponent)
    }
}

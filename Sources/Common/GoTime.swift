import Foundation

/// Time and size formats as rqlite (Go) prints them in status documents.
public enum GoTime {
    /// RFC 3339 with nanoseconds, trailing zeros of the fraction removed, UTC (`2026-01-02T03:04:05.123Z`),
    /// as Go's `time.RFC3339Nano`.
    public static func rfc3339Nano(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = seconds.rounded(.down)
        var nanos = Int(((seconds - whole) * 1e9).rounded())
        if nanos >= 1_000_000_000 {
            whole += 1
            nanos -= 1_000_000_000
        }
        var t = time_t(whole)
        var parts = tm()
        gmtime_r(&t, &parts)
        var text = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        if nanos > 0 {
            var fraction = String(format: "%09d", nanos)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    /// Go's zero `time.Time` formatted with `time.RFC3339`: what rqlite prints for a time that never happened.
    public static let zeroRFC3339 = "0001-01-01T00:00:00Z"

    /// RFC 3339 at second precision, UTC (`2026-01-02T03:04:05Z`).
    public static func rfc3339(_ date: Date) -> String {
        let s = rfc3339Nano(date)
        guard let dot = s.firstIndex(of: ".") else { return s }
        return String(s[..<dot]) + "Z"
    }

    /// A byte count for people: `512 B`, `8.2 kB`, `1.5 MB` (SI units, as rqlite's friendly sizes).
    public static func friendlyBytes(_ n: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(n)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}

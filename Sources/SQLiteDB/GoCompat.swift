// Byte-exact reproductions of the few Go standard-library behaviours that leak into rqlite's output:
// how `string([]byte)` text reaches JSON (invalid UTF-8 → one U+FFFD per bad byte), and how go-sqlite3
// parses timestamps and rqlite marshals `time.Time` (RFC 3339 with nanoseconds).

/// Decoding of bytes to text the way Go's JSON encoder sees a Go string.
enum GoString {
    /// Valid UTF-8 is kept as is; each byte that does not start a valid sequence becomes U+FFFD
    /// (`utf8.DecodeRune` returns width 1 for invalid input), unlike Swift's maximal-subpart repair.
    static func decode(_ bytes: [UInt8]) -> String {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        var scalars = String.UnicodeScalarView()
        var i = 0
        let n = bytes.count
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            k < n && bytes[k] >= lo && bytes[k] <= hi
        }
        while i < n {
            let b0 = bytes[i]
            var width = 0
            var value: UInt32 = 0
            switch b0 {
            case 0x00...0x7F:
                width = 1
                value = UInt32(b0)
            case 0xC2...0xDF:
                if cont(i + 1) {
                    width = 2
                    value = (UInt32(b0 & 0x1F) << 6) | UInt32(bytes[i + 1] & 0x3F)
                }
            case 0xE0...0xEF:
                let (lo, hi): (UInt8, UInt8) = b0 == 0xE0 ? (0xA0, 0xBF) : b0 == 0xED ? (0x80, 0x9F) : (0x80, 0xBF)
                if cont(i + 1, lo, hi) && cont(i + 2) {
                    width = 3
                    value = (UInt32(b0 & 0x0F) << 12) | (UInt32(bytes[i + 1] & 0x3F) << 6) | UInt32(bytes[i + 2] & 0x3F)
                }
            case 0xF0...0xF4:
                let (lo, hi): (UInt8, UInt8) = b0 == 0xF0 ? (0x90, 0xBF) : b0 == 0xF4 ? (0x80, 0x8F) : (0x80, 0xBF)
                if cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) {
                    width = 4
                    value =
                        (UInt32(b0 & 0x07) << 18) | (UInt32(bytes[i + 1] & 0x3F) << 12)
                        | (UInt32(bytes[i + 2] & 0x3F) << 6) | UInt32(bytes[i + 3] & 0x3F)
                }
            default:
                break
            }
            if width == 0 {
                scalars.append("\u{FFFD}")
                i += 1
            } else {
                scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
                i += width
            }
        }
        return String(scalars)
    }
}

/// A point in time with a fixed UTC offset, as far as go-sqlite3 + rqlite use `time.Time`.
struct GoTime: Equatable {
    /// Seconds since the Unix epoch.
    var unixSeconds: Int64
    /// 0..<1_000_000_000.
    var nanoseconds: Int64
    /// Seconds east of UTC; 0 renders as `Z`.
    var offset: Int64

    /// Go's zero `time.Time` (0001-01-01T00:00:00Z), which go-sqlite3 returns for unparseable text.
    static let zero = GoTime(unixSeconds: daysFromCivil(1, 1, 1) * 86400, nanoseconds: 0, offset: 0)

    /// go-sqlite3's reading of an INTEGER in a DATE/DATETIME/TIMESTAMP column: Unix seconds, or
    /// milliseconds when |v| > 1e12 (with Go's wrapping int64 multiply), in UTC.
    static func fromUnix(_ v: Int64) -> GoTime {
        if v > 1_000_000_000_000 || v < -1_000_000_000_000 {
            let ns = v &* 1_000_000
            var sec = ns / 1_000_000_000
            var nsec = ns % 1_000_000_000
            if nsec < 0 {
                nsec += 1_000_000_000
                sec -= 1
            }
            return GoTime(unixSeconds: sec, nanoseconds: nsec, offset: 0)
        }
        return GoTime(unixSeconds: v, nanoseconds: 0, offset: 0)
    }

    /// go-sqlite3's reading of TEXT in a DATE/DATETIME/TIMESTAMP column: strip one trailing "Z", try
    /// `SQLiteTimestampFormats` in order (parsed in UTC), zero time when none matches.
    static func fromSQLiteText(_ text: String) -> GoTime {
        var bytes = Array(text.utf8)
        if bytes.last == UInt8(ascii: "Z") { bytes.removeLast() }
        for layout in layouts {
            if let t = parse(bytes, layout) { return t }
        }
        return .zero
    }

    struct Layout {
        var separator: UInt8?  // nil: date only
        var seconds: Bool
        var zone: Bool
    }

    /// go-sqlite3's SQLiteTimestampFormats. The `.999999999` layouts and the plain-seconds layouts accept
    /// the same inputs in Go (a fraction after seconds is always accepted), so one flag covers both.
    static let layouts: [Layout] = [
        Layout(separator: UInt8(ascii: " "), seconds: true, zone: true),  // 2006-01-02 15:04:05.999999999-07:00
        Layout(separator: UInt8(ascii: "T"), seconds: true, zone: true),  // 2006-01-02T15:04:05.999999999-07:00
        Layout(separator: UInt8(ascii: " "), seconds: true, zone: false),  // 2006-01-02 15:04:05.999999999
        Layout(separator: UInt8(ascii: "T"), seconds: true, zone: false),  // 2006-01-02T15:04:05.999999999
        Layout(separator: UInt8(ascii: " "), seconds: true, zone: false),  // 2006-01-02 15:04:05
        Layout(separator: UInt8(ascii: "T"), seconds: true, zone: false),  // 2006-01-02T15:04:05
        Layout(separator: UInt8(ascii: " "), seconds: false, zone: false),  // 2006-01-02 15:04
        Layout(separator: UInt8(ascii: "T"), seconds: false, zone: false),  // 2006-01-02T15:04
        Layout(separator: nil, seconds: false, zone: false),  // 2006-01-02
    ]

    /// Go's `time.ParseInLocation(layout, s, time.UTC)` for the layouts above.
    static func parse(_ v: [UInt8], _ layout: Layout) -> GoTime? {
        var p = 0
        func isDigit(_ k: Int) -> Bool { k < v.count && v[k] >= 0x30 && v[k] <= 0x39 }
        func digit(_ k: Int) -> Int64 { Int64(v[k] - 0x30) }
        func literal(_ c: UInt8) -> Bool {
            guard p < v.count, v[p] == c else { return false }
            p += 1
            return true
        }
        func fixed2() -> Int64? {
            guard isDigit(p), isDigit(p + 1) else { return nil }
            defer { p += 2 }
            return digit(p) * 10 + digit(p + 1)
        }
        // 2006
        guard isDigit(p), isDigit(p + 1), isDigit(p + 2), isDigit(p + 3) else { return nil }
        let year = digit(p) * 1000 + digit(p + 1) * 100 + digit(p + 2) * 10 + digit(p + 3)
        p += 4
        guard literal(UInt8(ascii: "-")), let month = fixed2(), month >= 1, month <= 12 else { return nil }
        guard literal(UInt8(ascii: "-")), let day = fixed2() else { return nil }
        var hour: Int64 = 0
        var minute: Int64 = 0
        var second: Int64 = 0
        var nanos: Int64 = 0
        var offset: Int64 = 0
        if let separator = layout.separator {
            guard literal(separator) else { return nil }
            // 15: one or two digits
            guard isDigit(p) else { return nil }
            hour = digit(p)
            p += 1
            if isDigit(p) {
                hour = hour * 10 + digit(p)
                p += 1
            }
            guard hour < 24 else { return nil }
            guard literal(UInt8(ascii: ":")), let mi = fixed2(), mi < 60 else { return nil }
            minute = mi
            if layout.seconds {
                guard literal(UInt8(ascii: ":")), let s = fixed2(), s < 60 else { return nil }
                second = s
                if p < v.count, v[p] == UInt8(ascii: ".") || v[p] == UInt8(ascii: ","), isDigit(p + 1) {
                    p += 1
                    var count = 0
                    while isDigit(p) {
                        if count < 9 {
                            nanos = nanos * 10 + digit(p)
                            count += 1
                        }
                        p += 1
                    }
                    for _ in count..<9 { nanos *= 10 }
                }
            }
            if layout.zone {
                guard v.count - p >= 6, v[p + 3] == UInt8(ascii: ":") else { return nil }
                let sign = v[p]
                guard isDigit(p + 1), isDigit(p + 2), isDigit(p + 4), isDigit(p + 5) else { return nil }
                let hr = digit(p + 1) * 10 + digit(p + 2)
                let mm = digit(p + 4) * 10 + digit(p + 5)
                guard hr <= 24, mm <= 60 else { return nil }
                offset = (hr * 60 + mm) * 60
                switch sign {
                case UInt8(ascii: "+"): break
                case UInt8(ascii: "-"): offset = -offset
                default: return nil
                }
                p += 6
            }
        }
        guard p == v.count else { return nil }
        guard day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        let local = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
        return GoTime(unixSeconds: local - offset, nanoseconds: nanos, offset: offset)
    }

    /// Go's `Time.MarshalText` (RFC 3339 with trimmed nanoseconds), including its errors for years outside
    /// 0...9999 and offsets of 24 hours or more.
    func marshalText() -> Result<String, DatabaseError> {
        let local = unixSeconds + offset
        let days = Self.floorDiv(local, 86400)
        let secondOfDay = local - days * 86400
        let (year, month, day) = Self.civilFromDays(days)
        guard year >= 0, year <= 9999 else {
            return .failure(DatabaseError(resultCode: 1, message: "Time.MarshalText: year outside of range [0,9999]"))
        }
        var out = Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2)
        out += "T" + Self.pad(secondOfDay / 3600, 2) + ":" + Self.pad(secondOfDay / 60 % 60, 2) + ":"
            + Self.pad(secondOfDay % 60, 2)
        if nanoseconds > 0 {
            var fraction = Self.pad(nanoseconds, 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            out += "." + fraction
        }
        if offset == 0 {
            out += "Z"
        } else {
            let minutes = abs(offset) / 60
            guard minutes / 60 < 24 else {
                return .failure(
                    DatabaseError(resultCode: 1, message: "Time.MarshalText: timezone hour outside of range [0,23]"))
            }
            out += (offset < 0 ? "-" : "+") + Self.pad(minutes / 60, 2) + ":" + Self.pad(minutes % 60, 2)
        }
        return .success(out)
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func isLeap(_ y: Int64) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = floorDiv(z, 146097)
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

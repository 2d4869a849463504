/// The request target as sent on the request line, split into a percent-decoded path and the raw query.
struct RequestTarget: Equatable {
    var path: String
    var rawQuery: String

    /// Parses origin-form (`/db/query?pretty`) and absolute-form (`http://host/db/query?pretty`) targets.
    /// A fragment (never sent by real clients) is dropped. `%XX` in the path is decoded; `+` is kept, as
    /// in Go's URL.Path. Invalid escapes are left as they are.
    init(raw: String) {
        var target = Substring(raw)
        if let hash = target.firstIndex(of: "#") { target = target[..<hash] }
        var query = Substring("")
        if let mark = target.firstIndex(of: "?") {
            query = target[target.index(after: mark)...]
            target = target[..<mark]
        }
        if !target.hasPrefix("/"), let colon = target.firstIndex(of: ":"),
            target[colon...].hasPrefix("://")
        {
            let rest = target[target.index(colon, offsetBy: 3)...]
            target = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        self.path = RequestTarget.percentDecode(target)
        self.rawQuery = String(query)
    }

    static func percentDecode(_ text: Substring) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension String {
    /// Decodes a NUL-terminated C buffer (as filled by the C shims).
    init(nulTerminated buffer: [CChar]) {
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

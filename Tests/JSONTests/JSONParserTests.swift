import JSON
import Testing

private func parse(_ s: String) throws -> JSONValue { try JSONValue.parse(s) }

@Test func parsesScalars() throws {
    #expect(try parse("null") == .null)
    #expect(try parse(" true ") == .bool(true))
    #expect(try parse("false") == .bool(false))
    #expect(try parse("0") == .integer(0))
    #expect(try parse("-0") == .integer(0))
    #expect(try parse("-12") == .integer(-12))
    #expect(try parse("9223372036854775807") == .integer(.max))
    #expect(try parse("-9223372036854775808") == .integer(.min))
    #expect(try parse("9223372036854775808") == .double(9223372036854775808.0))
    #expect(try parse("1.0") == .double(1.0))
    #expect(try parse("1e2") == .double(100))
    #expect(try parse("-1.5E-3") == .double(-0.0015))
    #expect(try parse("\"a\\u00e9\\ud83c\\udf89\\n\\/\"") == .string("aé🎉\n/"))
}

@Test func parsesContainersKeepingOrder() throws {
    let v = try parse(#" { "b" : [1, 2.5, "x", [], {}], "a": null, "b": true } "#)
    guard case .object(let members) = v else {
        Issue.record("not an object")
        return
    }
    #expect(members.map(\.0) == ["b", "a", "b"])
    #expect(members[0].1 == .array([.integer(1), .double(2.5), .string("x"), .array([]), .object([])]))
    #expect(v["a"] == .null)
}

@Test(arguments: [
    "", " ", "[", "]", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "-", "+1", "1e",
    "1e+", "NaN", "Infinity", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"tab\there\"", "[1] x",
    "{} {}", "'a'", "[1 2]", "1e400", "-1e400", "\u{FEFF}[]", "/* c */ 1", "[\"a\"]]",
])
func rejectsInvalidJSON(text: String) {
    #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
}

@Test func rejectsInvalidUTF8() {
    for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22],
                           [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x5B, 0xFF, 0x5D]] {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
    }
    #expect((try? JSONValue.parse([0x22, 0xF0, 0x9F, 0x8E, 0x89, 0x22])) == .string("🎉"))
}

@Test func replacingInvalidUTF8LikeGo() throws {
    let v = try JSONValue.parse([0x22, 0x61, 0xFF, 0xE2, 0x82, 0x62, 0xC3, 0xA9, 0x22], replacingInvalidUTF8: true)
    #expect(v == .string("a\u{FFFD}\u{FFFD}\u{FFFD}bé"))
    #expect(throws: JSONParseError.self) { try JSONValue.parse([0x5B, 0xFF, 0x5D], replacingInvalidUTF8: true) }
}

@Test func trailingGarbageReportsOffset() {
    do {
        _ = try JSONValue.parse("[1]  x")
        Issue.record("expected an error")
    } catch {
        #expect(error.reason == .trailingData)
        #expect(error.offset == 5)
    }
}

@Test func depthLimit() throws {
    let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
    #expect(throws: Never.self) { try JSONValue.parse(ok, maxDepth: 100) }
    #expect(throws: JSONParseError.self) { try JSONValue.parse(ok, maxDepth: 99) }
    let deep = String(repeating: "[", count: 100_000)
    #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
}

@Test func loneSurrogatesBecomeReplacementCharacter() throws {
    #expect(try parse(#""\ud800x""#) == .string("\u{FFFD}x"))
    #expect(try parse(#""\udc00""#) == .string("\u{FFFD}"))
}

@Test func roundTrip() throws {
    let text = #"{"a":[1,-2,3.5,"\u003cx\u003e",null,true,false,{"b":{}}],"c":"é\u2028"}"#
    let v = try parse(text)
    #expect(v.encodedString() == text)
    #expect(try parse(#""<x>""#).encodedString() == #""\u003cx\u003e""#)
}

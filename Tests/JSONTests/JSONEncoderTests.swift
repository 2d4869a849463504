import JSON
import Testing

private func compact(_ v: JSONValue) -> String { v.encodedString() }

@Test(arguments: [
    (1e21, "1e+21"), (0.000001, "0.000001"), (1e-7, "1e-7"), (100.0, "100"), (0.1, "0.1"),
    (-0.0, "-0"), (0.0, "0"), (1.5, "1.5"), (123456789.125, "123456789.125"), (1e20, "100000000000000000000"),
    (1.2345678901234568e+20, "123456789012345680000"), (1.5e300, "1.5e+300"), (2.5e-10, "2.5e-10"),
    (-3.25e-7, "-3.25e-7"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    (0.00012, "0.00012"), (3.0000000000000004, "3.0000000000000004"), (1e100, "1e+100"), (-1e21, "-1e+21"),
    (9.999999999999999e20, "999999999999999900000"),
])
func goFloatFormatting(value: Double, expected: String) {
    #expect(GoFloat.format(value) == expected)
    #expect(compact(.double(value)) == expected)
}

@Test func nonFiniteFloatsBecomeNull() {
    #expect(GoFloat.format(.infinity) == "null")
    #expect(GoFloat.format(.nan) == "null")
}

@Test func integers() {
    #expect(compact(.integer(0)) == "0")
    #expect(compact(.integer(-42)) == "-42")
    #expect(compact(.integer(.max)) == "9223372036854775807")
    #expect(compact(.integer(.min)) == "-9223372036854775808")
}

@Test func stringEscapingLikeGo() {
    #expect(compact(.string("<a href=\"x\">&</a>")) == #""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e""#)
    #expect(compact(.string("a\nb\rc\td\u{08}e\u{0C}f")) == #""a\nb\rc\td\be\ff""#)
    #expect(compact(.string("\u{01}\u{1F}\u{7F}")) == "\"\\u0001\\u001f\u{7F}\"")
    #expect(compact(.string("back\\slash")) == #""back\\slash""#)
    #expect(compact(.string("line\u{2028}para\u{2029}")) == #""line\u2028para\u2029""#)
    #expect(compact(.string("héllo 世界 🎉")) == "\"héllo 世界 🎉\"")
    #expect(compact(.string("/")) == "\"/\"")
}

@Test func invalidUTF8BecomesReplacementEscape() {
    var out: [UInt8] = []
    JSONWriter.appendQuoted(utf8: [0x61, 0xFF, 0x62, 0xC3, 0xA9, 0xED, 0xA0, 0x80, 0xE2, 0x80, 0xA8], to: &out)
    #expect(String(decoding: out, as: UTF8.self) == "\"a\\ufffdbé\\ufffd\\ufffd\\ufffd\\u2028\"")
}

@Test func compactStructure() {
    let v: JSONValue = .object([
        ("results", .array([.object([]), .object([("a", .integer(1)), ("b", .array([]))])])),
        ("x", .null), ("t", .bool(true)), ("f", .bool(false)),
    ])
    #expect(compact(v) == #"{"results":[{},{"a":1,"b":[]}],"x":null,"t":true,"f":false}"#)
}

@Test func prettyMatchesMarshalIndent() {
    let v: JSONValue = .object([
        ("results", .array([.object([]), .object([("a", .integer(1)), ("b", .array([])), ("c", .array([.integer(1), .string("x")]))])])),
        ("time", .double(0.5)),
    ])
    let expected = """
        {
            "results": [
                {},
                {
                    "a": 1,
                    "b": [],
                    "c": [
                        1,
                        "x"
                    ]
                }
            ],
            "time": 0.5
        }
        """
    #expect(v.encodedString(pretty: true) == expected)
    #expect(JSONValue.array([]).encodedString(pretty: true) == "[]")
    #expect(JSONValue.object([]).encodedString(pretty: true) == "{}")
}

@Test func sortedKeysSortsRecursivelyByBytes() {
    let v: JSONValue = .object([("b", .object([("z", .null), ("a", .null)])), ("B", .null), ("a", .null)])
    #expect(compact(v.sortedKeys()) == #"{"B":null,"a":null,"b":{"a":null,"z":null}}"#)
}

@Test func writerStreaming() {
    var w = JSONWriter()
    w.beginObject()
    w.key("k")
    w.beginArray()
    w.integer(1)
    w.double(2.5)
    w.string(utf8: [0x41])
    w.unsigned(UInt64.max)
    w.endArray()
    w.key("n")
    w.null()
    w.endObject()
    #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"k":[1,2.5,"A",18446744073709551615],"n":null}"#)
}

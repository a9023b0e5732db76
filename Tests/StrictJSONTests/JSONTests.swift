import StrictJSON
import Testing

@Suite struct JSONParsingTests {
    private func parse(_ text: String) throws(JSONError) -> JSON { try JSON.parse(Array(text.utf8)) }

    @Test func parsesEveryKind() throws {
        let value = try parse(#" {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "d\u00e9\ud83d\udd10\n"}, "e": ""} "#)
        #expect(value["a"] == .array([.int(1), .int(-2), .double(3.5), .double(1000), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"] == .string("dé🔐\n"))
        #expect(value["e"] == .string(""))
        #expect(value["missing"] == nil)
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, JSONError.duplicateName), (#"{"a":1,"\u0061":2}"#, .duplicateName),
        ("{", .syntax), ("[1,]", .syntax), (#"{"a":1,}"#, .syntax), ("01", .syntax), ("1.", .syntax), ("+1", .syntax),
        ("NaN", .syntax), ("1e999", .syntax), (#""\ud800""#, .syntax), (#""\udc00""#, .syntax), (#""\x""#, .syntax),
        ("\"tab\there\"", .syntax), ("{} {}", .syntax), ("", .syntax), ("tru", .syntax),
        ("[" + String(repeating: "[", count: 40) + String(repeating: "]", count: 41), .tooDeep),
        ("'a'", .syntax), (#"{a:1}"#, .syntax),
    ])
    func rejects(text: String, expected: JSONError) {
        #expect(throws: expected) { try parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONError.invalidUTF8) { try JSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONError.invalidUTF8) { try JSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }  // encoded surrogate
    }

    @Test func bigIntegersFallBackToDouble() throws {
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
    }
}

@Suite struct JSONSerializationTests {
    @Test func escapesStringsSafely() {
        let value = JSON.object([
            ("k\"", .string("a\\b\n\t\u{1}<script>&é🔐")), ("n", .null), ("b", .bool(true)),
            ("l", .array([.int(-1), .string(""), .double(1.5), .double(.nan)])),
        ])
        #expect(value.text == #"{"k\"":"a\\b\n\t\u0001\u003cscript\u003e\u0026é🔐","n":null,"b":true,"l":[-1,"",1.5,null]}"#)
    }

    @Test(arguments: [
        Int64.min, Int64.min + 1, -1_000_000, -10, -9, -1, 0, 1, 9, 10, 99, 100, 1_795_940_864,
        999_999_999_999, Int64.max - 1, Int64.max,
    ])
    func integersAreWrittenAsTheirDecimalText(number: Int64) throws {
        #expect(JSON.int(number).text == String(number))
        #expect(try JSON.parse(JSON.array([.int(number)]).bytes) == .array([.int(number)]))
    }

    @Test func cleanAndEscapedStringsMix() {
        let long = String(repeating: "plain-ascii-", count: 40)
        #expect(JSON.string(long).text == "\"\(long)\"")
        #expect(JSON.string(long + "<").text == "\"\(long)\\u003c\"")
        #expect(JSON.string("é🔐").text == "\"é🔐\"")
    }

    @Test func roundTrips() throws {
        let value = JSON.object([("sub", .string("u")), ("exp", .int(1_700_000_000)), ("aud", .array([.string("x")]))])
        #expect(try JSON.parse(value.bytes) == value)
    }
}

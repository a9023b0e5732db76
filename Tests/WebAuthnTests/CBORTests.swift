import Testing

@testable import CBOR

/// The strict face over libcbor: what WebAuthn needs decodes; everything else is refused with a reason, never a crash.
@Suite struct CBORTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    /// RFC 8949 Appendix A examples of the kinds WebAuthn uses.
    @Test(arguments: [
        ("00", CBOR.unsigned(0)), ("17", .unsigned(23)), ("1818", .unsigned(24)), ("1903e8", .unsigned(1000)),
        ("1bffffffffffffffff", .unsigned(.max)), ("20", .int(-1)), ("3903e7", .int(-1000)),
        ("3bffffffffffffffff", .negative(.max)), ("40", .bytes([])), ("4401020304", .bytes([1, 2, 3, 4])),
        ("60", .text("")), ("6449455446", .text("IETF")), ("62c3bc", .text("ü")), ("80", .array([])),
        ("83010203", .array([.unsigned(1), .unsigned(2), .unsigned(3)])), ("a0", .map([])),
        ("a201020304", .map([.init(.unsigned(1), .unsigned(2)), .init(.unsigned(3), .unsigned(4))])),
        ("f4", .bool(false)), ("f5", .bool(true)), ("f6", .null),
    ])
    func decodesTheExamples(hex: String, expected: CBOR) throws {
        #expect(try CBOR.decode(Self.bytes(hex)) == expected)
        #expect(expected.encoded() == Self.bytes(hex))
    }

    /// What has no place in WebAuthn, or is not well-formed, is refused.
    @Test(arguments: [
        ("", "empty input"), ("18", "truncated argument"), ("4401", "truncated byte string"), ("62c3", "truncated text"),
        ("5f4101ff", "indefinite byte string"), ("7f6161ff", "indefinite text"), ("9f01ff", "indefinite array"),
        ("bf0102ff", "indefinite map"), ("ff", "a lone break"), ("c11a514b67b0", "a tag"), ("f93c00", "a half float"),
        ("fa47c35000", "a float"), ("fb3ff199999999999a", "a double"), ("f7", "undefined"), ("f0", "an unassigned simple value"),
        ("f820", "a two-byte simple value"), ("1c", "a reserved additional info"), ("62c328", "text that is not UTF-8"),
        ("a201020103", "a duplicate key"), ("a2616101616102", "a duplicate text key"), ("0000", "trailing bytes"),
        ("9bffffffffffffffff", "a count larger than the input"), ("bb7fffffffffffffff", "a map count larger than the input"),
        ("5bffffffffffffffff", "a byte string longer than the input"), ("83", "an array without its items"),
        ("a1", "a map without its pairs"), ("a10102a1", "a map with a lone key after it"),
    ])
    func refuses(hex: String, what: String) {
        #expect(throws: CBORError.self, "\(what) (\(hex))") { try CBOR.decode(Self.bytes(hex)) }
    }

    @Test func limitsDepthAndItems() throws {
        // 9 nested arrays: one deeper than the default limit of 8.
        #expect(throws: CBORError.self) { try CBOR.decode([UInt8](repeating: 0x81, count: 9) + [0x00]) }
        #expect(try CBOR.decode([UInt8](repeating: 0x81, count: 8) + [0x00]) != .null)
        // A long flat array passes the depth limit but not the item limit.
        let many = [0x99, 0x02, 0x00] + [UInt8](repeating: 0x00, count: 512)
        #expect(throws: CBORError.self) { try CBOR.decode(many) }
        #expect(try CBOR.decode(many, limits: .init(maxDepth: 8, maxItems: 600)).encoded() == many)
        // Deep nesting far past any limit fails cleanly (no recursion beyond the limit).
        #expect(throws: CBORError.self) { try CBOR.decode([UInt8](repeating: 0x81, count: 100_000) + [0x00]) }
    }

    @Test func aPrefixReportsItsLength() throws {
        let (item, used) = try CBOR.decodePrefix(Self.bytes("a10102ffee"))
        #expect(item == .map([.init(.unsigned(1), .unsigned(2))]))
        #expect(used == 3)
    }

    @Test func deterministicFormIsToldApartButNotRequired() throws {
        #expect(CBOR.isDeterministic(Self.bytes("a201020304")))
        // Keys out of order and a non-shortest head decode, but are not the deterministic form.
        #expect(try CBOR.decode(Self.bytes("a203040102")) == .map([.init(.unsigned(3), .unsigned(4)), .init(.unsigned(1), .unsigned(2))]))
        #expect(!CBOR.isDeterministic(Self.bytes("a203040102")))
        #expect(try CBOR.decode(Self.bytes("1801")) == .unsigned(1))
        #expect(!CBOR.isDeterministic(Self.bytes("1801")))
        // CTAP2's order: shorter encodings first (1 before -1 before "a" before "aa"), then bytewise.
        let map = CBOR.map([.init(.text("aa"), .null), .init(.text("a"), .null), .init(.int(-1), .null), .init(.unsigned(1), .null)])
        #expect(map.encoded() == Self.bytes("a401f620f66161f6626161f6"))
    }

    @Test func integersConvert() {
        #expect(CBOR.int(-7).intValue == -7)
        #expect(CBOR.int(-257) == .negative(256))
        #expect(CBOR.unsigned(.max).intValue == nil)
        #expect(CBOR.negative(.max).intValue == nil)
        #expect(CBOR.negative(UInt64(Int64.max)).intValue == Int64.min)
    }
}

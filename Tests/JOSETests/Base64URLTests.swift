import Testing

@testable import JOSE

@Suite struct Base64URLTests {
    @Test func roundTripsEveryLength() {
        var generator = SeededGenerator(seed: 7)
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
            #expect(Base64URL.decode(encoded) == bytes)
        }
    }

    @Test(arguments: [("", [UInt8]()), ("QQ", [65]), ("QUI", [65, 66]), ("QUJD", [65, 66, 67]), ("-_8", [251, 255])])
    func decodesKnownValues(text: String, bytes: [UInt8]) {
        #expect(Base64URL.decode(text) == bytes)
        #expect(Base64URL.encode(bytes) == text)
    }

    /// Non-canonical encodings: padding, the standard alphabet, whitespace, impossible lengths, non-zero unused bits
    /// ("QR" and "QQ" would otherwise both decode to "A").
    @Test(arguments: ["QQ==", "QUI=", "+/8", "Q Q", "Q\nQ", "Q", "QUJDR", "QR", "QUJ", "QUK", "Q@", "é"])
    func rejectsNonCanonical(text: String) {
        #expect(Base64URL.decode(text) == nil)
    }
}

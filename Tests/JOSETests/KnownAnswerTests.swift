import CryptoPrimitives
import Foundation
import StrictJSON
import Testing

@testable import JOSE

/// Known-answer vectors from the RFCs.
@Suite struct KnownAnswerTests {
    /// RFC 7515 Appendix A.1: HS256.
    @Test func rfc7515A1HS256() throws {
        let key = try JWTKey.jwk(
            JSON.parse(
                Array(
                    #"""
                    {"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}
                    """#.utf8)))
        let input =
            "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
            + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        let signature = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        #expect(Base64URL.encode(try key.sign(Array(input.utf8))) == signature)
        // Through the public verifier: the example's typ is "JWT" and it expired in 2011.
        let verifier = JWTVerifier(
            keys: try KeySet(signingKey: key), type: TokenType(typ: "JWT"),
            rules: ClaimRules(issuer: "joe"))
        let verified = try verifier.verify(input + "." + signature, now: Date(timeIntervalSince1970: 1_300_819_000))
        #expect(verified.string("iss") == "joe")
        #expect(verified.claims["http://example.com/is_root"] == .bool(true))
        #expect(throws: JOSEError.expired) { try verifier.verify(input + "." + signature, now: Date(timeIntervalSince1970: 1_300_819_380)) }
        #expect(throws: JOSEError.wrongType) {
            try JWTVerifier(keys: try KeySet(signingKey: key), type: .access, rules: ClaimRules())
                .verify(input + "." + signature, now: Date(timeIntervalSince1970: 1_300_819_000))
        }
    }

    /// RFC 7515 Appendix A.3: ES256 verification with the example's public key.
    @Test func rfc7515A3ES256() throws {
        let key = try JWTKey.jwk(
            JSON.parse(
                Array(
                    #"""
                    {"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                     "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
                    """#.utf8)))
        #expect(key.algorithm == .es256)
        let input = Array(
            ("eyJhbGciOiJFUzI1NiJ9"
                + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ").utf8)
        let signature = try #require(
            Base64URL.decode(
                "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"))
        #expect(key.isValid(signature: signature, for: input[...]))
        var tampered = signature
        tampered[0] ^= 1
        #expect(!key.isValid(signature: tampered, for: input[...]))
        #expect(!key.canSign)
    }

    /// RFC 8037 Appendix A.4 (Ed25519 signing, deterministic) and A.3 (its thumbprint).
    @Test func rfc8037Ed25519() throws {
        let key = try JWTKey.jwk(
            JSON.parse(
                Array(
                    #"""
                    {"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
                     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
                    """#.utf8)))
        #expect(key.algorithm == .edDSA)
        let input = Array("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc".utf8)
        #expect(
            Base64URL.encode(try key.sign(input))
                == "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
        #expect(try key.thumbprint() == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        #expect(key.id == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    }
}

import CryptoPrimitives
import Foundation
import StrictJSON
import Testing

@testable import JOSE

/// Malformed and malicious tokens: each must be refused with the expected code.
@Suite struct NegativeTableTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let expected: JOSEError.Code
        let make: @Sendable (Fixture) throws -> String
        var testDescription: String { name }
    }

    /// Keys and a valid token to mutate. Access verifier: HS256 key "k1"; a second keyset holds an ES256 key "e1".
    struct Fixture {
        let key: JWTKey
        let otherKey: JWTKey
        let ecKey: JWTKey
        let attackerEC: JWTKey
        let valid: String
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#

        init() throws {
            key = try JWTKey.hmac(secret: secret(1), id: "k1")
            otherKey = try JWTKey.hmac(secret: secret(2), id: "k1")
            ecKey = try JWTKey.asymmetric(try AsymmetricKey.generate(.p256), id: "e1")
            attackerEC = try JWTKey.asymmetric(try AsymmetricKey.generate(.p256))
            valid = try JWTSigner(keys: try KeySet(signingKey: key), type: .access).sign(accessClaims())
        }

        var segments: [String] { valid.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }

        func signed(header: String? = nil, claims: [(String, JSON)] = accessClaims(), with key: JWTKey? = nil) throws -> String {
            try forge(header: header ?? self.header, claims: claims, key: key ?? self.key)
        }

        func replacing(_ name: String, with value: JSON?) -> [(String, JSON)] {
            var claims = accessClaims().filter { $0.0 != name }
            if let value { claims.append((name, value)) }
            return claims
        }
    }

    static let cases: [Case] = [
        // alg "none" in every spelling, and other algorithms we never accept
        Case(name: "alg none, no signature", expected: .unsupportedAlgorithm) { f in
            try forge(header: #"{"alg":"none","typ":"at+jwt"}"#, claims: accessClaims(), key: nil)
        },
        Case(name: "alg None", expected: .unsupportedAlgorithm) { f in
            try forge(header: #"{"alg":"None","typ":"at+jwt"}"#, claims: accessClaims(), key: nil)
        },
        Case(name: "alg NONE", expected: .unsupportedAlgorithm) { f in
            try forge(header: #"{"alg":"NONE","typ":"at+jwt"}"#, claims: accessClaims(), key: nil)
        },
        Case(name: "alg nOnE", expected: .unsupportedAlgorithm) { f in
            try forge(header: #"{"alg":"nOnE","typ":"at+jwt"}"#, claims: accessClaims(), key: nil)
        },
        Case(name: "alg none with an HMAC signature", expected: .unsupportedAlgorithm) { f in
            try forge(header: #"{"alg":"none","typ":"at+jwt","kid":"k1"}"#, claims: accessClaims(), key: f.key)
        },
        Case(name: "alg missing", expected: .unsupportedAlgorithm) { f in
            try f.signed(header: #"{"typ":"at+jwt","kid":"k1"}"#)
        },
        Case(name: "alg is a number", expected: .unsupportedAlgorithm) { f in
            try f.signed(header: #"{"alg":256,"typ":"at+jwt","kid":"k1"}"#)
        },
        Case(name: "alg HS512", expected: .unsupportedAlgorithm) { f in
            try f.signed(header: #"{"alg":"HS512","typ":"at+jwt","kid":"k1"}"#)
        },
        Case(name: "alg RS256", expected: .unsupportedAlgorithm) { f in
            try f.signed(header: #"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#)
        },
        Case(name: "alg in lower case", expected: .unsupportedAlgorithm) { f in
            try f.signed(header: #"{"alg":"hs256","typ":"at+jwt","kid":"k1"}"#)
        },
        Case(name: "alg with a trailing space", expected: .unsupportedAlgorithm) { f in
            try f.signed(header: #"{"alg":"HS256 ","typ":"at+jwt","kid":"k1"}"#)
        },
        // signatures
        Case(name: "stripped signature", expected: .signatureInvalid) { f in f.segments[0] + "." + f.segments[1] + "." },
        Case(name: "truncated signature", expected: .signatureInvalid) { f in String(f.valid.dropLast(3)) },
        Case(name: "flipped bit in the signature", expected: .signatureInvalid) { f in
            var signature = Base64URL.decode(f.segments[2])!
            signature[5] ^= 0x01
            return f.segments[0] + "." + f.segments[1] + "." + Base64URL.encode(signature)
        },
        Case(name: "flipped bit in the header", expected: .signatureInvalid) { f in
            let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"at+jwt","kid":"k1","x":1}"#.utf8))
            return header + "." + f.segments[1] + "." + f.segments[2]
        },
        Case(name: "flipped bit in the payload", expected: .signatureInvalid) { f in
            var payload = Base64URL.decode(f.segments[1])!
            payload[payload.count - 3] ^= 0x01
            return f.segments[0] + "." + Base64URL.encode(payload) + "." + f.segments[2]
        },
        Case(name: "signed with another key, same kid", expected: .signatureInvalid) { f in try f.signed(with: f.otherKey) },
        Case(name: "unknown kid", expected: .signatureInvalid) { f in
            try f.signed(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k9"}"#)
        },
        Case(name: "kid is a path", expected: .signatureInvalid) { f in
            try f.signed(header: #"{"alg":"HS256","typ":"at+jwt","kid":"../../../dev/null"}"#)
        },
        Case(name: "kid is SQL", expected: .signatureInvalid) { f in
            try f.signed(header: #"{"alg":"HS256","typ":"at+jwt","kid":"x' OR '1'='1"}"#)
        },
        Case(name: "kid is a number", expected: .malformed) { f in
            try f.signed(header: #"{"alg":"HS256","typ":"at+jwt","kid":1}"#)
        },
        Case(name: "EdDSA token for an HS256 key set", expected: .unsupportedAlgorithm) { f in
            let ed = try JWTKey.asymmetric(try AsymmetricKey.generate(.ed25519))
            return try forge(header: #"{"alg":"EdDSA","typ":"at+jwt"}"#, claims: accessClaims(), key: ed)
        },
        Case(name: "embedded jwk header is not trusted", expected: .unsupportedAlgorithm) { f in
            let jwk = try f.attackerEC.publicJWK()!.text
            return try forge(header: #"{"alg":"ES256","typ":"at+jwt","jwk":\#(jwk)}"#, claims: accessClaims(), key: f.attackerEC)
        },
        Case(name: "jku header is never followed", expected: .signatureInvalid) { f in
            try f.signed(header: #"{"alg":"HS256","typ":"at+jwt","jku":"https://evil.example/jwks.json"}"#, with: f.otherKey)
        },
        // base64 and structure
        Case(name: "padded signature", expected: .malformed) { f in f.valid + "=" },
        Case(name: "padded header", expected: .malformed) { f in
            f.segments[0] + "==." + f.segments[1] + "." + f.segments[2]
        },
        Case(name: "standard base64 alphabet in the header", expected: .malformed) { f in
            "+" + f.segments[0].dropFirst() + "." + f.segments[1] + "." + f.segments[2]
        },
        // The payload is covered by the signature, which is checked before the payload is decoded.
        Case(name: "standard base64 alphabet in the payload", expected: .signatureInvalid) { f in
            f.segments[0] + "." + "/" + f.segments[1].dropFirst() + "." + f.segments[2]
        },
        Case(name: "non-zero unused bits in the last signature character", expected: .malformed) { f in
            var text = f.segments[2]
            let last = text.removeLast()
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let index = alphabet.firstIndex(of: last)!
            return f.segments[0] + "." + f.segments[1] + "." + text + String(alphabet[index | 1])
        },
        Case(name: "four segments", expected: .malformed) { f in f.valid + "." + f.segments[2] },
        Case(name: "two segments", expected: .malformed) { f in f.segments[0] + "." + f.segments[1] },
        Case(name: "empty token", expected: .malformed) { _ in "" },
        Case(name: "only dots", expected: .malformed) { _ in ".." },
        Case(name: "whitespace inside", expected: .malformed) { f in
            f.segments[0] + " ." + f.segments[1] + "." + f.segments[2]
        },
        Case(name: "duplicate alg in the header", expected: .malformed) { f in
            try f.signed(header: #"{"alg":"HS256","alg":"none","typ":"at+jwt","kid":"k1"}"#)
        },
        Case(name: "duplicate sub in the payload", expected: .malformed) { f in
            try forge(
                header: f.header, payload: Array(#"{"sub":"a","sub":"b","iss":"jwt-authd","aud":"jwt-authd","exp":1800000900}"#.utf8), key: f.key)
        },
        Case(name: "header is an array", expected: .malformed) { f in try f.signed(header: #"["HS256"]"#) },
        Case(name: "payload is a string", expected: .malformed) { f in
            try forge(header: f.header, payload: Array(#""just a string""#.utf8), key: f.key)
        },
        Case(name: "payload is not UTF-8", expected: .malformed) { f in
            try forge(header: f.header, payload: [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], key: f.key)
        },
        Case(name: "payload nested too deep", expected: .malformed) { f in
            let deep = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
            return try forge(header: f.header, payload: Array(#"{"x":\#(deep),"exp":1800000900}"#.utf8), key: f.key)
        },
        Case(name: "token over 8 KiB", expected: .tooLarge) { f in
            try f.signed(claims: accessClaims() + [("pad", .string(String(repeating: "x", count: 8200)))])
        },
        Case(name: "unknown crit", expected: .malformed) { f in
            try f.signed(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["exp"],"exp":1}"#)
        },
        Case(name: "crit b64 (RFC 7797)", expected: .malformed) { f in
            try f.signed(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["b64"],"b64":false}"#)
        },
        // claims
        Case(name: "expired", expected: .expired) { f in try f.signed(claims: accessClaims(exp: nowSeconds - 1)) },
        Case(name: "exp equal to now", expected: .expired) { f in try f.signed(claims: accessClaims(exp: nowSeconds)) },
        Case(name: "exp missing", expected: .malformed) { f in try f.signed(claims: f.replacing("exp", with: nil)) },
        Case(name: "exp is a string", expected: .malformed) { f in
            try f.signed(claims: f.replacing("exp", with: .string("1800000900")))
        },
        Case(name: "exp out of range", expected: .malformed) { f in
            try forge(header: f.header, payload: Array(#"{"iss":"jwt-authd","aud":"jwt-authd","exp":1e400}"#.utf8), key: f.key)
        },
        Case(name: "nbf in the future", expected: .notYetValid) { f in
            try f.signed(claims: accessClaims() + [("nbf", .int(nowSeconds + 60))])
        },
        Case(name: "iat in the future", expected: .notYetValid) { f in try f.signed(claims: accessClaims(iat: nowSeconds + 60)) },
        Case(name: "wrong iss", expected: .wrongIssuer) { f in try f.signed(claims: f.replacing("iss", with: .string("evil"))) },
        Case(name: "iss missing", expected: .wrongIssuer) { f in try f.signed(claims: f.replacing("iss", with: nil)) },
        Case(name: "wrong aud", expected: .wrongAudience) { f in try f.signed(claims: f.replacing("aud", with: .string("other"))) },
        Case(name: "aud array without ours", expected: .wrongAudience) { f in
            try f.signed(claims: f.replacing("aud", with: .array([.string("a"), .string("b")])))
        },
        Case(name: "aud missing", expected: .wrongAudience) { f in try f.signed(claims: f.replacing("aud", with: nil)) },
        // explicit typing
        Case(name: "typ missing", expected: .wrongType) { f in try f.signed(header: #"{"alg":"HS256","kid":"k1"}"#) },
        Case(name: "typ JWT", expected: .wrongType) { f in try f.signed(header: #"{"alg":"HS256","typ":"JWT","kid":"k1"}"#) },
        Case(name: "refresh token presented as access (same key)", expected: .wrongType) { f in
            try JWTSigner(keys: try KeySet(signingKey: f.key), type: .refresh).sign(accessClaims())
        },
    ]

    @Test(arguments: cases)
    func isRefused(testCase: Case) throws {
        let fixture = try Fixture()
        let verifier = JWTVerifier(keys: try KeySet(signingKey: fixture.key), type: .access, rules: rules)
        let token = try testCase.make(fixture)
        do {
            _ = try verifier.verify(token, now: now)
            Issue.record("accepted: \(testCase.name)")
        } catch {
            #expect(error.code == testCase.expected, "\(testCase.name): got \(error)")
            #expect(!error.description.contains(token.isEmpty ? "\u{0}" : token))
        }
    }

    @Test func theTableIsLargeEnough() { #expect(Self.cases.count >= 40) }

    @Test func theUnmodifiedTokenIsAccepted() throws {
        let fixture = try Fixture()
        let verifier = JWTVerifier(keys: try KeySet(signingKey: fixture.key), type: .access, rules: rules)
        let verified = try verifier.verify(fixture.valid, now: now)
        #expect(verified.string("sub") == "0b6f3c8e-2f7a-4d52-9a55-3c1f2e9b7d10")
        #expect(verified.header["kid"] == .string("k1"))
    }

    /// The classic RS/HS confusion, for EC: an HS256 token keyed with the public key's bytes must not verify against
    /// an ES256 key set, with or without the kid of the EC key.
    @Test func publicKeyAsHMACSecretIsRefused() throws {
        let fixture = try Fixture()
        let ecSet = try KeySet(signingKey: fixture.ecKey)
        let verifier = JWTVerifier(keys: ecSet, type: .access, rules: rules)
        let publicBytes = Array(try fixture.ecKey.publicJWK()!.text.utf8)
        let confused = try JWTKey.hmac(secret: SecureBytes(publicBytes))
        for header in [#"{"alg":"HS256","typ":"at+jwt","kid":"e1"}"#, #"{"alg":"HS256","typ":"at+jwt"}"#] {
            let token = try forge(header: header, claims: accessClaims(), key: confused)
            #expect(throws: JOSEError.unsupportedAlgorithm) { try verifier.verify(token, now: now) }
        }
        // And the psychic signature (r = s = 0) on an ES256 token.
        let psychic = try forge(
            header: #"{"alg":"ES256","typ":"at+jwt","kid":"e1"}"#,
            payload: JSON.object(accessClaims()).bytes, key: nil, signature: [UInt8](repeating: 0, count: 64))
        #expect(throws: JOSEError.signatureInvalid) { try verifier.verify(psychic, now: now) }
        let wrongLength = try forge(
            header: #"{"alg":"ES256","typ":"at+jwt","kid":"e1"}"#,
            payload: JSON.object(accessClaims()).bytes, key: nil, signature: [UInt8](repeating: 1, count: 65))
        #expect(throws: JOSEError.signatureInvalid) { try verifier.verify(wrongLength, now: now) }
    }

    @Test func anAccessTokenIsNotARefreshToken() throws {
        let key = try JWTKey.hmac(secret: secret(3))
        let keys = try KeySet(signingKey: key)
        let access = try JWTSigner(keys: keys, type: .access).sign(accessClaims())
        #expect(throws: JOSEError.wrongType) {
            try JWTVerifier(keys: keys, type: .refresh, rules: rules).verify(access, now: now)
        }
    }
}

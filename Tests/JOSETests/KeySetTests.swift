import CryptoPrimitives
import Foundation
import StrictJSON
import Testing

@testable import JOSE

@Suite struct KeySetTests {
    @Test func rotationKeepsOldTokensValidUntilTheKeyIsDropped() throws {
        let old = try JWTKey.generate(.edDSA)
        let new = try JWTKey.generate(.edDSA)
        let oldToken = try JWTSigner(keys: try KeySet(signingKey: old), type: .access).sign(accessClaims())
        let rotated = try KeySet(signingKey: new, verifyOnly: [old])
        let newToken = try JWTSigner(keys: rotated, type: .access).sign(accessClaims())
        let verifier = JWTVerifier(keys: rotated, type: .access, rules: rules)
        #expect(try verifier.verify(oldToken, now: now).header["kid"] == .string(old.id!))
        #expect(try verifier.verify(newToken, now: now).header["kid"] == .string(new.id!))
        let dropped = JWTVerifier(keys: try KeySet(signingKey: new), type: .access, rules: rules)
        #expect(throws: JOSEError.signatureInvalid) { try dropped.verify(oldToken, now: now) }
    }

    @Test func tokensWithoutKidTryTheKeysOfTheirAlgorithm() throws {
        let a = try JWTKey.hmac(secret: secret(4))
        let b = try JWTKey.hmac(secret: secret(5))
        let token = try JWTSigner(keys: try KeySet(signingKey: b), type: .access).sign(accessClaims())
        let verifier = JWTVerifier(keys: try KeySet(signingKey: a, verifyOnly: [b]), type: .access, rules: rules)
        #expect(try verifier.verify(token, now: now).string("role") == "user")
    }

    /// Tokens whose header is byte for byte one the signer writes skip the header's decoding; the answers must be
    /// those of the full check.
    @Test func theKnownHeaderShortcutAnswersAsTheFullCheck() throws {
        let a = try JWTKey.hmac(secret: secret(10), id: "a")
        let b = try JWTKey.hmac(secret: secret(11), id: "b")
        let keys = try KeySet(signingKey: a, verifyOnly: [b])
        let access = JWTVerifier(keys: keys, type: .access, rules: rules)
        let signedByB = try JWTSigner(keys: try KeySet(signingKey: b), type: .access).sign(accessClaims())
        #expect(try access.verify(signedByB, now: now).header["kid"] == .string("b"))
        // The same header bytes (kid "b"), signed with a: the shortcut still picks only b.
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"b"}"#
        #expect(throws: JOSEError.signatureInvalid) { try access.verify(try forge(header: header, claims: accessClaims(), key: a), now: now) }
        // A refresh token of the same keys has another header: the full check runs and refuses its type.
        let refresh = try JWTSigner(keys: keys, type: .refresh).sign(accessClaims())
        #expect(throws: JOSEError.wrongType) { try access.verify(refresh, now: now) }
        // Claims are still checked after the shortcut.
        let expired = try JWTSigner(keys: keys, type: .access).sign(accessClaims(exp: nowSeconds - 1))
        #expect(throws: JOSEError.expired) { try access.verify(expired, now: now) }
        // A tampered signature is refused.
        var tampered = try JWTSigner(keys: keys, type: .access).sign(accessClaims())
        let last = tampered.removeLast()
        tampered.append(last == "A" ? "Q" : "A")
        #expect(throws: JOSEError.signatureInvalid) { try access.verify(tampered, now: now) }
    }

    @Test func leewayIsApplied() throws {
        let keys = try KeySet(signingKey: try JWTKey.hmac(secret: secret(6)))
        let token = try JWTSigner(keys: keys, type: .access).sign(accessClaims(exp: nowSeconds - 5, iat: nowSeconds + 5))
        var lenient = rules
        lenient.leewaySeconds = 10
        #expect(throws: Never.self) { try JWTVerifier(keys: keys, type: .access, rules: lenient).verify(token, now: now) }
        #expect(throws: JOSEError.expired) { try JWTVerifier(keys: keys, type: .access, rules: rules).verify(token, now: now) }
    }

    @Test func audienceMayBeAnArray() throws {
        let keys = try KeySet(signingKey: try JWTKey.hmac(secret: secret(7)))
        var claims = accessClaims().filter { $0.0 != "aud" }
        claims.append(("aud", .array([.string("other"), .string("jwt-authd")])))
        let token = try JWTSigner(keys: keys, type: .access).sign(claims)
        #expect(throws: Never.self) { try JWTVerifier(keys: keys, type: .access, rules: rules).verify(token, now: now) }
    }

    @Test func typMatchingFollowsMediaTypeRules() throws {
        let key = try JWTKey.hmac(secret: secret(8))
        let keys = try KeySet(signingKey: key)
        let verifier = JWTVerifier(keys: keys, type: .access, rules: rules)
        for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
            let token = try forge(header: #"{"alg":"HS256","typ":"\#(typ)"}"#, claims: accessClaims(), key: key)
            #expect(throws: Never.self, "\(typ)") { try verifier.verify(token, now: now) }
        }
    }

    @Test func shortHMACSecretsAndDuplicateKidsAreRefused() throws {
        #expect(throws: JOSEError.invalidKey) { try JWTKey.hmac(secret: SecureBytes([UInt8](repeating: 1, count: 31))) }
        let a = try JWTKey.hmac(secret: secret(9), id: "same")
        let b = try JWTKey.hmac(secret: secret(10), id: "same")
        #expect(throws: JOSEError.invalidKey) { try KeySet(signingKey: a, verifyOnly: [b]) }
        let publicOnly = try JWTKey.jwk(try #require(try JWTKey.generate(.es256).publicJWK()))
        #expect(throws: JOSEError.invalidKey) { try KeySet(signingKey: publicOnly) }
        #expect(throws: JOSEError.invalidKey) { try JWTKey.hmac(secret: secret(11), id: "has space") }
    }

    @Test func jwksHoldsPublicKeysOnly() throws {
        let ed = try JWTKey.generate(.edDSA)
        let ec = try JWTKey.generate(.es256)
        let hs = try JWTKey.generate(.hs256, id: "h")
        let jwks = try KeySet(signingKey: ed, verifyOnly: [ec, hs]).jwks()
        guard case .array(let keys)? = jwks["keys"] else {
            Issue.record("no keys array")
            return
        }
        #expect(keys.count == 2)
        for key in keys {
            #expect(key["d"] == nil && key["k"] == nil)
            #expect(key["use"] == .string("sig"))
            let reloaded = try JWTKey.jwk(key)
            #expect(reloaded.id == key["kid"]?.stringValue)
            #expect(try reloaded.thumbprint() == key["kid"]?.stringValue)
            #expect(!reloaded.canSign)
        }
    }

    @Test(arguments: [JWSAlgorithm.hs256, .edDSA, .es256])
    func privateJWKAndPEMRoundTrip(algorithm: JWSAlgorithm) throws {
        let key = try JWTKey.generate(algorithm, id: "file")
        let reloaded = try JWTKey.load(fileText: try key.privateJWK().text)
        #expect(reloaded.algorithm == algorithm && reloaded.id == "file" && reloaded.canSign)
        let token = try JWTSigner(keys: try KeySet(signingKey: reloaded), type: .access).sign(accessClaims())
        #expect(throws: Never.self) { try JWTVerifier(keys: try KeySet(signingKey: key), type: .access, rules: rules).verify(token, now: now) }
        if case .asymmetric(let material) = key.material {
            let fromPEM = try JWTKey.load(fileText: try material.pem(includingPrivate: true))
            #expect(fromPEM.id == (try key.thumbprint()))
        }
    }

    @Test(arguments: [
        #"{"kty":"oct","k":"c2hvcnQ"}"#, #"{"kty":"RSA","n":"x","e":"AQAB"}"#,
        #"{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        #"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#,
        #"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"ES256"}"#,
        #"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"enc"}"#, "[]", "{", "not a key",
        #"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1"}"#,
    ])
    func badKeyFilesAreRefused(text: String) {
        #expect(throws: JOSEError.invalidKey) { try JWTKey.load(fileText: text) }
    }
}

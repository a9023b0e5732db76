import CBOR
import Foundation
import JOSE
import StrictJSON
import Testing

@testable import WebAuthn

/// Known answers: the test vectors of the WebAuthn Level 3 specification (§ "Test Vectors", w3c/webauthn 146d0db),
/// extracted into Fixtures/spec-vectors.json and checked there independently with python-fido2 and `cryptography`
/// (Fixtures/check_spec_vectors.py). What this relying party supports must verify with exactly the vector's values;
/// what it does not (ES384, ES512, Ed448; tpm, android-key, apple, fido-u2f attestation) must be refused as
/// unsupported, never accepted.
@Suite struct SpecVectorTests {
    struct Vector: Decodable {
        let name: String
        let rpId: String
        let origin: String
        let kind: String
        let algorithm: Int64
        let attestationFormat: String?
        let challenge: String
        let clientDataJSON: String
        let attestationObject: String?
        let authenticatorData: String?
        let signature: String?
        let credentialId: String
        let credentialPublicKeyCOSE: String
        let signCount: UInt32
        let backupEligible: Bool
        let backupState: Bool
        let userVerified: Bool
        let aaguid: String
        let crossOrigin: Bool?
        let topOrigin: String?
        let canonical: Bool
    }

    static let vectors: [Vector] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/spec-vectors.json")
        guard let data = try? Data(contentsOf: url), let vectors = try? JSONDecoder().decode([Vector].self, from: data) else { return [] }
        return vectors
    }()

    static func bytes(_ hex: String) -> [UInt8] { CBORTests.bytes(hex) }

    /// The spec's relying party: example.org, whose cross-origin vectors are embedded by example.com.
    static let rp = RelyingParty(
        id: "example.org", name: "Example", origins: ["https://example.org"], topOrigins: ["https://example.com"],
        userVerification: .discouraged)
    static let supported: Set<Int64> = [-7, -8, -257]

    static func isSupported(_ vector: Vector) -> Bool {
        supported.contains(vector.algorithm) && (vector.attestationFormat.map { ["none", "packed"].contains($0) } ?? true)
    }

    /// A cross-origin ceremony must name the page that embeds it (`topOrigin`, Level 3): one that does not (the
    /// spec's `none-es256-crossOrigin`) is refused whatever `passkeys.top_origins` allows, a stricter policy than §7.
    static func isRefusedCrossOrigin(_ vector: Vector) -> Bool { vector.crossOrigin == true && vector.topOrigin == nil }

    static func credentialJSON(_ vector: Vector, _ response: [(String, JSON)]) -> JSON {
        let id = Base64URL.encode(bytes(vector.credentialId))
        return .object([("id", .string(id)), ("rawId", .string(id)), ("type", .string("public-key")), ("response", .object(response))])
    }

    @Test func theFixtureIsThere() {
        #expect(Self.vectors.count == 30)
        #expect(Self.vectors.filter { $0.kind == "registration" && Self.isSupported($0) }.count >= 7)
        // What python-fido2 said of each blob: CTAP2's deterministic encoding; ours agrees.
        for vector in Self.vectors {
            let blob = Self.bytes(vector.attestationObject ?? vector.credentialPublicKeyCOSE)
            #expect(CBOR.isDeterministic(blob) == vector.canonical, "\(vector.name)")
        }
    }

    @Test func registrationsVerifyOrAreRefusedAsUnsupported() throws {
        for vector in Self.vectors where vector.kind == "registration" {
            let response = try RegistrationResponse(
                json: Self.credentialJSON(
                    vector,
                    [
                        ("clientDataJSON", .string(Base64URL.encode(Self.bytes(vector.clientDataJSON)))),
                        ("attestationObject", .string(Base64URL.encode(Self.bytes(vector.attestationObject ?? "")))),
                    ]))
            do {
                let credential = try Self.rp.verifyRegistration(response, challenge: Self.bytes(vector.challenge))
                #expect(Self.isSupported(vector), "\(vector.name) should have been refused")
                #expect(credential.id == Self.bytes(vector.credentialId), "\(vector.name)")
                #expect(credential.publicKeyBytes == Self.bytes(vector.credentialPublicKeyCOSE), "\(vector.name)")
                #expect(credential.algorithm.rawValue == vector.algorithm, "\(vector.name)")
                #expect(credential.attestationFormat == vector.attestationFormat, "\(vector.name)")
                #expect(credential.aaguid == Self.bytes(vector.aaguid), "\(vector.name)")
                #expect(
                    credential.backupEligible == vector.backupEligible && credential.backupState == vector.backupState
                        && credential.userVerified == vector.userVerified && credential.signCount == vector.signCount, "\(vector.name)")
                #expect(!Self.isRefusedCrossOrigin(vector), "\(vector.name) should have been refused")
            } catch {
                #expect(
                    (!Self.isSupported(vector) && error.kind == .unsupported) || (Self.isRefusedCrossOrigin(vector) && error.kind == .refused),
                    "\(vector.name): \(error)")
            }
            // The same registration against another challenge, or without the embedding site allowed, is refused.
            #expect(throws: WebAuthnError.self, "\(vector.name)") {
                _ = try Self.rp.verifyRegistration(response, challenge: Self.bytes(vector.challenge).reversed())
            }
            if vector.crossOrigin == true {
                let sameOriginOnly = RelyingParty(id: "example.org", name: "Example", origins: ["https://example.org"])
                #expect(throws: WebAuthnError.self, "\(vector.name)") {
                    _ = try sameOriginOnly.verifyRegistration(response, challenge: Self.bytes(vector.challenge))
                }
            }
        }
    }

    @Test func assertionsVerifyWithTheRegisteredKey() throws {
        for vector in Self.vectors where vector.kind == "assertion" {
            let response = try AssertionResponse(
                json: Self.credentialJSON(
                    vector,
                    [
                        ("clientDataJSON", .string(Base64URL.encode(Self.bytes(vector.clientDataJSON)))),
                        ("authenticatorData", .string(Base64URL.encode(Self.bytes(vector.authenticatorData ?? "")))),
                        ("signature", .string(Base64URL.encode(Self.bytes(vector.signature ?? "")))),
                    ]))
            let stored = RelyingParty.StoredCredential(
                publicKeyBytes: Self.bytes(vector.credentialPublicKeyCOSE), signCount: 0, backupEligible: vector.backupEligible)
            guard Self.supported.contains(vector.algorithm), !Self.isRefusedCrossOrigin(vector) else {
                #expect(throws: WebAuthnError.self, "\(vector.name)") {
                    _ = try Self.rp.verifyAssertion(response, challenge: Self.bytes(vector.challenge), credential: stored)
                }
                continue
            }
            let result = try Self.rp.verifyAssertion(response, challenge: Self.bytes(vector.challenge), credential: stored)
            #expect(result.userVerified == vector.userVerified && result.backupState == vector.backupState, "\(vector.name)")
            // Another challenge, or the key of another credential, is refused.
            #expect(throws: WebAuthnError.self) { _ = try Self.rp.verifyAssertion(response, challenge: [1, 2, 3], credential: stored) }
            let other = Self.vectors.first { $0.kind == "assertion" && $0.algorithm == -7 && $0.credentialId != vector.credentialId }!
            let wrongKey = RelyingParty.StoredCredential(
                publicKeyBytes: Self.bytes(other.credentialPublicKeyCOSE), signCount: 0, backupEligible: vector.backupEligible)
            #expect(throws: WebAuthnError.self) {
                _ = try Self.rp.verifyAssertion(response, challenge: Self.bytes(vector.challenge), credential: wrongKey)
            }
        }
    }
}

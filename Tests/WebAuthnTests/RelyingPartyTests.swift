import CBOR
import CryptoPrimitives
import JOSE
import StrictJSON
import TestSupport
import Testing

@testable import WebAuthn

/// The ceremonies of WebAuthn §7 against a software authenticator: what a real one sends passes; each thing an attacker
/// or a broken client could change is refused for its own reason.
@Suite struct RelyingPartyTests {
    static let rp = RelyingParty(id: "example.com", name: "Example", origins: ["https://example.com", "https://login.example.com"])
    static let strictRP = RelyingParty(id: "example.com", name: "Example", origins: ["https://example.com"], userVerification: .required)

    func register(_ registration: SoftAuthenticator.Registration, challenge: [UInt8], rp: RelyingParty = Self.rp) throws -> RelyingParty.NewCredential
    {
        try rp.verifyRegistration(try RegistrationResponse(json: registration.json), challenge: challenge)
    }

    func refusal(_ kind: WebAuthnError.Kind, _ body: () throws -> Void) -> String? {
        do {
            try body()
            Issue.record("accepted")
            return nil
        } catch let error as WebAuthnError {
            #expect(error.kind == kind, "\(error)")
            return error.reason
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test(arguments: [SoftAuthenticator.Algorithm.es256, .ed25519], [false, true])
    func aRegistrationAndItsAssertionsPass(algorithm: SoftAuthenticator.Algorithm, packed: Bool) throws {
        var authenticator = try SoftAuthenticator(algorithm)
        let challenge = Random.bytes(32)
        let credential = try register(try authenticator.registration(challenge: challenge, packed: packed), challenge: challenge)
        #expect(credential.id == authenticator.credentialID)
        #expect(credential.algorithm == (algorithm == .es256 ? .es256 : .edDSA))
        #expect(credential.attestationFormat == (packed ? "packed" : "none"))
        #expect(credential.userVerified && !credential.backupEligible && credential.aaguid == authenticator.aaguid)
        let response = try RegistrationResponse(json: try authenticator.registration(challenge: challenge).json)
        #expect(response.transports == ["internal", "hybrid"])

        var stored = RelyingParty.StoredCredential(publicKeyBytes: credential.publicKeyBytes, signCount: credential.signCount, backupEligible: false)
        for _ in 0..<3 {
            let challenge = Random.bytes(32)
            let assertion = try authenticator.assertion(challenge: challenge)
            let result = try Self.rp.verifyAssertion(try AssertionResponse(json: assertion.json), challenge: challenge, credential: stored)
            #expect(result.signCount == authenticator.signCount && result.userVerified)
            stored = .init(publicKeyBytes: stored.publicKeyBytes, signCount: result.signCount, backupEligible: false)
        }
    }

    @Test func aSyncedPasskeyWithoutACounterPasses() throws {
        var authenticator = try SoftAuthenticator()
        let challenge = Random.bytes(32)
        let flags = SoftAuthenticator.up | SoftAuthenticator.uv | SoftAuthenticator.be | SoftAuthenticator.bs
        let credential = try register(try authenticator.registration(challenge: challenge, flags: flags), challenge: challenge)
        #expect(credential.backupEligible && credential.backupState && credential.signCount == 0)
        let stored = RelyingParty.StoredCredential(publicKeyBytes: credential.publicKeyBytes, signCount: 0, backupEligible: true)
        for _ in 0..<2 {
            let next = Random.bytes(32)
            let assertion = try authenticator.assertion(challenge: next, flags: flags, counting: false)
            #expect(try Self.rp.verifyAssertion(try AssertionResponse(json: assertion.json), challenge: next, credential: stored).signCount == 0)
        }
    }

    /// The registration negative table.
    @Test func registrationsAreRefused() throws {
        let authenticator = try SoftAuthenticator()
        let challenge = Random.bytes(32)
        let good = try authenticator.registration(challenge: challenge, packed: true)
        _ = try register(good, challenge: challenge)

        // Client data.
        #expect(refusal(.refused) { _ = try register(good, challenge: Random.bytes(32)) }?.contains("challenge") == true)
        var changed = try authenticator.registration(origin: "https://evil.example", challenge: challenge)
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("origin") == true)
        changed = try authenticator.registration(origin: "https://example.com:8443", challenge: challenge)
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) } != nil)
        changed = good
        changed.clientData = SoftAuthenticator.clientData(type: "webauthn.get", challenge: challenge, origin: "https://example.com")
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("type") == true)
        changed.clientData = Array(
            #"{"type":"webauthn.create","challenge":"\#(Base64URL.encode(challenge))","origin":"https://example.com","crossOrigin":true,"topOrigin":"https://evil.example"}"#
                .utf8)
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("cross-origin") == true)
        changed.clientData = Array(
            #"{"type":"webauthn.create","type":"webauthn.create","challenge":"\#(Base64URL.encode(challenge))","origin":"https://example.com"}"#
                .utf8)
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) } != nil)

        // Authenticator data.
        changed = try authenticator.registration(rpID: "evil.example", challenge: challenge)
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("rp id") == true)
        changed = try authenticator.registration(challenge: challenge, flags: SoftAuthenticator.uv)
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("UP") == true)
        changed = try authenticator.registration(challenge: challenge, flags: SoftAuthenticator.up)
        _ = try register(changed, challenge: challenge)
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge, rp: Self.strictRP) }?.contains("UV") == true)
        changed = try authenticator.registration(challenge: challenge, flags: SoftAuthenticator.up | SoftAuthenticator.bs)
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) }?.contains("backup") == true)
        changed = good
        changed.rawID = Random.bytes(16)
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("credential id") == true)
        changed = good
        changed.authData += [0x00]
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) }?.contains("after") == true)
        changed = good
        changed.authData = Array(good.authData.prefix(40))
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) } != nil)

        // An unsupported algorithm (ES384) and a key whose type does not match its algorithm.
        var cose = try authenticator.coseKey
        cose = .map(cose.mapValue!.map { $0.key == .int(3) ? .init(.int(3), .int(-35)) : $0 })
        changed = good
        changed.authData = try authenticator.authenticatorData(rpID: "example.com", flags: 0x05, signCount: 0, attested: true, cose: cose)
        changed.format = "none"
        changed.statement = .map([])
        #expect(refusal(.unsupported) { _ = try register(changed, challenge: challenge) }?.contains("-35") == true)
        cose = .map(try authenticator.coseKey.mapValue!.map { $0.key == .int(3) ? .init(.int(3), .int(-8)) : $0 })
        changed.authData = try authenticator.authenticatorData(rpID: "example.com", flags: 0x05, signCount: 0, attested: true, cose: cose)
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) } != nil)
        // A point not on the curve.
        cose = .map(try authenticator.coseKey.mapValue!.map { $0.key == .int(-3) ? .init(.int(-3), .bytes([UInt8](repeating: 7, count: 32))) : $0 })
        changed.authData = try authenticator.authenticatorData(rpID: "example.com", flags: 0x05, signCount: 0, attested: true, cose: cose)
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) }?.contains("curve") == true)

        // Attestation.
        changed = good
        changed.statement = .map([.init(.text("alg"), .int(-7)), .init(.text("sig"), .bytes(Random.bytes(70)))])
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("signature") == true)
        changed.statement = .map([.init(.text("alg"), .int(-8)), .init(.text("sig"), .bytes(Random.bytes(64)))])
        #expect(refusal(.refused) { _ = try register(changed, challenge: challenge) }?.contains("algorithm") == true)
        changed = good
        changed.format = "none"
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) } != nil)
        changed.format = "fido-u2f"
        #expect(refusal(.unsupported) { _ = try register(changed, challenge: challenge) } != nil)
        changed = good
        changed.extraMembers = [.init(.text("epAtt"), .bool(true))]
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) } != nil)
        changed = good
        changed.statement = .map([
            .init(.text("alg"), .int(-7)), .init(.text("sig"), .bytes(Random.bytes(70))), .init(.text("x5c"), .array([.bytes(Random.bytes(300))])),
        ])
        #expect(refusal(.malformed) { _ = try register(changed, challenge: challenge) }?.contains("certificate") == true)
    }

    /// Every single-bit flip in any part of a packed registration is refused (never accepted, never a crash).
    @Test func flippedBitsInARegistrationAreRefused() throws {
        let authenticator = try SoftAuthenticator()
        let challenge = Random.bytes(32)
        let good = try authenticator.registration(challenge: challenge, packed: true)
        for index in 0..<good.clientData.count {
            var changed = good
            changed.clientData[index] ^= 0x01 << (index % 8)
            #expect(throws: WebAuthnError.self, "clientData byte \(index)") { _ = try register(changed, challenge: challenge) }
        }
        for index in 0..<good.authData.count where index != 32 {
            var changed = good
            changed.authData[index] ^= 0x01 << (index % 8)
            #expect(throws: WebAuthnError.self, "authData byte \(index)") { _ = try register(changed, challenge: challenge) }
        }
        let attestation = good.attestationObject
        for index in 0..<attestation.count {
            var bytes = attestation
            bytes[index] ^= 0x01 << (index % 8)
            #expect(throws: WebAuthnError.self, "attestationObject byte \(index)") {
                _ = try Self.rp.verifyRegistration(
                    try RegistrationResponse(json: Self.replacing(good.json, "attestationObject", with: bytes)), challenge: challenge)
            }
        }
    }

    /// The flags byte: UP cleared or BS without BE are refused; UV, BE and RFU bits change only what is recorded, and
    /// the packed signature covers them.
    @Test func theFlagsByteIsCovered() throws {
        let authenticator = try SoftAuthenticator()
        let challenge = Random.bytes(32)
        for bit in 0..<8 {
            var changed = try authenticator.registration(challenge: challenge, packed: true)
            changed.authData[32] ^= UInt8(1 << bit)
            #expect(throws: WebAuthnError.self, "flag bit \(bit)") { _ = try register(changed, challenge: challenge) }
        }
    }

    static func replacing(_ json: JSON, _ member: String, with bytes: [UInt8]) -> JSON {
        guard case .object(let members) = json else { return json }
        return .object(
            members.map { name, value in
                guard name == "response", case .object(let inner) = value else { return (name, value) }
                return (name, .object(inner.map { $0.0 == member ? ($0.0, .string(Base64URL.encode(bytes))) : $0 }))
            })
    }

    /// The assertion negative table.
    @Test func assertionsAreRefused() throws {
        var authenticator = try SoftAuthenticator()
        let registration = Random.bytes(32)
        let credential = try register(try authenticator.registration(challenge: registration), challenge: registration)
        let stored = RelyingParty.StoredCredential(publicKeyBytes: credential.publicKeyBytes, signCount: 5, backupEligible: false)
        authenticator.signCount = 5
        let challenge = Random.bytes(32)
        let good = try authenticator.assertion(challenge: challenge)
        func verify(
            _ assertion: SoftAuthenticator.Assertion, _ challenge: [UInt8], _ stored: RelyingParty.StoredCredential = stored,
            rp: RelyingParty = Self.rp
        )
            throws
        {
            _ = try rp.verifyAssertion(try AssertionResponse(json: assertion.json), challenge: challenge, credential: stored)
        }
        try verify(good, challenge)

        #expect(refusal(.refused) { try verify(good, Random.bytes(32)) }?.contains("challenge") == true)
        var other = authenticator
        var changed = try other.assertion(origin: "https://evil.example", challenge: challenge)
        #expect(refusal(.refused) { try verify(changed, challenge) }?.contains("origin") == true)
        other = authenticator
        changed = try other.assertion(rpID: "evil.example", challenge: challenge)
        #expect(refusal(.refused) { try verify(changed, challenge) }?.contains("rp id") == true)
        other = authenticator
        changed = try other.assertion(challenge: challenge, flags: SoftAuthenticator.uv)
        #expect(refusal(.refused) { try verify(changed, challenge) }?.contains("UP") == true)
        other = authenticator
        changed = try other.assertion(challenge: challenge, flags: SoftAuthenticator.up)
        try verify(changed, challenge)
        #expect(refusal(.refused) { try verify(changed, challenge, rp: Self.strictRP) }?.contains("UV") == true)
        other = authenticator
        changed = try other.assertion(challenge: challenge, flags: SoftAuthenticator.up | SoftAuthenticator.be)
        #expect(refusal(.refused) { try verify(changed, challenge) }?.contains("backup") == true)
        // The counter: equal or lower is a clone (or a broken authenticator); 0 after a counting one too.
        for count in [UInt32(5), 4, 0] {
            other = authenticator
            other.signCount = count
            changed = try other.assertion(challenge: challenge, counting: false)
            #expect(refusal(.signCountRegressed) { try verify(changed, challenge) } != nil, "count \(count)")
        }
        // Another key's signature, and a registration's client data type.
        changed = good
        changed.signature = try SoftAuthenticator().sign(good.authData, good.clientData)
        #expect(refusal(.refused) { try verify(changed, challenge) }?.contains("signature") == true)
        changed = good
        changed.clientData = SoftAuthenticator.clientData(type: "webauthn.create", challenge: challenge, origin: "https://example.com")
        #expect(refusal(.refused) { try verify(changed, challenge) }?.contains("type") == true)
        // Attested credential data has no place in an assertion.
        changed = good
        changed.authData = try authenticator.authenticatorData(rpID: "example.com", flags: 0x05, signCount: 9, attested: true)
        changed.signature = try authenticator.sign(changed.authData, changed.clientData)
        #expect(refusal(.malformed) { try verify(changed, challenge) } != nil)
        // Extensions are parsed and ignored; a malformed extensions part is refused.
        changed = good
        changed.authData = try authenticator.authenticatorData(
            rpID: "example.com", flags: 0x05, signCount: 9, attested: false, extensions: .map([.init(.text("credProtect"), .unsigned(2))]))
        changed.signature = try authenticator.sign(changed.authData, changed.clientData)
        try verify(changed, challenge)
        changed.authData[32] |= SoftAuthenticator.ed
        changed.authData = Array(changed.authData.prefix(37)) + [0x9f, 0xff]
        changed.signature = try authenticator.sign(changed.authData, changed.clientData)
        #expect(refusal(.malformed) { try verify(changed, challenge) } != nil)

        try everyFlippedBitIsRefused(good, challenge, stored)
    }

    /// Every bit of every part of an assertion.
    func everyFlippedBitIsRefused(_ good: SoftAuthenticator.Assertion, _ challenge: [UInt8], _ stored: RelyingParty.StoredCredential) throws {
        func verify(_ assertion: SoftAuthenticator.Assertion, _ challenge: [UInt8]) throws {
            _ = try Self.rp.verifyAssertion(try AssertionResponse(json: assertion.json), challenge: challenge, credential: stored)
        }
        var changed = good
        for index in 0..<good.authData.count {
            changed = good
            changed.authData[index] ^= 0x01 << (index % 8)
            #expect(throws: WebAuthnError.self, "authData byte \(index)") { try verify(changed, challenge) }
        }
        for index in 0..<good.clientData.count {
            changed = good
            changed.clientData[index] ^= 0x01 << (index % 8)
            #expect(throws: WebAuthnError.self, "clientData byte \(index)") { try verify(changed, challenge) }
        }
        for index in 0..<good.signature.count {
            changed = good
            changed.signature[index] ^= 0x01 << (index % 8)
            #expect(throws: WebAuthnError.self, "signature byte \(index)") { try verify(changed, challenge) }
        }
    }

    @Test func responsesMustBeWellFormed() throws {
        let authenticator = try SoftAuthenticator()
        let good = try authenticator.registration(challenge: Random.bytes(32)).json
        func without(_ name: String) -> JSON {
            guard case .object(let members) = good else { return good }
            return .object(members.filter { $0.0 != name })
        }
        #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: without("rawId")) }
        #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: without("response")) }
        #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: .array([])) }
        guard case .object(let members) = good else { return }
        let mismatched = JSON.object(members.map { $0.0 == "id" ? ("id", .string(Base64URL.encode(Random.bytes(16)))) : $0 })
        #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: mismatched) }
        let padded = JSON.object(members.map { $0.0 == "type" ? ("type", .string("password")) : $0 })
        #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: padded) }
        #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: Self.replacing(good, "clientDataJSON", with: [])) }
        let huge = Self.replacing(good, "attestationObject", with: [UInt8](repeating: 0x41, count: AttestationObject.maxLength + 1))
        #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: huge) }
    }

    @Test func optionsCarryWhatTheBrowserNeeds() throws {
        let options = Self.rp.creationOptions(
            challenge: [1, 2, 3], userHandle: [9, 9], userName: "a@example.com", displayName: "a@example.com",
            exclude: [.init(id: [7], transports: ["usb"])])
        #expect(options["rp"]?["id"]?.stringValue == "example.com")
        #expect(options["challenge"]?.stringValue == "AQID")
        #expect(options["user"]?["id"]?.stringValue == "CQk")
        #expect(options["attestation"]?.stringValue == "none")
        #expect(options["authenticatorSelection"]?["residentKey"]?.stringValue == "preferred")
        guard case .array(let params)? = options["pubKeyCredParams"] else {
            Issue.record("no pubKeyCredParams")
            return
        }
        #expect(params.compactMap { $0["alg"] } == [.int(-7), .int(-8), .int(-257)])
        guard case .array(let excluded)? = options["excludeCredentials"] else {
            Issue.record("no excludeCredentials")
            return
        }
        #expect(excluded.first?["id"]?.stringValue == "Bw")
        let request = Self.strictRP.requestOptions(challenge: [1], allow: [])
        #expect(request["userVerification"]?.stringValue == "required")
        #expect(request["rpId"]?.stringValue == "example.com")
    }
}

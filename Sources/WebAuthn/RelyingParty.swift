import CBOR
import CryptoPrimitives

/// This site as a WebAuthn relying party (Level 2): its id, the origins its pages are served from, what it asks of
/// authenticators, and the checks of §7.1 (registration) and §7.2 (authentication).
public struct RelyingParty: Sendable {
    /// What the relying party asks about user verification (a PIN or biometric on the authenticator).
    public enum UserVerification: String, Sendable, CaseIterable {
        /// Refused without it.
        case required
        /// Asked for; recorded when done (a sign-in without it is AAL1).
        case preferred
        /// Not asked for; recorded when done anyway.
        case discouraged
    }

    public let id: String
    public let name: String
    /// Exact origins (`https://example.com`) pages may run a ceremony from.
    public let origins: Set<String>
    /// Top-level origins that may embed those pages in a cross-origin iframe; empty refuses cross-origin ceremonies.
    public let topOrigins: Set<String>
    public let userVerification: UserVerification
    /// Offered algorithms, in preference order.
    public let algorithms: [COSEAlgorithm]
    /// SHA-256 of ``id``, what authenticator data must carry.
    public let idHash: [UInt8]

    public init(
        id: String, name: String, origins: Set<String>, topOrigins: Set<String> = [], userVerification: UserVerification = .preferred,
        algorithms: [COSEAlgorithm] = [.es256, .edDSA, .rs256]
    ) {
        self.id = id
        self.name = name
        self.origins = origins
        self.topOrigins = topOrigins
        self.userVerification = userVerification
        self.algorithms = algorithms
        idHash = SHA256.hash(Array(id.utf8))
    }

    /// A credential that a registration created, ready to store.
    public struct NewCredential: Sendable {
        public let id: [UInt8]
        public let publicKeyBytes: [UInt8]
        public let algorithm: COSEAlgorithm
        public let signCount: UInt32
        public let userVerified: Bool
        public let backupEligible: Bool
        public let backupState: Bool
        public let aaguid: [UInt8]
        /// `none`, or `packed` (self attestation, or a certificate whose signature was checked but not trusted).
        public let attestationFormat: String
    }

    /// What a stored credential brings to an authentication.
    public struct StoredCredential: Sendable {
        public let publicKeyBytes: [UInt8]
        public let signCount: UInt32
        public let backupEligible: Bool

        public init(publicKeyBytes: [UInt8], signCount: UInt32, backupEligible: Bool) {
            self.publicKeyBytes = publicKeyBytes
            self.signCount = signCount
            self.backupEligible = backupEligible
        }
    }

    /// What a verified assertion tells.
    public struct Assertion: Sendable, Equatable {
        public let signCount: UInt32
        public let userVerified: Bool
        public let backupState: Bool
    }

    /// Verifies a registration (§7.1) against the challenge it was issued with.
    ///
    /// - Throws: ``WebAuthnError``.
    public func verifyRegistration(_ response: RegistrationResponse, challenge: [UInt8]) throws(WebAuthnError) -> NewCredential {
        let clientData = try ClientData(response.clientDataJSON)
        try check(clientData, type: "webauthn.create", challenge: challenge)
        let attestation = try AttestationObject(response.attestationObject)
        let authData = attestation.authData
        try check(authData)
        guard let credential = authData.attestedCredential else { throw .malformed("the registration carries no credential (AT flag)") }
        guard ConstantTime.equals(credential.id, response.rawID) else { throw .refused("the credential id differs from the authenticator data's") }
        guard algorithms.contains(credential.publicKey.algorithm) else {
            throw .unsupported("the credential's algorithm \(credential.publicKey.algorithm.rawValue) was not offered")
        }
        if let publicKeyAlgorithm = response.publicKeyAlgorithm, publicKeyAlgorithm != credential.publicKey.algorithm.rawValue {
            throw .refused("the response's publicKeyAlgorithm differs from the credential's")
        }
        try attestation.verify(clientDataHash: SHA256.hash(clientData.bytes), credential: credential)
        return NewCredential(
            id: credential.id, publicKeyBytes: credential.publicKeyBytes, algorithm: credential.publicKey.algorithm,
            signCount: authData.signCount, userVerified: authData.userVerified, backupEligible: authData.backupEligible,
            backupState: authData.backupState, aaguid: credential.aaguid, attestationFormat: attestation.format)
    }

    /// Verifies an assertion (§7.2) of `credential` against the challenge it was issued with. The caller has found the
    /// credential by the response's id and checked that it belongs to the expected user (and the user handle).
    ///
    /// - Throws: ``WebAuthnError``; `.signCountRegressed` when the counter did not increase (a clone, or a broken
    ///   authenticator): the caller records a security event.
    public func verifyAssertion(_ response: AssertionResponse, challenge: [UInt8], credential: StoredCredential) throws(WebAuthnError)
        -> Assertion
    {
        let clientData = try ClientData(response.clientDataJSON)
        try check(clientData, type: "webauthn.get", challenge: challenge)
        let authData = try AuthenticatorData(response.authenticatorData)
        try check(authData)
        guard authData.attestedCredential == nil else { throw .malformed("an assertion carries attested credential data") }
        // A credential's backup eligibility is fixed when it is created (§6.1.3).
        guard authData.backupEligible == credential.backupEligible else { throw .refused("the backup eligibility flag changed") }
        let key = try COSEKey(bytes: credential.publicKeyBytes)
        let signed = authData.bytes + SHA256.hash(clientData.bytes)
        guard key.verifier.isValidSignature(response.signature, for: signed) else { throw .refused("the signature is invalid") }
        // §7.2 step 21: a counter that is used must increase.
        if authData.signCount != 0 || credential.signCount != 0, authData.signCount <= credential.signCount {
            throw WebAuthnError(
                .signCountRegressed, "the signature counter went from \(credential.signCount) to \(authData.signCount)")
        }
        return Assertion(signCount: authData.signCount, userVerified: authData.userVerified, backupState: authData.backupState)
    }

    /// §7.1 steps 7-10 / §7.2 steps 11-14: type, challenge, origin, cross-origin use.
    func check(_ clientData: ClientData, type: String, challenge: [UInt8]) throws(WebAuthnError) {
        guard clientData.type == type else { throw .refused("the client data's type is not \(type)") }
        guard ConstantTime.equals(clientData.challenge, challenge) else { throw .refused("the challenge does not match") }
        guard origins.contains(clientData.origin) else { throw .refused("the origin \(clientData.origin) is not one of this site's") }
        if clientData.crossOrigin {
            guard let top = clientData.topOrigin, topOrigins.contains(top) else {
                throw .refused("a ceremony in a cross-origin frame (allowed only from passkeys.top_origins)")
            }
        } else if let top = clientData.topOrigin, top != clientData.origin {
            throw .refused("a top origin that differs from the origin of a same-origin ceremony")
        }
    }

    /// §7.1 steps 13-15 / §7.2 steps 15-17: rp id hash, user presence, user verification when required.
    func check(_ authData: AuthenticatorData) throws(WebAuthnError) {
        guard ConstantTime.equals(authData.rpIDHash, idHash) else { throw .refused("the authenticator data is for another rp id") }
        guard authData.userPresent else { throw .refused("user presence (UP) is not set") }
        if userVerification == .required, !authData.userVerified { throw .refused("user verification (UV) is required") }
    }
}

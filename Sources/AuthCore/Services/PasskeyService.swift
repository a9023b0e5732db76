import CryptoPrimitives
public import FoundationEssentials
import JOSE
import Logging
public import StrictJSON
import WebAuthn

/// Passkeys (#18): the WebAuthn ceremonies of this site as a relying party. Challenges are random, stored as their
/// SHA-256, single use and live five minutes; each names what it is for and, but for a passwordless sign-in, whose it
/// is. A passkey is a factor (``MFAService``'s rows) whose public key lives in ``PasskeyStore``. One per thread.
public final class PasskeyService {
    let relyingParty: RelyingParty?
    let store: PasskeyStore
    let users: UserStore
    let mfa: MFAService
    let database: Database
    let clock: any AuthClock
    let logger: Logger

    /// How long a ceremony may take (the options' `timeout`).
    public static let challengeLifetime: Duration = .milliseconds(RelyingParty.timeoutMilliseconds)
    /// Longest name of a passkey.
    public static let maxNameLength = 100

    init(settings: AuthSettings, database: Database, mfa: MFAService, clock: any AuthClock, logger: Logger) {
        relyingParty = settings.relyingParty
        store = PasskeyStore(database: database)
        users = UserStore(database: database)
        self.mfa = mfa
        self.database = database
        self.clock = clock
        self.logger = logger
    }

    /// Whether passkeys are configured.
    public var isAvailable: Bool { relyingParty != nil }

    private func party() throws(AuthError) -> RelyingParty {
        guard let relyingParty else { throw AuthError.passkeysUnavailable }
        return relyingParty
    }

    /// A new challenge, stored for `purpose`.
    private func newChallenge(_ purpose: PasskeyStore.Purpose, userID: String?, pendingHash: [UInt8]? = nil) throws(AuthError) -> [UInt8] {
        let challenge = Random.bytes(32)
        let now = clock.now()
        try store.insertChallenge(
            challenge, purpose: purpose, userID: userID, pendingHash: pendingHash, now: now,
            expiresAt: now.addingTimeInterval(Self.challengeLifetime.timeInterval))
        return challenge
    }

    /// The challenge a response answers, consumed (once, atomically) for `purpose`; `nil` when it is not a live one.
    private func consume(_ clientDataJSON: [UInt8], _ purpose: PasskeyStore.Purpose) throws(AuthError) -> ([UInt8], PasskeyStore.Challenge)? {
        guard let clientData = try? ClientData(clientDataJSON),
            let challenge = try store.consumeChallenge(clientData.challenge, purpose: purpose, now: clock.now())
        else { return nil }
        return (clientData.challenge, challenge)
    }

    // MARK: Registration

    /// Creation options for a signed-in user: a new challenge, the user's handle, the passkeys they have (excluded).
    ///
    /// - Throws: ``AuthError`` `passkeysUnavailable`, `notFound`.
    public func registrationOptions(userID: String) throws(AuthError) -> JSON {
        let party = try party()
        guard let user = try users.find(id: userID), let handle = try store.handle(userID: userID) else { throw AuthError.notFound }
        let exclude = try store.passkeys(userID: userID).map { RelyingParty.CredentialDescriptor(id: $0.credentialID, transports: $0.transports) }
        let challenge = try newChallenge(.register, userID: userID)
        return party.creationOptions(
            challenge: challenge, userHandle: handle, userName: user.email, displayName: user.name ?? user.email, exclude: exclude)
    }

    /// A registration just stored.
    public struct Registered: Sendable {
        public let passkey: PasskeyInfo
        /// The authentication method the passkey gives (`hwk` or `swk`).
        public let method: String
        /// Recovery codes, when this is the user's first factor and recovery codes can be made (shown once).
        public let recoveryCodes: [String]?
    }

    /// Verifies a registration against the user's live challenge and stores the passkey as an active factor.
    ///
    /// - Throws: ``AuthError`` `passkeyInvalid` (naming the check that failed, or a passkey registered before),
    ///   `invalidInput` (a name too long), `passkeysUnavailable`.
    public func register(userID: String, response json: JSON, name rawName: String?) throws(AuthError) -> Registered {
        let party = try party()
        let name = try Self.validName(rawName)
        let response: RegistrationResponse
        do { response = try RegistrationResponse(json: json) } catch {
            throw AuthError(.passkeyInvalid, "The passkey response is malformed: \(error.reason)")
        }
        guard let (challenge, stored) = try consume(response.clientDataJSON, .register), stored.userID == userID else {
            throw AuthError(.passkeyInvalid, "The passkey response does not answer a live challenge of this account (ask for new options)")
        }
        let credential: RelyingParty.NewCredential
        do { credential = try party.verifyRegistration(response, challenge: challenge) } catch {
            logger.info(
                "passkey registration refused", metadata: ["event": "passkey_register_refused", "user.id": "\(userID)", "reason": "\(error.reason)"])
            throw AuthError(.passkeyInvalid, "The passkey could not be verified: \(error.reason)")
        }
        let now = clock.now()
        let factorID = Identifier.make(at: now)
        // Re-run safe: the factor id and the verified credential were made before; a rolled-back attempt inserted
        // nothing (a credential is unique: never doubled), and whether this is the first factor is decided inside it.
        let codes = try database.transaction { _ throws(AuthError) in
            try store.insert(
                PasskeyStore.NewPasskey(
                    factorID: factorID, userID: userID, name: name, credentialID: credential.id, publicKey: credential.publicKeyBytes,
                    algorithm: credential.algorithm.rawValue, signCount: credential.signCount, backupEligible: credential.backupEligible,
                    backupState: credential.backupState, userVerified: credential.userVerified, transports: response.transports,
                    aaguid: credential.aaguid, attestationFormat: credential.attestationFormat), now: now)
            return try mfa.recoveryCodesForFirstFactor(userID: userID, now: now)
        }
        logger.notice("passkey registered", metadata: ["event": "passkey_registered", "user.id": "\(userID)", "mfa.id": "\(factorID)"])
        let info = PasskeyInfo(
            id: factorID, name: name, createdAt: now, lastUsedAt: nil, backupEligible: credential.backupEligible,
            backupState: credential.backupState, userVerified: credential.userVerified, transports: response.transports,
            aaguid: credential.aaguid, algorithm: credential.algorithm.rawValue)
        return Registered(passkey: info, method: credential.backupEligible ? "swk" : "hwk", recoveryCodes: codes)
    }

    // MARK: Authentication

    /// Request options for a sign-in without a password: no `allowCredentials` ever (the browser offers the site's
    /// discoverable passkeys). With an address, the challenge is bound to that account, so only its passkeys answer
    /// it; for an address with no account it is stored as void (the same write, answerable by nothing). The options
    /// are thus the same for every address and never tell whether an account exists: listing an account's
    /// credential ids would (decoys for unknown addresses can be told from real ids by their lengths, transports and
    /// changes over time). A passkey that is not discoverable serves as the second step of a password sign-in, where
    /// the account is known.
    public func signInOptions(email rawEmail: String?) throws(AuthError) -> JSON {
        let party = try party()
        guard let rawEmail else { return party.requestOptions(challenge: try newChallenge(.login, userID: nil), allow: []) }
        let email = EmailAddress.normalize(rawEmail)
        let found = EmailAddress.isPlausible(email) ? try users.credentials(email: email)?.user.id : nil
        let challenge = try newChallenge(found == nil ? .void : .login, userID: found)
        return party.requestOptions(challenge: challenge, allow: [])
    }

    /// Request options for one user's passkeys: the second step of a sign-in (bound to its pending challenge) or a
    /// reauthentication.
    ///
    /// - Throws: ``AuthError`` `passkeysUnavailable`; `notFound` when the user has no passkey.
    func options(for userID: String, purpose: PasskeyStore.Purpose, pendingHash: [UInt8]? = nil) throws(AuthError) -> JSON {
        let party = try party()
        let passkeys = try store.passkeys(userID: userID)
        guard !passkeys.isEmpty else { throw AuthError(.notFound, "No passkey is registered") }
        let challenge = try newChallenge(purpose, userID: userID, pendingHash: pendingHash)
        return party.requestOptions(
            challenge: challenge, allow: passkeys.map { RelyingParty.CredentialDescriptor(id: $0.credentialID, transports: $0.transports) })
    }

    /// What a verified assertion proves.
    public struct Verified: Sendable {
        public let userID: String
        /// `hwk`/`swk`, and `mfa` when the authenticator verified its user.
        public let methods: [String]
    }

    /// Verifies an assertion for `purpose`: its challenge consumed once, the passkey found by its id and owned by the
    /// challenge's user (and by the user handle, when one is returned), the signature, the counter (a counter that
    /// did not increase is refused and logged as a possible clone).
    ///
    /// - Throws: ``AuthError/invalidCredentials`` for any failure (the reason goes to the log), `passkeysUnavailable`.
    func authenticate(_ json: JSON, purpose: PasskeyStore.Purpose, pendingHash: [UInt8]? = nil) throws(AuthError) -> Verified {
        let party = try party()
        let response: AssertionResponse
        do { response = try AssertionResponse(json: json) } catch { throw refused(purpose, nil, "malformed: \(error.reason)") }
        guard let (challenge, stored) = try consume(response.clientDataJSON, purpose) else {
            throw refused(purpose, nil, "no live challenge")
        }
        if let pendingHash, stored.pendingHash.map({ ConstantTime.equals($0, pendingHash) }) != true {
            throw refused(purpose, stored.userID, "the challenge belongs to another sign-in")
        }
        guard let passkey = try store.find(credentialID: response.rawID) else { throw refused(purpose, stored.userID, "unknown credential") }
        if let expected = stored.userID, expected != passkey.userID { throw refused(purpose, expected, "another user's credential") }
        if let handle = response.userHandle {
            guard try store.user(handle: handle) == passkey.userID else { throw refused(purpose, passkey.userID, "the user handle differs") }
        } else if stored.userID == nil {
            // A discoverable sign-in names its user (§7.2 step 6).
            throw refused(purpose, passkey.userID, "no user handle")
        }
        let assertion: RelyingParty.Assertion
        do {
            assertion = try party.verifyAssertion(
                response, challenge: challenge,
                credential: .init(publicKeyBytes: passkey.publicKey, signCount: passkey.signCount, backupEligible: passkey.backupEligible))
        } catch {
            if error.kind == .signCountRegressed {
                logger.error(
                    "passkey signature counter went back: a cloned authenticator?",
                    metadata: ["event": "passkey_clone_suspected", "user.id": "\(passkey.userID)", "mfa.id": "\(passkey.factorID)"])
            }
            throw refused(purpose, passkey.userID, error.reason)
        }
        guard try store.recordUse(factorID: passkey.factorID, signCount: assertion.signCount, backupState: assertion.backupState, now: clock.now())
        else {
            logger.error(
                "passkey signature counter went back: a cloned authenticator?",
                metadata: ["event": "passkey_clone_suspected", "user.id": "\(passkey.userID)", "mfa.id": "\(passkey.factorID)"])
            throw refused(purpose, passkey.userID, "the counter did not increase")
        }
        return Verified(userID: passkey.userID, methods: [passkey.backupEligible ? "swk" : "hwk"] + (assertion.userVerified ? ["mfa"] : []))
    }

    private func refused(_ purpose: PasskeyStore.Purpose, _ userID: String?, _ reason: String) -> AuthError {
        logger.info(
            "passkey refused",
            metadata: ["event": "passkey_refused", "purpose": "\(purpose.rawValue)", "user.id": "\(userID ?? "-")", "reason": "\(reason)"])
        return AuthError.invalidCredentials
    }

    // MARK: Management

    /// The user's passkeys, oldest first.
    public func passkeys(of userID: String) throws(AuthError) -> [PasskeyInfo] {
        try store.passkeys(userID: userID).map {
            PasskeyInfo(
                id: $0.factorID, name: $0.name, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt, backupEligible: $0.backupEligible,
                backupState: $0.backupState, userVerified: $0.userVerified, transports: $0.transports, aaguid: $0.aaguid,
                algorithm: $0.algorithm)
        }
    }

    /// Renames one of the user's passkeys. Returns whether it exists.
    public func rename(id: String, of userID: String, to rawName: String?) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(id) else { return false }
        return try store.rename(factorID: id, userID: userID, name: try Self.validName(rawName))
    }

    /// Removes one of the user's passkeys (not another kind of factor). Returns whether it existed.
    public func remove(id: String, of userID: String) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(id), try store.passkeys(userID: userID).contains(where: { $0.factorID == id }) else { return false }
        return try mfa.remove(factorID: id, userID: userID)
    }

    /// A name as given: trimmed, empty → none, at most ``maxNameLength`` characters, no control characters.
    static func validName(_ raw: String?) throws(AuthError) -> String? {
        guard let raw else { return nil }
        let name = String(raw.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        if name.isEmpty { return nil }
        guard name.count <= maxNameLength, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw AuthError(.invalidInput, "A passkey's name has at most \(maxNameLength) characters and no control characters")
        }
        return name
    }
}

/// One passkey, as the user's list shows it.
public struct PasskeyInfo: Sendable, Equatable {
    public let id: String
    public let name: String?
    public let createdAt: Date
    public let lastUsedAt: Date?
    /// Synced (may be backed up) and backed up now.
    public let backupEligible: Bool
    public let backupState: Bool
    /// Whether the authenticator verified its user at registration.
    public let userVerified: Bool
    public let transports: [String]
    public let aaguid: [UInt8]
    public let algorithm: Int64

    public init(
        id: String, name: String?, createdAt: Date, lastUsedAt: Date?, backupEligible: Bool, backupState: Bool, userVerified: Bool,
        transports: [String], aaguid: [UInt8], algorithm: Int64
    ) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.backupEligible = backupEligible
        self.backupState = backupState
        self.userVerified = userVerified
        self.transports = transports
        self.aaguid = aaguid
        self.algorithm = algorithm
    }
}

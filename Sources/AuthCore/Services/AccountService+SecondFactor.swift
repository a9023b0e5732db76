import FoundationEssentials
import Logging
public import StrictJSON

/// What a right password (or reset link) leads to: a session, or the second step of the sign-in.
public enum SignIn: Sendable {
    case signedIn(TokenPair)
    /// The user has an active second factor: no session yet, only a challenge (the `mfa_pending` cookie).
    case secondFactorRequired(MFAChallenge)

    /// The session's pair, when signed in.
    public var pair: TokenPair? {
        if case .signedIn(let pair) = self { return pair }
        return nil
    }
}

/// A sign-in waiting for its second factor.
public struct MFAChallenge: Sendable {
    /// The `mfa_pending` cookie's value (only its SHA-256 is stored).
    public let token: String
    /// What may answer it: the kinds of the user's active factors, and `recovery_code`.
    public let factors: [String]
    /// Seconds the challenge lives.
    public let expiresIn: Int

    public init(token: String, factors: [String], expiresIn: Int) {
        self.token = token
        self.factors = factors
        self.expiresIn = expiresIn
    }
}

/// A second factor presented: a TOTP code, a recovery code, or a passkey's assertion (`PublicKeyCredential.toJSON()`).
public enum SecondFactorProof: Sendable {
    case code(String)
    case recoveryCode(String)
    case passkey(JSON)
}

/// Sign-in with a second factor (#17): the challenge after the password, its throttled answer, and the
/// reauthentication of a signed-in session.
extension AccountService {
    /// How long a challenge lives.
    public static let challengeLifetime: Duration = .seconds(300)
    /// Codes checked per challenge; the next attempt voids it.
    public static let attemptsPerChallenge = 5

    /// After the first factor: a session, or, for a user with an active second factor, a challenge.
    ///
    /// - Parameter purpose: `.reset` after a password reset by mail: its session never counts as a recent
    ///   authentication.
    func afterFirstFactor(_ user: User, client: ClientContext, purpose: MFAChallengeStore.Purpose) throws(AuthError) -> SignIn {
        let kinds = try mfa.activeKinds(userID: user.id)
        // A reset's user chose and entered the new password: `pwd` either way; only its recency differs.
        let methods = ["pwd"]
        if kinds.isEmpty { return .signedIn(try sessions.startSession(for: user, client: client, methods: methods, recent: purpose == .login)) }
        // What can answer: a passkey with a relying party configured; TOTP and recovery codes with the keys. Factors
        // that cannot be checked must not be skipped: with none left, the sign-in waits for the configuration.
        var answers: [String] = []
        if kinds.contains("passkey") && passkeys.isAvailable { answers.append("passkey") }
        if mfa.isAvailable { answers += kinds.filter { $0 != "passkey" } + ["recovery_code"] }
        guard !answers.isEmpty else { throw AuthError.mfaUnavailable }
        guard let epoch = try users.authEpoch(id: user.id) else { throw AuthError.invalidCredentials }
        let (token, digest) = OneTimeToken.make()
        let now = clock.now()
        try challenges.insert(
            digest: digest, userID: user.id, purpose: purpose, methods: methods, epoch: epoch, now: now,
            expiresAt: now.addingTimeInterval(Self.challengeLifetime.timeInterval))
        logger.info("second factor required", metadata: ["event": "mfa_challenge", "user.id": "\(user.id)"])
        return .secondFactorRequired(
            MFAChallenge(token: token, factors: answers, expiresIn: Self.challengeLifetime.wholeSeconds))
    }

    /// Finishes a sign-in with its second factor: the challenge's attempt is reserved first (at most
    /// ``attemptsPerChallenge`` codes are ever checked per challenge, however many arrive at once), then the account's
    /// second-factor limit, then the code. The challenge is completed and the session started in one transaction.
    ///
    /// - Throws: ``AuthError`` `invalidCode` (a wrong or used code, or a challenge that is unknown, expired, used,
    ///   outlived by a password change or out of attempts), `throttled`, `mfaUnavailable`.
    public func completeSignIn(challenge token: String, proof: SecondFactorProof, client: ClientContext) throws(AuthError) -> TokenPair {
        guard let digest = OneTimeToken.digest(of: token) else { throw AuthError.invalidCode }
        guard let reserved = try challenges.reserveAttempt(digest: digest, limit: Self.attemptsPerChallenge, now: clock.now()) else {
            logger.info("second factor refused", metadata: ["event": "mfa_challenge_void", "client.ip": "\(client.ip)"])
            throw AuthError.invalidCode
        }
        let used = try checkSecondFactor(userID: reserved.userID, proof, client: client, pending: digest)
        guard let user = try users.find(id: reserved.userID) else { throw AuthError.invalidCode }
        let started = sessions.newSession(for: user, methods: reserved.methods + used)
        let claim = Claim()
        // Re-run safe: the challenge completes only while open (the rolled-back attempt reopened it); the session's ids were
        // made before.
        try database.transaction { _ throws(AuthError) in
            guard try challenges.complete(digest: digest, now: started.authentication.time, claim: claim) else { throw AuthError.invalidCode }
            try sessions.insert(started, client: client, recent: reserved.purpose == .login)
        }
        // Two completions of one challenge through two Galera nodes can both commit: only the one whose claim the
        // challenge keeps signs in. The other's session is a row of its own that survived: it is revoked, never handed
        // out; so is it when the read-back fails (the request fails, and a session nobody holds must not stay live).
        let kept: Bool
        do {
            kept = try database.keeps(claim, "mfa_sign_in", readBack: { () throws(AuthError) in try challenges.claim(of: digest) })
        } catch {
            do {
                try sessions.logout(sessionID: started.sessionID)
            } catch let cleanup {
                logger.warning(
                    "a sign-in whose read-back failed kept its session",
                    metadata: [
                        "event": "single_use_cleanup_failed", "session.id": "\(started.sessionID)",
                        "error": "\(cleanup.logCause)",
                    ])
            }
            throw error
        }
        guard kept else {
            try sessions.logout(sessionID: started.sessionID)
            throw AuthError.invalidCode
        }
        return try sessions.pair(of: started)
    }

    /// Checks a second factor of the user, counted against the account's second-factor limit before the check
    /// (atomically); a right one gives its count back. Returns the methods it adds (`otp`; a passkey's `hwk`/`swk`,
    /// with `mfa` when it verified its user).
    ///
    /// - Parameter pending: The sign-in a passkey's challenge must belong to (its `mfa_pending` digest); `nil` for a
    ///   reauthentication.
    func checkSecondFactor(userID: String, _ proof: SecondFactorProof, client: ClientContext, pending: [UInt8]? = nil)
        throws(AuthError) -> [String]
    {
        if let wait = try throttle.reserve(.mfaAccount, userID) {
            logger.notice(
                "second factor throttled", metadata: ["event": "mfa_throttled", "user.id": "\(userID)", "client.ip": "\(client.ip)"])
            throw AuthError.throttled(retryAfter: wait)
        }
        var methods = ["otp"]
        let valid: Bool
        switch proof {
        case .code(let code): valid = try mfa.verifyTOTP(userID: userID, code: code)
        case .recoveryCode(let code): valid = try mfa.useRecoveryCode(userID: userID, code: code)
        case .passkey(let response):
            do {
                let verified = try passkeys.authenticate(response, purpose: pending == nil ? .reauth : .mfa, pendingHash: pending)
                valid = verified.userID == userID
                methods = verified.methods
            } catch  where error.code == .invalidCredentials {
                valid = false
            }
        }
        guard valid else {
            logger.info("second factor failed", metadata: ["event": "mfa_failed", "user.id": "\(userID)", "client.ip": "\(client.ip)"])
            throw AuthError.invalidCode
        }
        try throttle.giveBack(.mfaAccount, userID)
        return methods
    }

    /// The password or a second factor entered again on a signed-in session: checked (a password against the
    /// password-change and the login throttles, a code against the second-factor one), then recorded as the
    /// session's latest authentication. Returns a new access token carrying it.
    ///
    /// - Throws: ``AuthError`` `invalidCredentials`, `invalidCode`, `throttled`, `sessionRevoked` (the session ended).
    public func reauthenticate(userID: String, sessionID: String, with proof: Reauthentication, client: ClientContext)
        throws(AuthError) -> AccessToken
    {
        let methods: [String]
        switch proof {
        case .password(let password):
            guard let user = try users.find(id: userID) else { throw AuthError.sessionRevoked }
            if let wait = try throttle.reserve(.loginAccount, user.email) { throw AuthError.throttled(retryAfter: wait) }
            do {
                try checkCurrentPassword(userID: userID, password)
            } catch {
                if error.code != .invalidCredentials { try throttle.giveBack(.loginAccount, user.email) }
                throw error
            }
            try throttle.giveBack(.loginAccount, user.email)
            methods = ["pwd"]
        case .secondFactor(let factor):
            methods = try checkSecondFactor(userID: userID, factor, client: client)
        }
        guard let authentication = try sessions.recordAuthentication(sessionID: sessionID, userID: userID, methods: methods),
            let user = try users.find(id: userID)
        else { throw AuthError.sessionRevoked }
        return try sessions.accessToken(for: user, sessionID: sessionID, authentication: authentication)
    }
}

/// What a reauthentication presents.
public enum Reauthentication: Sendable {
    case password(String)
    case secondFactor(SecondFactorProof)
}

/// A factor just confirmed: its recovery codes (shown once) and the session's new access token (the code was an act
/// of authentication: the session is AAL2 from now on).
public struct ConfirmedFactor: Sendable {
    public let recoveryCodes: [String]
    public let accessToken: AccessToken

    public init(recoveryCodes: [String], accessToken: AccessToken) {
        self.recoveryCodes = recoveryCodes
        self.accessToken = accessToken
    }
}

extension AccountService: SecondFactorOperations {
    /// What a sensitive act needs of the session it comes from: with `recent`, an authentication within
    /// `accounts.reauth_window`; and, for a user with an active second factor, a session that used one (an AAL1 session
    /// from before the factor was added, or started with the password alone somehow, must not remove factors, mint
    /// API keys or change the password: that would undo the factor).
    ///
    /// - Throws: ``AuthError`` `reauthenticationRequired`, `mfaRequired`, `sessionRevoked`.
    public func requireStepUp(userID: String, sessionID: String, recent: Bool) throws(AuthError) {
        guard let state = try sessions.authenticationState(sessionID: sessionID, userID: userID) else { throw AuthError.sessionRevoked }
        // The factor first: a password would not do, so it is not asked for (a code renews both).
        if Authentication.assuranceLevel(of: state.methods) < 2, try !mfa.activeKinds(userID: userID).isEmpty {
            throw AuthError(.mfaRequired, "This needs a session that used your second factor")
        }
        if recent && !sessions.isRecent(state.recentAt) {
            throw AuthError(.reauthenticationRequired, "A recent sign-in is required")
        }
    }

    public var isAvailable: Bool { mfa.isAvailable }

    public func beginTOTP(userID: String, name: String?) throws(AuthError) -> MFAService.Enrolment {
        try mfa.beginTOTP(userID: userID, name: name)
    }

    /// Activates the pending TOTP factor with its first code; the code also counts as an act of authentication of the
    /// session that confirmed it.
    public func confirmTOTP(userID: String, sessionID: String, code: String) throws(AuthError) -> ConfirmedFactor {
        let codes = try mfa.confirmTOTP(userID: userID, code: code)
        guard let authentication = try sessions.recordAuthentication(sessionID: sessionID, userID: userID, methods: ["otp"]),
            let user = try users.find(id: userID)
        else { throw AuthError.sessionRevoked }
        return ConfirmedFactor(
            recoveryCodes: codes, accessToken: try sessions.accessToken(for: user, sessionID: sessionID, authentication: authentication))
    }

    public func factors(of userID: String) throws(AuthError) -> (factors: [FactorInfo], recoveryCodesLeft: Int) {
        try mfa.summary(userID: userID)
    }

    public func removeFactor(id: String, of userID: String) throws(AuthError) -> Bool {
        try mfa.remove(factorID: id, userID: userID)
    }

    public func replaceRecoveryCodes(userID: String) throws(AuthError) -> [String] {
        try mfa.replaceRecoveryCodes(userID: userID)
    }
}

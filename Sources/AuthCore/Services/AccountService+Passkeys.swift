import FoundationEssentials
import Logging
public import StrictJSON

/// A passkey just registered: its entry, recovery codes when it is the first factor (shown once), and the session's
/// new access token (the registration counts as an authentication with it, as a confirmed TOTP code does).
public struct RegisteredPasskey: Sendable {
    public let passkey: PasskeyInfo
    public let recoveryCodes: [String]?
    public let accessToken: AccessToken

    public init(passkey: PasskeyInfo, recoveryCodes: [String]?, accessToken: AccessToken) {
        self.passkey = passkey
        self.recoveryCodes = recoveryCodes
        self.accessToken = accessToken
    }
}

/// Passkeys (#18) on sessions: registration on a signed-in session, passwordless sign-in, the second step of a
/// password sign-in, reauthentication.
extension AccountService: PasskeyOperations {
    public var passkeysAvailable: Bool { passkeys.isAvailable }

    public func passkeyRegistrationOptions(userID: String, sessionID: String) throws(AuthError) -> JSON {
        guard passkeys.isAvailable else { throw AuthError.passkeysUnavailable }
        try requireStepUp(userID: userID, sessionID: sessionID, recent: true)
        return try passkeys.registrationOptions(userID: userID)
    }

    /// Verifies and stores a passkey (its challenge was issued to this user after a step-up), then records it as the
    /// session's latest authentication.
    public func registerPasskey(userID: String, sessionID: String, response: JSON, name: String?) throws(AuthError) -> RegisteredPasskey {
        guard try sessions.authenticationState(sessionID: sessionID, userID: userID) != nil else { throw AuthError.sessionRevoked }
        let registered = try passkeys.register(userID: userID, response: response, name: name)
        guard let authentication = try sessions.recordAuthentication(sessionID: sessionID, userID: userID, methods: [registered.method]),
            let user = try users.find(id: userID)
        else { throw AuthError.sessionRevoked }
        return RegisteredPasskey(
            passkey: registered.passkey, recoveryCodes: registered.recoveryCodes,
            accessToken: try sessions.accessToken(for: user, sessionID: sessionID, authentication: authentication))
    }

    public func passkeySignInOptions(email: String?) throws(AuthError) -> JSON {
        try passkeys.signInOptions(email: email)
    }

    /// A sign-in with a passkey alone. A failed one counts against the client address's login limit (the attempts
    /// cost the site a challenge and a signature check each); a success gives it back. A user-verifying passkey
    /// makes the session AAL2, one without user verification AAL1.
    ///
    /// - Throws: ``AuthError`` `invalidCredentials` (any failure: the reason is logged), `throttled`, `emailUnverified`,
    ///   `passkeysUnavailable`.
    public func signInWithPasskey(response: JSON, client: ClientContext) throws(AuthError) -> TokenPair {
        guard passkeys.isAvailable else { throw AuthError.passkeysUnavailable }
        if let wait = try throttle.reserve(.loginIP, client.ip) {
            logger.notice("passkey sign-in throttled", metadata: ["event": "login_throttled", "scope": "login_ip", "client.ip": "\(client.ip)"])
            throw AuthError.throttled(retryAfter: wait)
        }
        let verified = try passkeys.authenticate(response, purpose: .login)
        try throttle.giveBack(.loginIP, client.ip)
        guard let user = try users.find(id: verified.userID) else { throw AuthError.invalidCredentials }
        if requireVerifiedEmail && user.emailVerifiedAt == nil {
            logger.info("login of an unverified address", metadata: ["event": "login_unverified", "user.id": "\(user.id)"])
            throw AuthError.emailUnverified
        }
        logger.info("passkey sign-in", metadata: ["event": "passkey_login", "user.id": "\(user.id)"])
        return try sessions.startSession(for: user, client: client, methods: verified.methods, recent: true)
    }

    public func passkeyOptions(pendingSignIn token: String) throws(AuthError) -> JSON {
        guard passkeys.isAvailable else { throw AuthError.passkeysUnavailable }
        guard let digest = OneTimeToken.digest(of: token),
            let userID = try challenges.liveUser(digest: digest, limit: Self.attemptsPerChallenge, now: clock.now())
        else { throw AuthError.invalidCode }
        return try passkeys.options(for: userID, purpose: .mfa, pendingHash: digest)
    }

    public func passkeyReauthenticationOptions(userID: String, sessionID: String) throws(AuthError) -> JSON {
        guard passkeys.isAvailable else { throw AuthError.passkeysUnavailable }
        guard try sessions.authenticationState(sessionID: sessionID, userID: userID) != nil else { throw AuthError.sessionRevoked }
        return try passkeys.options(for: userID, purpose: .reauth)
    }

    public func passkeys(of userID: String) throws(AuthError) -> [PasskeyInfo] {
        try passkeys.passkeys(of: userID)
    }

    public func renamePasskey(id: String, of userID: String, to name: String?) throws(AuthError) -> Bool {
        try passkeys.rename(id: id, of: userID, to: name)
    }

    /// Removes a passkey: a sensitive act, as removing any factor (recent authentication, and a session that used a
    /// factor).
    public func removePasskey(id: String, of userID: String, sessionID: String) throws(AuthError) -> Bool {
        try requireStepUp(userID: userID, sessionID: sessionID, recent: true)
        return try passkeys.remove(id: id, of: userID)
    }
}

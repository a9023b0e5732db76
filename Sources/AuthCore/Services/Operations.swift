public import FoundationEssentials
public import Passwords
public import StrictJSON

/// What the HTTP handlers need of the accounts (``AccountService`` in production, a fake in handler unit tests).
public protocol AccountOperations: AnyObject {
    /// The policy new passwords are checked against (field errors before any work).
    var passwordPolicy: PasswordPolicy { get }
    func register(email: String, password: String, name: String?, client: ClientContext, links: AccountMailLinks?)
        throws(AuthError) -> Registration
    func signIn(email: String, password: String, client: ClientContext) throws(AuthError) -> SignIn
    func changePassword(userID: String, current: String, new: String, keepingSession: String?, keepingAPIKeys: Bool) throws(AuthError)
    func reauthenticate(userID: String, sessionID: String, password: String, client: ClientContext) throws(AuthError)
    func user(id: String) throws(AuthError) -> User?
    /// The device cookie after a completed authentication (see ``AccountService/deviceCookie(for:client:)``).
    func deviceCookie(for userID: String, client: ClientContext) throws(AuthError) -> DeviceCookies.Issued?
    func requestPasswordReset(email: String, client: ClientContext, link: MailComposer.Link) throws(AuthError)
    func resetPassword(token: String, newPassword: String, client: ClientContext) throws(AuthError) -> SignIn
    func verifyEmail(token: String) throws(AuthError) -> User
    func resendVerification(email: String?, userID: String?, client: ClientContext, link: MailComposer.Link) throws(AuthError)
    func requestEmailChange(userID: String, newEmail: String, password: String, link: MailComposer.Link) throws(AuthError)
    /// The outbox in numbers (the mail metrics).
    func mailQueueStats() throws(AuthError) -> MailQueueStats
}

/// What the HTTP handlers need of second factors (``AccountService`` in production: a sign-in's second step and a
/// reauthentication start or change sessions).
public protocol SecondFactorOperations: AnyObject {
    /// Whether second factors can be used here (`mfa.encryption_keys` is set).
    var isAvailable: Bool { get }
    func requireStepUp(userID: String, sessionID: String, recent: Bool) throws(AuthError)
    func beginTOTP(userID: String, name: String?) throws(AuthError) -> MFAService.Enrolment
    func confirmTOTP(userID: String, sessionID: String, code: String) throws(AuthError) -> ConfirmedFactor
    func factors(of userID: String) throws(AuthError) -> (factors: [FactorInfo], recoveryCodesLeft: Int)
    func removeFactor(id: String, of userID: String) throws(AuthError) -> Bool
    func replaceRecoveryCodes(userID: String) throws(AuthError) -> [String]
    func completeSignIn(challenge: String, proof: SecondFactorProof, client: ClientContext) throws(AuthError) -> TokenPair
    func reauthenticate(userID: String, sessionID: String, with: Reauthentication, client: ClientContext) throws(AuthError) -> AccessToken
}

/// What the HTTP handlers need of passkeys (#18; ``AccountService`` in production: a passkey sign-in starts a session,
/// a registration and a passkey reauthentication renew the session's authentication).
public protocol PasskeyOperations: AnyObject {
    /// Whether a relying party is configured.
    var passkeysAvailable: Bool { get }
    /// Creation options; needs a recent authentication (and, for a user with a factor, a session that used one).
    func passkeyRegistrationOptions(userID: String, sessionID: String) throws(AuthError) -> JSON
    func registerPasskey(userID: String, sessionID: String, response: JSON, name: String?) throws(AuthError) -> RegisteredPasskey
    func passkeySignInOptions(email: String?) throws(AuthError) -> JSON
    func signInWithPasskey(response: JSON, client: ClientContext) throws(AuthError) -> TokenPair
    /// Options for the second step of a pending sign-in (its `mfa_pending` token).
    func passkeyOptions(pendingSignIn token: String) throws(AuthError) -> JSON
    func passkeyReauthenticationOptions(userID: String, sessionID: String) throws(AuthError) -> JSON
    func passkeys(of userID: String) throws(AuthError) -> [PasskeyInfo]
    func renamePasskey(id: String, of userID: String, to name: String?) throws(AuthError) -> Bool
    func removePasskey(id: String, of userID: String, sessionID: String) throws(AuthError) -> Bool
}

/// What the HTTP handlers need of the sessions (``SessionService`` in production).
public protocol SessionOperations: AnyObject {
    func refresh(_ token: String, client: ClientContext) throws(AuthError) -> TokenPair
    func logout(refreshToken: String) throws(AuthError)
    func logout(sessionID: String) throws(AuthError)
    @discardableResult func revokeAllSessions(of userID: String, keeping: String?, keepingAPIKeys: Bool) throws(AuthError) -> Int
    func sessions(of userID: String) throws(AuthError) -> [Session]
    @discardableResult func revokeSession(_ sessionID: String, of userID: String) throws(AuthError) -> Bool
    func isSessionActive(_ sessionID: String) throws(AuthError) -> Bool
    func activeSessionUser(sessionID: String, userID: String) throws(AuthError) -> User?
}

/// What the HTTP handlers need of the API keys (``APIKeyService`` in production).
public protocol APIKeyOperations {
    func createAPIKey(userID: String, name: String, expiresAt: Date?, scope: APIKeyScope) throws(AuthError) -> CreatedAPIKey
    func apiKeys(of userID: String) throws(AuthError) -> [APIKeyInfo]
    @discardableResult func revokeAPIKey(id: String, of userID: String) throws(AuthError) -> Bool
    func authenticate(apiKey: String) throws(AuthError) -> AuthenticatedAPIKey?
}

/// Checks access tokens without the database (``TokenIssuer`` in production).
public protocol AccessTokenVerifying: Sendable {
    func verifyAccessToken(_ token: String) throws(AuthError) -> AccessClaims
}

/// Whether the database answers (``Database`` in production), for the health route.
public protocol DatabaseHealth: AnyObject {
    func isReachable() -> Bool
    /// Why the last check failed, for the log (never a password).
    var lastFailure: String? { get }
    /// The server in use, when `database.url` lists several (the node of a cluster this host is on); else `nil`.
    var node: String? { get }
}

extension TokenIssuer: AccessTokenVerifying {}
extension Database: DatabaseHealth {}

import AuthCore
import FastCGI
import Foundation
import Logging
import Passwords
import ProcessManager
import StrictJSON
import Synchronization
import TestSupport

@testable import AuthHTTP

/// A domain whose every call answers with what the test set: a value, or an ``AuthError``. The handlers see it
/// through the same protocols as the real services, so these tests pin the HTTP side alone: status codes, error
/// bodies, cookies, redirects and metrics.
final class FakeDomain: AccountOperations, SessionOperations, APIKeyOperations, SecondFactorOperations, PasskeyOperations,
    DatabaseHealth, @unchecked Sendable
{
    // @unchecked Sendable: each test owns its fake and drives it from one thread.
    var failure: AuthError?
    var sessionActive = true
    var recentlyAuthenticated = true
    var apiKeyScope = APIKeyScope.full
    var reachable = true
    /// Whether ``activeSessionUser(sessionID:userID:)`` and ``user(id:)`` find the user.
    var activeUserFound = true
    var userExists = true
    var lastFailure: String? { reachable ? nil : "connection refused" }
    private(set) var calls: [String] = []

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let user = User(
        id: "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", email: "ann@example.com", name: "Ann", role: "user",
        emailVerifiedAt: nil, createdAt: now)
    static let sessionID = "0190a1b2-c3d4-7e5f-8a6b-000000000001"
    static let pair = TokenPair(
        accessToken: "access.token.value", refreshToken: "refresh.token.value", accessExpiresIn: 900,
        refreshExpiresIn: 604_800, sessionID: sessionID, user: user, isGraceReplay: false,
        refreshTokenID: "0190a1b2-c3d4-7e5f-8a6b-000000000002")

    func answer<T>(_ name: String, _ value: T) throws(AuthError) -> T {
        calls.append(name)
        if let failure { throw failure }
        return value
    }

    var passwordPolicy: PasswordPolicy { PasswordPolicy(minimumCharacters: 8) }
    /// Registration signs in unless this is set (the site requires a verified address).
    var registrationNeedsVerification = false
    /// The account mail links registrations were given (`nil`: no mail).
    var registrationLinks: [AccountMailLinks?] = []
    func register(email: String, password: String, name: String?, client: ClientContext, links: AccountMailLinks?)
        throws(AuthError) -> Registration
    {
        registrationLinks.append(links)
        return try answer("register", registrationNeedsVerification ? .verificationRequired : .signedIn(Self.pair))
    }
    /// The verification links and user ids asked for.
    var verificationRequests: [(email: String?, userID: String?, link: MailComposer.Link)] = []
    func verifyEmail(token: String) throws(AuthError) -> User { try answer("verifyEmail", Self.user) }
    func resendVerification(email: String?, userID: String?, client: ClientContext, link: MailComposer.Link) throws(AuthError) {
        try answer("resendVerification", ())
        verificationRequests.append((email, userID, link))
    }
    func requestEmailChange(userID: String, newEmail: String, password: String, link: MailComposer.Link) throws(AuthError) {
        try answer("requestEmailChange", ())
    }
    func mailQueueStats() throws(AuthError) -> MailQueueStats {
        try answer("mailQueueStats", MailQueueStats(queued: 2, sent: 5, retried: 3, failed: 1, oldestQueuedAge: 42.7))
    }
    /// Login and reset answer with a challenge instead of the pair when set.
    var challenge: MFAChallenge?
    func signIn(email: String, password: String, client: ClientContext) throws(AuthError) -> SignIn {
        try answer("login", challenge.map { .secondFactorRequired($0) } ?? .signedIn(Self.pair))
    }
    func changePassword(userID: String, current: String, new: String, keepingSession: String?, keepingAPIKeys: Bool)
        throws(AuthError)
    {
        try answer(keepingAPIKeys ? "changePassword(keepingAPIKeys)" : "changePassword", ())
    }
    func reauthenticate(userID: String, sessionID: String, password: String, client: ClientContext) throws(AuthError) {
        try answer("reauthenticate", ())
        recentlyAuthenticated = true  // as the real one records it
    }
    func user(id: String) throws(AuthError) -> User? { try answer("user", userExists ? Self.user : nil) }
    /// The device cookies issued, with the cookie values the client sent.
    var devicesIssued: [[String]] = []
    /// The reset links asked for.
    var resetLinks: [MailComposer.Link] = []
    func requestPasswordReset(email: String, client: ClientContext, link: MailComposer.Link) throws(AuthError) {
        try answer("forgot", ())
        resetLinks.append(link)
    }
    func resetPassword(token: String, newPassword: String, client: ClientContext) throws(AuthError) -> SignIn {
        try answer("reset", challenge.map { .secondFactorRequired($0) } ?? .signedIn(Self.pair))
    }
    func deviceCookie(for userID: String, client: ClientContext) throws(AuthError) -> DeviceCookies.Issued? {
        devicesIssued.append(client.devices)
        return DeviceCookies.Issued(value: "device-\(devicesIssued.count)", maxAge: 86_400)
    }

    func refresh(_ token: String, client: ClientContext) throws(AuthError) -> TokenPair { try answer("refresh", Self.pair) }
    func logout(refreshToken: String) throws(AuthError) { try answer("logout", ()) }
    func logout(sessionID: String) throws(AuthError) { try answer("logout", ()) }
    func revokeAllSessions(of userID: String, keeping: String?, keepingAPIKeys: Bool) throws(AuthError) -> Int {
        try answer(keepingAPIKeys ? "revokeAll(keepingAPIKeys)" : "revokeAll", 2)
    }
    func sessions(of userID: String) throws(AuthError) -> [Session] { try answer("sessions", []) }
    func revokeSession(_ sessionID: String, of userID: String) throws(AuthError) -> Bool { try answer("revokeSession", true) }
    func isSessionActive(_ sessionID: String) throws(AuthError) -> Bool {
        calls.append("isSessionActive")
        return sessionActive
    }
    func activeSessionUser(sessionID: String, userID: String) throws(AuthError) -> User? {
        try answer("activeSessionUser", activeUserFound ? Self.user : nil)
    }

    func createAPIKey(userID: String, name: String, expiresAt: Date?, scope: APIKeyScope) throws(AuthError) -> CreatedAPIKey {
        try answer(
            "createAPIKey",
            CreatedAPIKey(
                info: APIKeyInfo(
                    id: Self.sessionID, name: name, prefix: "jwta_abcdefg", createdAt: Self.now, lastUsedAt: nil,
                    expiresAt: nil, scope: scope), rawKey: "jwta_" + String(repeating: "k", count: 43)))
    }
    func apiKeys(of userID: String) throws(AuthError) -> [APIKeyInfo] { try answer("apiKeys", []) }
    func revokeAPIKey(id: String, of userID: String) throws(AuthError) -> Bool { try answer("revokeAPIKey", true) }
    func authenticate(apiKey: String) throws(AuthError) -> AuthenticatedAPIKey? {
        try answer("authenticate", AuthenticatedAPIKey(user: Self.user, scope: apiKeyScope))
    }

    func isReachable() -> Bool { reachable }
    var node: String? { nil }

    // MARK: Second factors
    var mfaAvailable = true
    /// The challenges and proofs second steps were given.
    private(set) var proofs: [(challenge: String, proof: SecondFactorProof)] = []
    var isAvailable: Bool { mfaAvailable }
    /// What ``requireStepUp(userID:sessionID:recent:)`` throws besides a stale session (`recentlyAuthenticated`).
    var stepUpFailure: AuthError?
    func requireStepUp(userID: String, sessionID: String, recent: Bool) throws(AuthError) {
        calls.append(recent ? "requireStepUp(recent)" : "requireStepUp")
        if let failure { throw failure }
        if recent && !recentlyAuthenticated { throw AuthError(.reauthenticationRequired, "A recent sign-in is required") }
        if let stepUpFailure { throw stepUpFailure }
    }
    func beginTOTP(userID: String, name: String?) throws(AuthError) -> MFAService.Enrolment {
        try answer(
            "beginTOTP",
            MFAService.Enrolment(
                id: Self.sessionID, secretBase32: "JBSWY3DPEHPK3PXP",
                otpauthURI: "otpauth://totp/Example:ann%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"))
    }
    func confirmTOTP(userID: String, sessionID: String, code: String) throws(AuthError) -> ConfirmedFactor {
        try answer(
            "confirmTOTP",
            ConfirmedFactor(recoveryCodes: ["aaaa-bbbb-cccc-dddd"], accessToken: AccessToken(token: "aal2.access", expiresIn: 900)))
    }
    func factors(of userID: String) throws(AuthError) -> (factors: [FactorInfo], recoveryCodesLeft: Int) {
        try answer("factors", ([FactorInfo(id: Self.sessionID, kind: "totp", name: "phone", createdAt: Self.now, lastUsedAt: nil)], 9))
    }
    func removeFactor(id: String, of userID: String) throws(AuthError) -> Bool { try answer("removeFactor", true) }
    func replaceRecoveryCodes(userID: String) throws(AuthError) -> [String] { try answer("replaceRecoveryCodes", ["x"]) }
    func completeSignIn(challenge: String, proof: SecondFactorProof, client: ClientContext) throws(AuthError) -> TokenPair {
        proofs.append((challenge, proof))
        return try answer("completeSignIn", Self.pair)
    }
    func reauthenticate(userID: String, sessionID: String, with: Reauthentication, client: ClientContext) throws(AuthError)
        -> AccessToken
    {
        try answer("reauthenticateWith", AccessToken(token: "fresh.access", expiresIn: 900))
    }
}

extension FakeDomain {
    static let passkey = PasskeyInfo(
        id: sessionID, name: "laptop", createdAt: now, lastUsedAt: nil, backupEligible: true, backupState: true, userVerified: true,
        transports: ["internal", "hybrid"], aaguid: [UInt8](repeating: 0, count: 16), algorithm: -7)
    static let options = JSON.object([("challenge", .string("AAAA")), ("rpId", .string("example.com"))])

    var passkeysAvailable: Bool { mfaAvailable }
    func passkeyRegistrationOptions(userID: String, sessionID: String) throws(AuthError) -> JSON {
        try requireStepUp(userID: userID, sessionID: sessionID, recent: true)
        return try answer("passkeyRegistrationOptions", Self.options)
    }
    func registerPasskey(userID: String, sessionID: String, response: JSON, name: String?) throws(AuthError) -> RegisteredPasskey {
        try answer(
            "registerPasskey(\(name ?? "-"))",
            RegisteredPasskey(
                passkey: Self.passkey, recoveryCodes: ["aaaa-bbbb-cccc-dddd"], accessToken: AccessToken(token: "aal2.access", expiresIn: 900)))
    }
    func passkeySignInOptions(email: String?) throws(AuthError) -> JSON { try answer("passkeySignInOptions(\(email ?? "-"))", Self.options) }
    func signInWithPasskey(response: JSON, client: ClientContext) throws(AuthError) -> TokenPair { try answer("signInWithPasskey", Self.pair) }
    func passkeyOptions(pendingSignIn token: String) throws(AuthError) -> JSON { try answer("passkeyOptions(\(token))", Self.options) }
    func passkeyReauthenticationOptions(userID: String, sessionID: String) throws(AuthError) -> JSON {
        try answer("passkeyReauthenticationOptions", Self.options)
    }
    func passkeys(of userID: String) throws(AuthError) -> [PasskeyInfo] { try answer("passkeys", [Self.passkey]) }
    func renamePasskey(id: String, of userID: String, to name: String?) throws(AuthError) -> Bool {
        try answer("renamePasskey(\(name ?? "-"))", id == Self.sessionID)
    }
    func removePasskey(id: String, of userID: String, sessionID: String) throws(AuthError) -> Bool {
        try requireStepUp(userID: userID, sessionID: sessionID, recent: true)
        return try answer("removePasskey", id == Self.sessionID)
    }
}

/// Access tokens for the fake: `good` is valid, `expired` has expired, anything else is refused.
struct FakeTokens: AccessTokenVerifying {
    static let claims = AccessClaims(
        userID: FakeDomain.user.id, email: FakeDomain.user.email, role: "user",
        sessionID: FakeDomain.sessionID, tokenID: "jti", expiresAt: FakeDomain.now)

    func verifyAccessToken(_ token: String) throws(AuthError) -> AccessClaims {
        switch token {
        case "good": return Self.claims
        case "verified":
            return AccessClaims(
                userID: Self.claims.userID, email: Self.claims.email, role: "user", emailVerified: true,
                sessionID: Self.claims.sessionID, tokenID: "jti", expiresAt: FakeDomain.now)
        case "aal2":
            return AccessClaims(
                userID: Self.claims.userID, email: Self.claims.email, role: "user", sessionID: Self.claims.sessionID, tokenID: "jti",
                expiresAt: FakeDomain.now, authTime: FakeDomain.now, methods: ["pwd", "otp"])
        case "soon":
            return AccessClaims(
                userID: Self.claims.userID, email: Self.claims.email, role: "user", sessionID: Self.claims.sessionID, tokenID: "jti",
                expiresAt: Date().addingTimeInterval(10.5))
        case "expired": throw AuthError.tokenExpired
        default: throw AuthError.invalidToken
        }
    }
}

/// A responder over the fake domain, with private metrics and captured logs.
struct HandlerHarness {
    let domain = FakeDomain()
    let logs = LogCapture()
    let metrics = ServiceMetrics(counters: .privateMemory(countersPerSlot: ServiceMetrics.countersPerSlot))
    let responder: AuthResponder

    init(env extra: [String: String] = [:]) throws {
        var env = [
            "DATABASE_URL": "mariadb://root@localhost/x", "JWT_AUTHD_LISTEN": "127.0.0.1:9000",
            "JWT_ACCESS_SECRET": String(repeating: "a", count: 32),
            "JWT_REFRESH_SECRET": String(repeating: "b", count: 32), "JWT_AUTHD_ENV": "development",
        ]
        env.merge(extra) { $1 }
        let config = try Config.load(sources: ConfigSources(environment: env))
        let context = AuthResponder.Context(
            http: config.http, accounts: domain, sessions: domain, apiKeys: domain, factors: domain, passkeys: domain, tokens: FakeTokens(),
            health: domain,
            jwks: nil, metrics: metrics, logger: Logger(label: "test", factory: { [logs] _ in logs }))
        responder = AuthResponder(context: context)
    }

    /// Sends a request: JSON body unless `form`, the access token as a Bearer header when given.
    func send(
        _ method: String, _ path: String, json: String? = nil, form: String? = nil, bearer: String? = nil,
        cookies: String? = nil, query: String = "", headers: [(String, String)] = []
    ) -> Response {
        var params: [(String, String)] = [
            ("REQUEST_METHOD", method), ("DOCUMENT_URI", path), ("QUERY_STRING", query),
            ("REMOTE_ADDR", "203.0.113.9"), ("HTTP_HOST", "auth.example.com"),
        ]
        var body: [UInt8] = []
        if let json {
            params.append(("CONTENT_TYPE", "application/json"))
            body = Array(json.utf8)
        } else if let form {
            params.append(("CONTENT_TYPE", "application/x-www-form-urlencoded"))
            body = Array(form.utf8)
        }
        if !body.isEmpty { params.append(("CONTENT_LENGTH", String(body.count))) }
        if let bearer { params.append(("HTTP_AUTHORIZATION", "Bearer \(bearer)")) }
        if let cookies { params.append(("HTTP_COOKIE", cookies)) }
        // A header given here replaces the default of the same name.
        params.removeAll { param in headers.contains { $0.0 == param.0 } }
        params += headers
        return responder.handle(Request(params: params, body: body))
    }

    /// The metrics text.
    var metricsText: String { String(decoding: metrics.render(), as: UTF8.self) }
}

extension Response {
    var text: String { String(decoding: body, as: UTF8.self) }
    func values(of name: String) -> [String] { headers.filter { $0.name == name }.map(\.value) }
    /// The `code` member of a JSON error body.
    var errorCode: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["code"] as? String
    }
}

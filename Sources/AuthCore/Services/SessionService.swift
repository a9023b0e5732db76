public import FoundationEssentials
import Logging

/// Login sessions and their refresh tokens: starting a session, rotation with reuse detection and a grace window,
/// revocation and the session list. One per thread (it owns the thread's stores).
public final class SessionService: SessionOperations {
    let settings: AuthSettings
    let issuer: TokenIssuer
    let database: Database
    let sessions: SessionStore
    let tokens: RefreshTokenStore
    let users: UserStore
    let apiKeys: APIKeyStore
    let clock: any AuthClock
    let logger: Logger

    /// Runs inside a rotation's transaction right after its conditional update, on the same database. Only for
    /// tests that force a deadlock or kill the connection at that point; `nil` in production.
    public var afterConditionalUpdateForTesting: ((Database) throws -> Void)?

    init(settings: AuthSettings, issuer: TokenIssuer, database: Database, clock: any AuthClock, logger: Logger) {
        self.settings = settings
        self.issuer = issuer
        self.database = database
        sessions = SessionStore(database: database)
        tokens = RefreshTokenStore(database: database)
        users = UserStore(database: database)
        apiKeys = APIKeyStore(database: database)
        self.clock = clock
        self.logger = logger
    }

    /// Sessions idle since before this instant have ended (the refresh token's idle lifetime).
    private func idleSince(_ now: Date) -> Date { now.addingTimeInterval(-settings.refreshTTL.timeInterval) }

    /// Starts a login session for `user`: a session record (the token family) with its absolute lifetime, and its
    /// first refresh token, in one transaction.
    public func startSession(for user: User, client: ClientContext) throws(AuthError) -> TokenPair {
        let now = clock.now()
        let sessionID = Identifier.make(at: now)
        let tokenID = Identifier.make(at: now)
        let sessionExpiry = now.addingTimeInterval(settings.sessionMaxAge.timeInterval)
        let tokenExpiry = min(now.addingTimeInterval(settings.refreshTTL.timeInterval), sessionExpiry)
        try database.transaction { _ throws(AuthError) in
            try sessions.insert(id: sessionID, userID: user.id, client: client, now: now, expiresAt: sessionExpiry)
            try tokens.insert(id: tokenID, userID: user.id, family: sessionID, expiresAt: tokenExpiry, now: now)
        }
        return try issuer.pair(
            user: user, sessionID: sessionID, tokenID: tokenID, issuedAt: now, expiresAt: tokenExpiry,
            now: now)
    }

    /// Whether a session exists, is not revoked, and is within its absolute and idle lifetimes. One indexed read.
    public func isSessionActive(_ sessionID: String) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(sessionID) else { return false }
        let now = clock.now()
        return try sessions.isActive(sessionID, now: now, idleSince: idleSince(now))
    }

    /// The user of an access token whose session is active, in one read (both tables by primary key): `GET
    /// /api/auth/me`'s common case. `nil` when the session is not active or the user is gone.
    public func activeSessionUser(sessionID: String, userID: String) throws(AuthError) -> User? {
        guard Identifier.isWellFormed(sessionID), Identifier.isWellFormed(userID) else { return nil }
        let now = clock.now()
        return try sessions.activeUser(session: sessionID, user: userID, now: now, idleSince: idleSince(now))
    }

    /// The user's active sessions, most recently used first.
    public func sessions(of userID: String) throws(AuthError) -> [Session] {
        let now = clock.now()
        return try sessions.active(of: userID, now: now, idleSince: idleSince(now))
    }

    // MARK: Revocation

    /// Logs out the session of a refresh token (idempotent: an invalid token does nothing).
    public func logout(refreshToken token: String) throws(AuthError) {
        guard let claims = try? issuer.verifyRefreshToken(token, now: clock.now()) else { return }
        try logout(sessionID: claims.family)
    }

    /// Revokes one session and its tokens (idempotent).
    public func logout(sessionID: String) throws(AuthError) {
        guard Identifier.isWellFormed(sessionID) else { return }
        let now = clock.now()
        try database.transaction { _ throws(AuthError) in try revokeFamily(sessionID, now: now) }
    }

    /// A session and its tokens, revoked (inside the caller's transaction).
    func revokeFamily(_ family: String, now: Date) throws(AuthError) {
        try sessions.revoke(family, now: now)
        try tokens.revokeFamily(family, now: now)
    }

    /// Revokes every session of a user, or every one but `keeping`, and with them every API key of the user unless
    /// `keepingAPIKeys`, in one transaction.
    ///
    /// - Returns: The number of sessions revoked.
    @discardableResult
    public func revokeAllSessions(of userID: String, keeping: String? = nil, keepingAPIKeys: Bool = false) throws(AuthError) -> Int {
        let now = clock.now()
        return try database.transaction { _ throws(AuthError) in
            try revokeAllInTransaction(of: userID, keeping: keeping, keepingAPIKeys: keepingAPIKeys, now: now)
        }
    }

    /// ``revokeAllSessions(of:keeping:keepingAPIKeys:)`` inside the caller's transaction.
    @discardableResult
    func revokeAllInTransaction(of userID: String, keeping: String?, keepingAPIKeys: Bool, now: Date) throws(AuthError) -> Int {
        let revoked = try sessions.revokeAll(of: userID, keeping: keeping ?? "", now: now)
        try tokens.revokeAll(of: userID, keeping: keeping ?? "", now: now)
        if !keepingAPIKeys { _ = try apiKeys.revokeAll(of: userID, now: now) }
        return revoked
    }

    /// Records that the session's user has just authenticated again (the password entered on this session).
    func recordAuthentication(sessionID: String, userID: String) throws(AuthError) {
        guard Identifier.isWellFormed(sessionID) else { return }
        try sessions.reauthenticated(sessionID, of: userID, now: clock.now())
    }

    /// When the user of an active session last authenticated (login, registration, the password again); `nil` for a
    /// session that is not active or not the user's.
    public func lastAuthentication(sessionID: String, userID: String) throws(AuthError) -> Date? {
        guard Identifier.isWellFormed(sessionID), Identifier.isWellFormed(userID) else { return nil }
        let now = clock.now()
        return try sessions.authTime(sessionID, of: userID, now: now, idleSince: idleSince(now))
    }

    /// Whether the session's user authenticated within `accounts.reauth_window` (what creating an API key needs).
    public func isRecentlyAuthenticated(sessionID: String, userID: String) throws(AuthError) -> Bool {
        guard let last = try lastAuthentication(sessionID: sessionID, userID: userID) else { return false }
        return clock.now().timeIntervalSince(last) <= settings.reauthWindow.timeInterval
    }

    /// Revokes one of the user's own sessions.
    ///
    /// - Returns: Whether such an active session existed (another user's session is never touched).
    @discardableResult
    public func revokeSession(_ sessionID: String, of userID: String) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(sessionID) else { return false }
        let now = clock.now()
        return try database.transaction { _ throws(AuthError) in
            let found = try sessions.revoke(sessionID, of: userID, now: now)
            if found { try tokens.revokeFamily(sessionID, now: now) }
            return found
        }
    }
}

import FoundationEssentials
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
    /// Runs after a rotation committed, before its commit is checked (which it turns on where it would not run: not
    /// on a Galera node). Only for tests that make the commit not hold; `nil` in production.
    public var afterRotationCommitForTesting: ((Database) throws -> Void)?

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
    ///
    /// - Parameters:
    ///   - methods: How the user authenticated (RFC 8176 `amr` values).
    ///   - recent: Whether this counts as a recent authentication for the sensitive routes (not after a password
    ///     reset by mail).
    public func startSession(
        for user: User, client: ClientContext, methods: [String] = ["pwd"], recent: Bool = true
    ) throws(AuthError) -> TokenPair {
        let started = newSession(for: user, methods: methods)
        // Re-run safe: the ids were made before; a rolled-back attempt inserted nothing.
        try database.transaction { _ throws(AuthError) in try insert(started, client: client, recent: recent) }
        return try pair(of: started)
    }

    /// A session about to start: its ids, lifetimes and authentication.
    struct NewSession {
        let user: User
        let sessionID: String
        let tokenID: String
        let sessionExpiry: Date
        let tokenExpiry: Date
        let authentication: Authentication
    }

    /// The ids and lifetimes of a session starting now.
    func newSession(for user: User, methods: [String]) -> NewSession {
        let now = clock.now()
        let sessionExpiry = now.addingTimeInterval(settings.sessionMaxAge.timeInterval)
        return NewSession(
            user: user, sessionID: Identifier.make(at: now), tokenID: Identifier.make(at: now), sessionExpiry: sessionExpiry,
            tokenExpiry: min(now.addingTimeInterval(settings.refreshTTL.timeInterval), sessionExpiry),
            authentication: Authentication(time: now, methods: methods))
    }

    /// The session's record and first refresh token (inside the caller's transaction).
    func insert(_ started: NewSession, client: ClientContext, recent: Bool) throws(AuthError) {
        let now = started.authentication.time
        try sessions.insert(
            id: started.sessionID, userID: started.user.id, client: client, now: now, expiresAt: started.sessionExpiry,
            methods: started.authentication.methods, recent: recent)
        try tokens.insert(id: started.tokenID, userID: started.user.id, family: started.sessionID, expiresAt: started.tokenExpiry, now: now)
    }

    /// The first token pair of a started session.
    func pair(of started: NewSession) throws(AuthError) -> TokenPair {
        let now = started.authentication.time
        return try issuer.pair(
            user: started.user, sessionID: started.sessionID, tokenID: started.tokenID, issuedAt: now, expiresAt: started.tokenExpiry,
            authentication: started.authentication, now: now)
    }

    /// Whether a session exists, is not revoked, and is within its absolute and idle lifetimes. One indexed read.
    public func isSessionActive(_ sessionID: String) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(sessionID) else { return false }
        let now = clock.now()
        // Causal: a session started through another node moments ago may not be applied here yet.
        return try database.causal { () throws(AuthError) -> Bool? in
            try sessions.isActive(sessionID, now: now, idleSince: idleSince(now)) ? true : nil
        } ?? false
    }

    /// The user of an access token whose session is active, in one read (both tables by primary key): `GET
    /// /api/auth/me`'s common case. `nil` when the session is not active or the user is gone.
    public func activeSessionUser(sessionID: String, userID: String) throws(AuthError) -> User? {
        guard Identifier.isWellFormed(sessionID), Identifier.isWellFormed(userID) else { return nil }
        let now = clock.now()
        return try database.causal { () throws(AuthError) in
            try sessions.activeUser(session: sessionID, user: userID, now: now, idleSince: idleSince(now))
        }
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
        // Re-run safe: revoking what is revoked changes nothing.
        try database.transaction { _ throws(AuthError) in try revokeFamily(sessionID, now: now) }
        try confirm(.session(sessionID), cutoff: now)
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
        // Re-run safe: revoking what is revoked changes nothing; the count is of this attempt.
        let revoked = try database.transaction { _ throws(AuthError) in
            try revokeAllInTransaction(of: userID, keeping: keeping, keepingAPIKeys: keepingAPIKeys, now: now)
        }
        try confirm(.user(userID, keeping: keeping, apiKeys: !keepingAPIKeys), cutoff: now)
        return revoked
    }

    /// ``revokeAllSessions(of:keeping:keepingAPIKeys:)`` inside the caller's transaction.
    @discardableResult
    func revokeAllInTransaction(of userID: String, keeping: String?, keepingAPIKeys: Bool, now: Date) throws(AuthError) -> Int {
        let revoked = try sessions.revokeAll(of: userID, keeping: keeping ?? "", now: now)
        try tokens.revokeAll(of: userID, keeping: keeping ?? "", now: now)
        if !keepingAPIKeys { _ = try apiKeys.revokeAll(of: userID, now: now) }
        return revoked
    }

    /// Records a new act of authentication on an active session of `userID` (the password or a code entered again):
    /// `auth_time` becomes now and `methods` join the session's. Returns the session's authentication, or `nil` when
    /// there is no such session. Re-runnable whole.
    @discardableResult
    func recordAuthentication(sessionID: String, userID: String, methods: [String]) throws(AuthError) -> Authentication? {
        guard Identifier.isWellFormed(sessionID) else { return nil }
        let now = clock.now()
        // Re-run safe: it sets the session's authentication from the locked row; the same end state once or twice.
        return try database.transaction { _ throws(AuthError) in
            guard let session = try sessions.lock(sessionID), session.userID == userID, !session.isRevoked, session.expiresAt > now else {
                return nil
            }
            let updated = session.authentication.adding(methods, at: now)
            try sessions.reauthenticated(sessionID, of: userID, methods: updated.methods, now: now)
            return updated
        }
    }

    /// A new access token for a session after ``recordAuthentication(sessionID:userID:methods:)`` (its refresh token
    /// stays).
    public func accessToken(for user: User, sessionID: String, authentication: Authentication) throws(AuthError) -> AccessToken {
        AccessToken(
            token: try issuer.accessToken(user: user, sessionID: sessionID, authentication: authentication, now: clock.now()),
            expiresIn: settings.accessTTL.wholeSeconds)
    }

    /// How an active session of `userID` authenticated (see ``SessionStore/authentication(_:of:now:idleSince:)``).
    func authenticationState(sessionID: String, userID: String) throws(AuthError) -> (recentAt: Date?, methods: [String])? {
        guard Identifier.isWellFormed(sessionID), Identifier.isWellFormed(userID) else { return nil }
        let now = clock.now()
        return try database.causal { () throws(AuthError) in
            try sessions.authentication(sessionID, of: userID, now: now, idleSince: idleSince(now))
        }
    }

    /// Whether an authentication at `time` is within `accounts.reauth_window` (`nil`: none that counts).
    func isRecent(_ time: Date?) -> Bool {
        guard let time else { return false }
        return clock.now().timeIntervalSince(time) <= settings.reauthWindow.timeInterval
    }

    /// Whether the session's user authenticated within `accounts.reauth_window` (login, registration, the password or
    /// a code again; never a reset by mail alone); `false` for a session that is not active or not the user's.
    public func isRecentlyAuthenticated(sessionID: String, userID: String) throws(AuthError) -> Bool {
        isRecent(try authenticationState(sessionID: sessionID, userID: userID)?.recentAt)
    }

    /// Revokes one of the user's own sessions.
    ///
    /// - Returns: Whether such an active session existed (another user's session is never touched).
    @discardableResult
    public func revokeSession(_ sessionID: String, of userID: String) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(sessionID) else { return false }
        let now = clock.now()
        // Re-run safe: revoking what is revoked changes nothing.
        let found = try database.transaction { _ throws(AuthError) in
            let found = try sessions.revoke(sessionID, of: userID, now: now)
            if found { try tokens.revokeFamily(sessionID, now: now) }
            return found
        }
        if found { try confirm(.session(sessionID), cutoff: now) }
        return found
    }
}

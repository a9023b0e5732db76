import FoundationEssentials
import JOSE
import Logging
import MariaDB

extension Auth {
    /// Starts a login session for `user`: a session record (the token family) with its absolute lifetime, and its
    /// first refresh token, in one transaction.
    public func startSession(for user: User, client: ClientContext) throws -> TokenPair {
        let now = clock.now()
        let sessionID = Identifier.make(at: now)
        let tokenID = Identifier.make(at: now)
        let sessionExpiry = now.addingTimeInterval(Double(settings.sessionMaxAge))
        let tokenExpiry = min(now.addingTimeInterval(Double(settings.refreshTTL)), sessionExpiry)
        try connection.transaction {
            try connection.execute("""
                INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [.string(sessionID), .string(user.id), .date(now), .date(now), .date(sessionExpiry),
                      client.userAgent.map { .string(String($0.prefix(512))) } ?? .null, .string(String(client.ip.prefix(45)))])
            try connection.execute("""
                INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at) VALUES (?, ?, ?, ?, ?)
                """, [.string(tokenID), .string(user.id), .string(sessionID), .date(tokenExpiry), .date(now)])
        }
        return try pair(user: user, sessionID: sessionID, tokenID: tokenID, issuedAt: now, expiresAt: tokenExpiry, now: now)
    }

    /// Rotates a refresh token: the presented token is retired and a successor issued, in one transaction.
    ///
    /// - A token already rotated is answered with the session's current pair (same refresh `jti`) when it is the
    ///   immediate predecessor of the active token and was rotated less than `tokens.refresh_grace` ago (tabs
    ///   refreshing at once). Otherwise it is reuse: the whole family is revoked (committed) and the call fails.
    /// - A deadlock, lock wait timeout or Galera certification failure runs the transaction again; if this request's
    ///   own conditional update had already succeeded before the conflict, finding the token rotated by the other
    ///   party is the race it is, not a replay, and gets the current pair.
    /// - A failure anywhere else rolls back: the presented token stays valid.
    ///
    /// - Throws: ``AuthError`` (`invalidToken`, `tokenExpired`, `tokenReused`, `sessionExpired`, `sessionRevoked`),
    ///   or ``MariaDBError`` when the database fails.
    public func refresh(_ token: String, client: ClientContext) throws -> TokenPair {
        let now = clock.now()
        let claims: VerifiedJWT
        do {
            claims = try settings.refreshVerifier.verify(token, now: now)
        } catch {
            throw error.code == .expired ? AuthError.tokenExpired : AuthError.invalidToken
        }
        guard let tokenID = claims.string("jti"), let family = claims.string("family"), let subject = claims.string("sub"),
              Identifier.isWellFormed(tokenID), Identifier.isWellFormed(family) else { throw AuthError.invalidToken }

        var wonBeforeConflict = false
        let outcome: RotationOutcome = try withTransactionRetry { _ in
            try rotate(tokenID: tokenID, family: family, subject: subject, client: client, now: now,
                       wonBeforeConflict: &wonBeforeConflict)
        }
        switch outcome {
        case .rotated(let pair), .grace(let pair):
            return pair
        case .reused(let userID):
            logger.warning("refresh token reuse detected; session revoked", metadata: [
                "event": "refresh_token_reuse", "user.id": "\(userID)", "session.id": "\(family)", "client.ip": "\(client.ip)",
            ])
            throw AuthError.tokenReused
        case .failed(let error):
            throw error
        }
    }

    enum RotationOutcome {
        case rotated(TokenPair)
        case grace(TokenPair)
        case reused(userID: String)
        case failed(AuthError)
    }

    /// One attempt, inside a transaction.
    private func rotate(tokenID: String, family: String, subject: String, client: ClientContext, now: Date,
                        wonBeforeConflict: inout Bool) throws -> RotationOutcome {
        // Lock the session first: every rotation of a family queues here, in one order (no deadlock between them).
        guard let session = try connection.query(HotPathSQL.lockSession, [.string(family)]).first,
              try session.string("user_id") == subject else {
            return .failed(.invalidToken)
        }
        if try session.optionalDate("revoked_at") != nil {
            // A retired token presented to a dead family is still reuse; a token that was active when the family was
            // revoked (logout, or an earlier reuse) is just revoked.
            let retired = try connection.query("SELECT 1 AS r FROM refresh_tokens WHERE id = ? AND replaced_by IS NOT NULL",
                                               [.string(tokenID)])
            return retired.isEmpty ? .failed(.sessionRevoked) : .reused(userID: subject)
        }
        let sessionExpiry = try session.date("expires_at")
        if sessionExpiry <= now { return .failed(.sessionExpired) }

        let successorID = Identifier.make(at: now)
        let updated = try connection.execute(HotPathSQL.retireToken, [
            .date(now), .date(now), .string(successorID), .string(tokenID), .string(family), .date(now),
        ]).affectedRows
        if updated == 1 {
            wonBeforeConflict = true
            try afterConditionalUpdateForTesting?(connection)
            let successorExpiry = min(now.addingTimeInterval(Double(settings.refreshTTL)), sessionExpiry)
            try connection.execute(HotPathSQL.insertToken, [
                .string(successorID), .string(subject), .string(family), .date(successorExpiry), .date(now),
            ])
            try touch(session: family, client: client, now: now)
            guard let user = try loadUser(subject) else { return .failed(.invalidToken) }
            return .rotated(try pair(user: user, sessionID: family, tokenID: successorID, issuedAt: now,
                                     expiresAt: successorExpiry, now: now))
        }

        // Not active: find out why.
        guard let presented = try connection.query("""
            SELECT revoked_at, rotated_at, replaced_by, expires_at FROM refresh_tokens WHERE id = ? AND family = ?
            """, [.string(tokenID), .string(family)]).first else { return .failed(.invalidToken) }
        guard let rotatedAt = try presented.optionalDate("rotated_at"), let successor = try presented.optionalString("replaced_by") else {
            // Revoked by a logout, or expired without being rotated.
            return .failed(try presented.optionalDate("revoked_at") == nil ? .tokenExpired : .sessionRevoked)
        }
        let withinGrace = settings.refreshGrace > 0 && now.timeIntervalSince(rotatedAt) < Double(settings.refreshGrace)
        if withinGrace || wonBeforeConflict,
           let active = try connection.query("""
               SELECT id, created_at, expires_at FROM refresh_tokens
               WHERE id = ? AND family = ? AND revoked_at IS NULL AND expires_at > ?
               """, [.string(successor), .string(family), .date(now)]).first {
            // The immediate predecessor of the active token, rotated moments ago: the session's current pair.
            guard let user = try loadUser(subject) else { return .failed(.invalidToken) }
            try touch(session: family, client: client, now: now)
            return .grace(try pair(user: user, sessionID: family, tokenID: try active.string("id"),
                                   issuedAt: try active.date("created_at"), expiresAt: try active.date("expires_at"),
                                   now: now, grace: true))
        }
        // Reuse of a retired token: revoke the whole family. The caller commits this and then fails the request.
        try revokeFamily(family, now: now)
        return .reused(userID: subject)
    }

    private func touch(session: String, client: ClientContext, now: Date) throws {
        try connection.execute(HotPathSQL.touchSession, [.date(now), .string(String(client.ip.prefix(45))),
                  client.userAgent.map { .string(String($0.prefix(512))) } ?? .null, .string(session)])
    }

    func loadUser(_ id: String) throws -> User? {
        try connection.query(HotPathSQL.loadUser, [.string(id)]).first.map(Auth.user(from:))
    }

    func revokeFamily(_ family: String, now: Date) throws {
        try connection.execute("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                               [.date(now), .string(family)])
        try connection.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                               [.date(now), .string(family)])
    }

    // MARK: Revocation

    /// Logs out the session of a refresh token (idempotent: an invalid token does nothing).
    public func logout(refreshToken token: String) throws {
        guard let claims = try? settings.refreshVerifier.verify(token, now: clock.now()), let family = claims.string("family"),
              Identifier.isWellFormed(family) else { return }
        try logout(sessionID: family)
    }

    /// Revokes one session and its tokens (idempotent).
    public func logout(sessionID: String) throws {
        guard Identifier.isWellFormed(sessionID) else { return }
        let now = clock.now()
        try withTransactionRetry { _ in try revokeFamily(sessionID, now: now) }
    }

    /// Revokes every session of a user, or every one but `keeping`.
    ///
    /// - Returns: The number of sessions revoked.
    @discardableResult
    public func revokeAllSessions(of userID: String, keeping: String? = nil) throws -> Int {
        let now = clock.now()
        return try withTransactionRetry { _ in
            let kept: DatabaseValue = keeping.map { .string($0) } ?? .string("")
            let revoked = try connection.execute("""
                UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id <> ?
                """, [.date(now), .string(userID), kept]).affectedRows
            try connection.execute("""
                UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND family <> ?
                """, [.date(now), .string(userID), kept])
            return revoked
        }
    }

    /// The user's active sessions, most recently used first.
    public func sessions(of userID: String) throws -> [Session] {
        let now = clock.now()
        return try connection.query("""
            SELECT id, created_at, last_used_at, expires_at, user_agent, ip FROM sessions
            WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?
            ORDER BY last_used_at DESC
            """, [.string(userID), .date(now), .date(now.addingTimeInterval(-Double(settings.refreshTTL)))]).map { row in
            Session(id: try row.string("id"), createdAt: try row.date("created_at"), lastUsedAt: try row.date("last_used_at"),
                    expiresAt: try row.date("expires_at"), userAgent: try row.optionalString("user_agent"),
                    ip: try row.optionalString("ip"))
        }
    }

    /// Revokes one of the user's own sessions.
    ///
    /// - Returns: Whether such an active session existed (another user's session is never touched).
    @discardableResult
    public func revokeSession(_ sessionID: String, of userID: String) throws -> Bool {
        guard Identifier.isWellFormed(sessionID) else { return false }
        let now = clock.now()
        return try withTransactionRetry { _ in
            let found = try connection.execute("""
                UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL
                """, [.date(now), .string(sessionID), .string(userID)]).affectedRows == 1
            if found {
                try connection.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                                       [.date(now), .string(sessionID)])
            }
            return found
        }
    }
}

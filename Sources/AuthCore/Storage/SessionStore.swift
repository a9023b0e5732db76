package import FoundationEssentials
import MariaDB

/// The `sessions` table: login sessions (token families), their lifetimes and last use. Owns every statement on
/// that table.
package struct SessionStore {
    let database: Database

    /// What a rotation needs of its session, read under a row lock.
    package struct Locked {
        package let userID: String
        package let expiresAt: Date
        package let isRevoked: Bool
        /// How and when its user last authenticated.
        package let authentication: Authentication
    }

    /// Inserts a session. `recent`: whether its authentication counts as recent for the sensitive routes (not after a
    /// password reset by mail: then `auth_time` stays empty until the user authenticates on it again).
    package func insert(
        id: String, userID: String, client: ClientContext, now: Date, expiresAt: Date, methods: [String], recent: Bool
    ) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip, auth_time, amr)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .string(id), .string(userID), .date(now), .date(now), .date(expiresAt),
                    client.userAgent.map { .string($0) } ?? .null, .string(client.ip), recent ? .date(now) : .null,
                    .string(Authentication(time: now, methods: methods).stored),
                ])
        }
    }

    /// How an active session of `userID` authenticated: its last recent authentication (`nil` after a reset by mail
    /// until its user authenticates again) and its methods; `nil` when there is no such session.
    package func authentication(_ id: String, of userID: String, now: Date, idleSince: Date) throws(AuthError) -> (
        recentAt: Date?, methods: [String]
    )? {
        try database.run { connection throws(MariaDBError) in
            guard
                let row = try connection.query(
                    """
                    SELECT auth_time, amr FROM sessions
                    WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?
                    """, [.string(id), .string(userID), .date(now), .date(idleSince)]
                ).first
            else { return nil }
            return (try row.optionalDate("auth_time"), Authentication.methods(stored: try row.string("amr")))
        }
    }

    /// Records a new act of authentication on the session: `auth_time` now, and its methods (idempotent).
    package func reauthenticated(_ id: String, of userID: String, methods: [String], now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE sessions SET auth_time = ?, amr = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                [.date(now), .string(Authentication(time: now, methods: methods).stored), .string(id), .string(userID)],
                idempotent: true)
        }
    }

    /// The session, locked for the rest of the transaction (every rotation of a family queues here, in one order).
    package func lock(_ id: String) throws(AuthError) -> Locked? {
        try database.run { connection throws(MariaDBError) in
            guard let row = try connection.query(HotPathSQL.lockSession, [.string(id)]).first else { return nil }
            return Locked(
                userID: try row.string("user_id"), expiresAt: try row.date("expires_at"),
                isRevoked: try row.optionalDate("revoked_at") != nil,
                authentication: Authentication(
                    time: try row.date("auth_time"), methods: Authentication.methods(stored: try row.string("amr"))))
        }
    }

    /// Whether the session exists, is not revoked and is within its absolute and idle lifetimes (one indexed read).
    package func isActive(_ id: String, now: Date, idleSince: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try !connection.query(HotPathSQL.sessionActive, [.string(id), .date(now), .date(idleSince)]).isEmpty
        }
    }

    /// The user of an active session, in one read (both tables by primary key).
    package func activeUser(session: String, user: String, now: Date, idleSince: Date) throws(AuthError) -> User? {
        try database.run { connection throws(MariaDBError) in
            try connection.query(HotPathSQL.activeSessionUser, [.string(session), .string(user), .date(now), .date(idleSince)])
                .first.map(UserStore.user(from:))
        }
    }

    /// A user's active sessions, most recently used first.
    package func active(of userID: String, now: Date, idleSince: Date) throws(AuthError) -> [Session] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                """
                SELECT id, created_at, last_used_at, expires_at, user_agent, ip FROM sessions
                WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?
                ORDER BY last_used_at DESC
                """, [.string(userID), .date(now), .date(idleSince)]
            ).map { row throws(MariaDBError) in
                Session(
                    id: try row.string("id"), createdAt: try row.date("created_at"),
                    lastUsedAt: try row.date("last_used_at"), expiresAt: try row.date("expires_at"),
                    userAgent: try row.optionalString("user_agent"), ip: try row.optionalString("ip"))
            }
        }
    }

    /// Revokes one session (if not yet revoked).
    package func revoke(_ id: String, now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                [.date(now), .string(id)])
        }
    }

    /// Revokes one session of a user. Returns whether an active one was found (another user's is never touched).
    package func revoke(_ id: String, of userID: String, now: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL
                """, [.date(now), .string(id), .string(userID)]
            ).affectedRows == 1
        }
    }

    /// The ids of the user's sessions but `keeping` that are not revoked and were created at or before `cutoff`: what a
    /// revocation at `cutoff` should have ended, read back after its commit.
    package func unrevoked(of userID: String, keeping: String, createdBy cutoff: Date) throws(AuthError) -> [String] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                "SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND id <> ? AND created_at <= ?",
                [.string(userID), .string(keeping), .date(cutoff)]
            ).map { row throws(MariaDBError) in try row.string("id") }
        }
    }

    /// Whether a session is not revoked (`false` too when there is no such session).
    package func isUnrevoked(_ id: String) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try !connection.query("SELECT id FROM sessions WHERE id = ? AND revoked_at IS NULL", [.string(id)]).isEmpty
        }
    }

    /// Revokes every session of a user but `keeping` (`""`: none kept). Returns how many were revoked.
    package func revokeAll(of userID: String, keeping: String, now: Date) throws(AuthError) -> Int {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id <> ?
                """, [.date(now), .string(userID), .string(keeping)]
            ).affectedRows
        }
    }
}

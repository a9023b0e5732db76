package import FoundationEssentials
import MariaDB

/// The `refresh_tokens` table: each refresh token of a session, its rotation and revocation. Owns every statement
/// on that table.
package struct RefreshTokenStore {
    let database: Database

    /// A token's rotation state, to tell a grace replay from reuse.
    package struct State {
        package let revokedAt: Date?
        package let rotatedAt: Date?
        package let replacedBy: String?
        package let expiresAt: Date
    }

    /// An active token of a family.
    package struct Active {
        package let id: String
        package let createdAt: Date
        package let expiresAt: Date
    }

    /// Inserts a token; `replaces`: the token it succeeds (`nil` for a session's first).
    ///
    /// A second successor of one token is refused by the unique key on `replaces` (two rotations that both got past
    /// the conditional update, which only a bug or a replication anomaly could allow): it fails as a conflict, so the
    /// rotation's transaction runs again and finds the token rotated.
    package func insert(id: String, userID: String, family: String, expiresAt: Date, now: Date, replaces: String? = nil)
        throws(AuthError)
    {
        do {
            try database.run { connection throws(MariaDBError) in
                try connection.execute(
                    HotPathSQL.insertToken,
                    [
                        .string(id), .string(userID), .string(family), .date(expiresAt), .date(now),
                        replaces.map { .string($0) } ?? .null,
                    ])
            }
        } catch  where replaces != nil && error.storage?.kind == .duplicateKey {
            throw AuthError(
                .databaseUnavailable, "Service temporarily unavailable", internalCause: "second successor of a refresh token",
                storage: StorageFailure(kind: .conflict, errno: error.storage?.errno ?? 0))
        }
    }

    /// Retires a token in favour of `successor`, only if it is still active, and records the use of its session by
    /// `client` in the same statement: whether the token was active (the race's decider). A retired token row
    /// always changes (its `revoked_at` was NULL), so one changed row or two mean it was.
    package func retire(_ id: String, family: String, successor: String, client: ClientContext, now: Date) throws(AuthError)
        -> Bool
    {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                HotPathSQL.retireToken,
                [
                    .date(now), .date(now), .string(successor), .date(now), .string(client.ip),
                    client.userAgent.map { .string($0) } ?? .null, .string(id), .string(family), .date(now),
                ]
            ).affectedRows >= 1
        }
    }

    /// A token's rotation state, or `nil` when the family has no such token.
    package func state(of id: String, family: String) throws(AuthError) -> State? {
        try database.run { connection throws(MariaDBError) in
            guard
                let row = try connection.query(
                    """
                    SELECT revoked_at, rotated_at, replaced_by, expires_at FROM refresh_tokens WHERE id = ? AND family = ?
                    """, [.string(id), .string(family)]
                ).first
            else { return nil }
            return State(
                revokedAt: try row.optionalDate("revoked_at"), rotatedAt: try row.optionalDate("rotated_at"),
                replacedBy: try row.optionalString("replaced_by"), expiresAt: try row.date("expires_at"))
        }
    }

    /// Whether a token was rotated (has a successor): presenting it again is reuse.
    package func wasRotated(_ id: String) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try !connection.query(
                "SELECT 1 AS r FROM refresh_tokens WHERE id = ? AND replaced_by IS NOT NULL",
                [.string(id)]
            ).isEmpty
        }
    }

    /// The token `id` of `family` if it is still active.
    package func active(_ id: String, family: String, now: Date) throws(AuthError) -> Active? {
        try database.run { connection throws(MariaDBError) in
            guard
                let row = try connection.query(
                    """
                    SELECT id, created_at, expires_at FROM refresh_tokens
                    WHERE id = ? AND family = ? AND revoked_at IS NULL AND expires_at > ?
                    """, [.string(id), .string(family), .date(now)]
                ).first
            else { return nil }
            return Active(
                id: try row.string("id"), createdAt: try row.date("created_at"),
                expiresAt: try row.date("expires_at"))
        }
    }

    /// Revokes `id`, a successor whose rotation a Galera node answered as committed while the presented token's
    /// `replaced_by` names another (its only possible predecessor leads elsewhere), never handed out. Whether its row
    /// exists depends on how the commit was lost; if it does, it must not stay a second live token of the family.
    /// Re-runnable: one conditional statement.
    package func revokeOrphan(_ id: String, family: String, now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE id = ? AND family = ? AND revoked_at IS NULL",
                [.date(now), .string(id), .string(family)], idempotent: true)
        }
    }

    /// Revokes every active token of a family.
    package func revokeFamily(_ family: String, now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                [.date(now), .string(family)])
        }
    }

    /// Revokes every active token of a user but those of the family `keeping` (`""`: none kept).
    package func revokeAll(of userID: String, keeping: String, now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND family <> ?
                """, [.date(now), .string(userID), .string(keeping)])
        }
    }
}

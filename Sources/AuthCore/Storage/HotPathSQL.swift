/// The statements of the busiest routes (refresh, me, the session check, login's throttles), named so that a test
/// can `EXPLAIN` the very text the service runs and prove every one is an index lookup
/// (Tests/AuthCoreTests/QueryPlanTests.swift).
package enum HotPathSQL {
    /// Refresh: the session row, locked first (every rotation of a family queues here, in one order).
    package static let lockSession = """
        SELECT user_id, expires_at, revoked_at, COALESCE(auth_time, created_at) AS auth_time, amr FROM sessions WHERE id = ? FOR UPDATE
        """
    /// Refresh: retire the presented token, only if it is still active (the conditional update decides the race),
    /// and record the session's use, in one statement: one round trip fewer than two (measured in bench/README.md,
    /// "Refresh in fewer round trips"). The session row is locked by then (lockSession); with no active token the
    /// join matches nothing and nothing changes.
    package static let retireToken = """
        UPDATE refresh_tokens t JOIN sessions s ON s.id = t.family
        SET t.revoked_at = ?, t.rotated_at = ?, t.replaced_by = ?,
            s.last_used_at = ?, s.ip = ?, s.user_agent = COALESCE(?, s.user_agent)
        WHERE t.id = ? AND t.family = ? AND t.revoked_at IS NULL AND t.expires_at > ?
        """
    /// Refresh: the successor (`replaces`: the token it succeeds, unique; `NULL` for a session's first token).
    package static let insertToken = """
        INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at, replaces) VALUES (?, ?, ?, ?, ?, ?)
        """
    /// Refresh: the user the new access token describes.
    package static let loadUser = "SELECT \(UserStore.columns) FROM users u WHERE u.id = ?"
    /// Me: the user of an active session, in one read.
    package static let activeSessionUser = """
        SELECT \(UserStore.columns) FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_used_at > ?
        """
    /// A refused attempt's throttle window (a flood of refused logins runs it once per attempt): one primary-key
    /// lookup.
    package static let throttleWindow = "SELECT window_start FROM auth_throttle WHERE scope = ? AND subject = ?"
    /// Routes that act on the session: is it still active?
    package static let sessionActive = """
        SELECT 1 AS active FROM sessions
        WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?
        """
}

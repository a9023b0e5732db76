package import FoundationEssentials
import MariaDB

/// The `mfa_challenges` table: sign-ins whose password (or reset link) was right and that wait for a second factor.
/// Stored by the SHA-256 of the `mfa_pending` cookie's token (never the token). Owns every statement on that table.
package struct MFAChallengeStore {
    let database: Database

    /// What a challenge is for: a login, or a password reset (whose session never counts as recent authentication).
    package enum Purpose: String, Sendable {
        case login
        case reset
    }

    /// A challenge whose attempt was reserved.
    package struct Reserved {
        package let userID: String
        package let purpose: Purpose
        /// The methods already used (the password).
        package let methods: [String]
    }

    /// Inserts a challenge bound to the account's epoch (a password set meanwhile voids it).
    package func insert(
        digest: [UInt8], userID: String, purpose: Purpose, methods: [String], epoch: Int64, now: Date, expiresAt: Date
    ) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                INSERT INTO mfa_challenges (token_hash, user_id, purpose, methods, bound_epoch, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .bytes(digest), .string(userID), .string(purpose.rawValue),
                    .string(Authentication(time: now, methods: methods).stored), .int(epoch), .date(now), .date(expiresAt),
                ])
        }
    }

    /// Counts one attempt on a live challenge before its code is checked: one conditional update, so that of any
    /// number of concurrent guesses at most `limit` are ever checked. `nil` when the challenge is unknown, used,
    /// expired, outlived by a password change, or out of attempts.
    package func reserveAttempt(digest: [UInt8], limit: Int, now: Date) throws(AuthError) -> Reserved? {
        // Causal: the challenge was written by the login, maybe through another node moments ago.
        try database.causal { () throws(AuthError) in try reserveAttemptOnce(digest: digest, limit: limit, now: now) }
    }

    private func reserveAttemptOnce(digest: [UInt8], limit: Int, now: Date) throws(AuthError) -> Reserved? {
        try database.run { connection throws(MariaDBError) in
            let updated = try connection.execute(
                """
                UPDATE mfa_challenges c JOIN users u ON u.id = c.user_id SET c.attempts = c.attempts + 1
                WHERE c.token_hash = ? AND c.completed_at IS NULL AND c.expires_at > ? AND c.attempts < ?
                    AND c.bound_epoch = u.auth_epoch
                """, [.bytes(digest), .date(now), .int(Int64(limit))])
            guard updated.affectedRows == 1,
                let row = try connection.query(
                    "SELECT user_id, purpose, methods FROM mfa_challenges WHERE token_hash = ?", [.bytes(digest)]
                ).first,
                let purpose = Purpose(rawValue: try row.string("purpose"))
            else { return nil }
            return Reserved(
                userID: try row.string("user_id"), purpose: purpose, methods: Authentication.methods(stored: try row.string("methods")))
        }
    }

    /// The user of a live challenge (not completed, not expired, not outlived by a password change, attempts left),
    /// without counting an attempt: for the options of a passkey answer.
    package func liveUser(digest: [UInt8], limit: Int, now: Date) throws(AuthError) -> String? {
        try database.causal { () throws(AuthError) in try liveUserOnce(digest: digest, limit: limit, now: now) }
    }

    private func liveUserOnce(digest: [UInt8], limit: Int, now: Date) throws(AuthError) -> String? {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                """
                SELECT c.user_id FROM mfa_challenges c JOIN users u ON u.id = c.user_id
                WHERE c.token_hash = ? AND c.completed_at IS NULL AND c.expires_at > ? AND c.attempts < ? AND c.bound_epoch = u.auth_epoch
                """, [.bytes(digest), .date(now), .int(Int64(limit))]
            ).first?.string("user_id")
        }
    }

    /// Completes a challenge (inside the transaction that starts its session): whether this call did (of two
    /// concurrent right codes only one signs in; through two Galera nodes, the one whose `claim` the row keeps:
    /// ``claim(of:)`` after the commit).
    package func complete(digest: [UInt8], now: Date, claim: Claim) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE mfa_challenges SET completed_at = ?, claim = ? WHERE token_hash = ? AND completed_at IS NULL AND expires_at > ?",
                [.date(now), .bytes(claim.bytes), .bytes(digest), .date(now)]
            ).affectedRows == 1
        }
    }

    /// The claim of the completion the challenge's row holds (`nil`: none, or no such row).
    package func claim(of digest: [UInt8]) throws(AuthError) -> [UInt8]? {
        try database.run { connection throws(MariaDBError) in
            try connection.query("SELECT claim FROM mfa_challenges WHERE token_hash = ?", [.bytes(digest)]).first?.optionalBytes("claim")
        }
    }
}

package import FoundationEssentials
import MariaDB

/// The `one_time_tokens` table: single-use tokens sent by mail, by the SHA-256 of the token (never the token), with
/// their purpose, user, expiry and what they are bound to. Owns every statement on that table. Every method runs on
/// the caller's connection, so that a service can put it in one transaction with the mail that carries the token.
package struct OneTimeTokenStore {
    let database: Database

    /// What a token is for.
    package enum Purpose: String, Sendable {
        case passwordReset = "reset"
        case emailVerification = "verify"
        case emailChange = "email_change"
    }

    /// A consumed token: its purpose, its user and the address it was bound to.
    package struct Consumed {
        package let purpose: Purpose
        package let userID: String
        package let email: String?
    }

    /// Retires the user's unconsumed tokens of `purpose` (a new request invalidates the older ones), then inserts
    /// the new one. `epoch`: the token dies when the account's authentication epoch moves on (a password set by any
    /// other means); `email`: the address it was sent to. `newAccount`: a user created in this transaction has no
    /// older token, so the retiring UPDATE is skipped: finding no row, it would take a gap lock at the end of the
    /// user index (where every new time-ordered id lands), and concurrent registrations would deadlock on each
    /// other's inserts into that gap.
    package func replace(
        digest: [UInt8], purpose: Purpose, userID: String, epoch: Int64?, email: String?, now: Date, expiresAt: Date,
        newAccount: Bool = false
    ) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            if !newAccount {
                try connection.execute(
                    "UPDATE one_time_tokens SET consumed_at = ? WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL",
                    [.date(now), .string(userID), .string(purpose.rawValue)])
            }
            try connection.execute(
                """
                INSERT INTO one_time_tokens (token_hash, purpose, user_id, bound_epoch, bound_email, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .bytes(digest), .string(purpose.rawValue), .string(userID), epoch.map { .int($0) } ?? .null,
                    email.map { .string($0) } ?? .null, .date(now), .date(expiresAt),
                ])
        }
    }

    /// Consumes a token: one conditional update, so that of two concurrent posts of one token only one can win (the
    /// other updates nothing, or on a multi-writer cluster fails certification and, run again, finds it consumed;
    /// where both answer OK through two nodes, the row keeps the `claim` of one of them: ``claim(of:)``). A token
    /// that is unknown, of another purpose, used, expired, or whose binding no longer holds (the epoch moved on)
    /// consumes nothing: `nil`. A verification token works only while the account still has the address it was sent
    /// to.
    package func consume(digest: [UInt8], purposes: [Purpose], now: Date, claim: Claim) throws(AuthError) -> Consumed? {
        precondition(!purposes.isEmpty && purposes.count <= 3)
        let marks = Array(repeating: "?", count: purposes.count).joined(separator: ", ")
        return try database.run { connection throws(MariaDBError) in
            let updated = try connection.execute(
                """
                UPDATE one_time_tokens t JOIN users u ON u.id = t.user_id SET t.consumed_at = ?, t.claim = ?
                WHERE t.token_hash = ? AND t.purpose IN (\(marks)) AND t.consumed_at IS NULL AND t.expires_at > ?
                    AND (t.bound_epoch IS NULL OR t.bound_epoch = u.auth_epoch)
                    AND (t.purpose <> 'verify' OR t.bound_email = u.email)
                """,
                [.date(now), .bytes(claim.bytes), .bytes(digest)] + purposes.map { .string($0.rawValue) } + [.date(now)])
            guard updated.affectedRows == 1 else { return nil }
            guard
                let row = try connection.query(
                    "SELECT purpose, user_id, bound_email FROM one_time_tokens WHERE token_hash = ?", [.bytes(digest)]
                ).first,
                let purpose = Purpose(rawValue: try row.string("purpose"))
            else { return nil }
            return Consumed(purpose: purpose, userID: try row.string("user_id"), email: try row.optionalString("bound_email"))
        }
    }

    /// The claim of the consumption the token's row holds (`nil`: none, or no such row).
    package func claim(of digest: [UInt8]) throws(AuthError) -> [UInt8]? {
        try database.run { connection throws(MariaDBError) in
            try connection.query("SELECT claim FROM one_time_tokens WHERE token_hash = ?", [.bytes(digest)]).first?.optionalBytes("claim")
        }
    }

    /// Gives a consumed token back (its consumption's work failed after it): only while it holds `claim`.
    package func release(digest: [UInt8], claim: Claim) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE one_time_tokens SET consumed_at = NULL, claim = NULL WHERE token_hash = ? AND claim = ?",
                [.bytes(digest), .bytes(claim.bytes)])
        }
    }

    /// Retires every unused token of the user (its address changed: links sent to the old one must die).
    package func retireAll(of userID: String, now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE one_time_tokens SET consumed_at = ? WHERE user_id = ? AND consumed_at IS NULL", [.date(now), .string(userID)])
        }
    }
}

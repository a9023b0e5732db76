package import FoundationEssentials
import MariaDB

/// The `mfa_factors` and `mfa_recovery_codes` tables (#17). Owns every statement on them. Secrets arrive sealed: this
/// store never sees a factor's secret in the clear.
package struct FactorStore {
    let database: Database

    /// One factor row.
    package struct Factor: Sendable, Equatable {
        package let id: String
        package let userID: String
        package let kind: String
        package let name: String?
        package let status: String
        package let keyID: String?
        package let secret: [UInt8]?
        package let lastStep: Int64?
        package let createdAt: Date
        package let lastUsedAt: Date?
    }

    private static let columns = "id, user_id, kind, name, status, key_id, secret, last_step, created_at, last_used_at"

    /// A new pending factor, replacing the user's other pending ones of its kind (a new enrolment replaces an
    /// unconfirmed one). Inside the caller's transaction.
    package func insertPending(
        id: String, userID: String, kind: String, name: String?, keyID: String, secret: [UInt8], now: Date, expiresAt: Date
    ) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "DELETE FROM mfa_factors WHERE user_id = ? AND kind = ? AND status = 'pending'", [.string(userID), .string(kind)])
            try connection.execute(
                """
                INSERT INTO mfa_factors (id, user_id, kind, name, status, key_id, secret, created_at, expires_at)
                VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)
                """,
                [
                    .string(id), .string(userID), .string(kind), name.map { .string($0) } ?? .null, .string(keyID), .bytes(secret),
                    .date(now), .date(expiresAt),
                ])
        }
    }

    /// The user's pending factor of `kind` that has not expired.
    package func pending(userID: String, kind: String, now: Date) throws(AuthError) -> Factor? {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                "SELECT \(Self.columns) FROM mfa_factors WHERE user_id = ? AND kind = ? AND status = 'pending' AND expires_at > ?",
                [.string(userID), .string(kind), .date(now)]
            ).first.map { row throws(MariaDBError) in try Self.factor(from: row) }
        }
    }

    /// The user's active factors, oldest first.
    package func active(userID: String) throws(AuthError) -> [Factor] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                "SELECT \(Self.columns) FROM mfa_factors WHERE user_id = ? AND status = 'active' ORDER BY created_at, id",
                [.string(userID)]
            ).map { row throws(MariaDBError) in try Self.factor(from: row) }
        }
    }

    /// Activates a pending factor whose code was just checked at `step` (a conditional update: still pending, not
    /// expired). Returns whether it did; through two Galera nodes, the activation kept is the one whose `claim` the
    /// row holds (``activationClaim(of:)`` after the commit: a column of its own, which the code uses after it never
    /// touch).
    package func activate(id: String, userID: String, step: Int64, now: Date, claim: Claim) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE mfa_factors SET status = 'active', confirmed_at = ?, last_step = ?, activation_claim = ?, last_used_at = ?,
                    expires_at = NULL
                WHERE id = ? AND user_id = ? AND status = 'pending' AND expires_at > ?
                """, [.date(now), .int(step), .bytes(claim.bytes), .date(now), .string(id), .string(userID), .date(now)]
            ).affectedRows == 1
        }
    }

    /// Records the use of a code's step: only when it is newer than the last one used (a conditional update, so two
    /// hosts given one code at once accept it once; on a Galera node the use is read back after its commit, since
    /// through two nodes both updates can answer OK: this use held when the row keeps its claim, or has moved on to
    /// a later step meanwhile, a later code's use, which a replay of this one never is). Returns whether this use
    /// won. Outside any transaction.
    package func recordStep(id: String, step: Int64, now: Date) throws(AuthError) -> Bool {
        let claim = Claim()
        let won = try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE mfa_factors SET last_step = ?, step_claim = ?, last_used_at = ?
                WHERE id = ? AND status = 'active' AND (last_step IS NULL OR last_step < ?)
                """, [.int(step), .bytes(claim.bytes), .date(now), .string(id), .int(step)]
            ).affectedRows == 1
        }
        guard won else { return false }
        return try database.keeps("totp_step") { () throws(AuthError) in
            try database.run { connection throws(MariaDBError) in
                guard let row = try connection.query("SELECT step_claim, last_step FROM mfa_factors WHERE id = ?", [.string(id)]).first
                else { return false }
                let stored = try row.optionalBytes("step_claim")
                let lastStep = try row.optionalInt("last_step")
                return stored == claim.bytes || (lastStep ?? .min) > step
            }
        }
    }

    /// The claim of the activation the factor's row holds (`nil`: none, or no such row).
    package func activationClaim(of id: String) throws(AuthError) -> [UInt8]? {
        try database.run { connection throws(MariaDBError) in
            try connection.query("SELECT activation_claim FROM mfa_factors WHERE id = ?", [.string(id)]).first?
                .optionalBytes("activation_claim")
        }
    }

    /// The kinds of the user's active factors (no secret read), in a fixed order.
    package func activeKinds(userID: String) throws(AuthError) -> [String] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                "SELECT DISTINCT kind FROM mfa_factors WHERE user_id = ? AND status = 'active' ORDER BY kind", [.string(userID)]
            ).map { row throws(MariaDBError) in try row.string("kind") }
        }
    }

    /// How many active factors the user has.
    package func activeCount(userID: String) throws(AuthError) -> Int {
        try database.run { connection throws(MariaDBError) in
            Int(
                try connection.query(
                    "SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id = ? AND status = 'active'", [.string(userID)]
                ).first?.int("n") ?? 0)
        }
    }

    /// Deletes the user's recovery codes when no active factor is left (inside the transaction that removed one).
    package func dropRecoveryCodesWithoutFactors(userID: String) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                DELETE FROM mfa_recovery_codes WHERE user_id = ?
                    AND NOT EXISTS (SELECT 1 FROM mfa_factors WHERE user_id = ? AND status = 'active')
                """, [.string(userID), .string(userID)])
        }
    }

    /// Deletes every factor of the user (any status) and the recovery codes. Returns how many active ones there were.
    package func deleteAll(userID: String) throws(AuthError) -> Int {
        try database.run { connection throws(MariaDBError) in
            let active =
                try connection.query(
                    "SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id = ? AND status = 'active'", [.string(userID)]
                ).first?.int("n") ?? 0
            try connection.execute("DELETE FROM mfa_factors WHERE user_id = ?", [.string(userID)])
            try connection.execute("DELETE FROM mfa_recovery_codes WHERE user_id = ?", [.string(userID)])
            return Int(active)
        }
    }

    /// Deletes one factor of the user. Returns whether it existed.
    package func delete(id: String, userID: String) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute("DELETE FROM mfa_factors WHERE id = ? AND user_id = ?", [.string(id), .string(userID)]).affectedRows == 1
        }
    }

    /// Up to `limit` factors after the id `cursor` whose secret is sealed under another key than `keyID` (for
    /// re-sealing, page by page: a row that cannot be re-sealed does not hold the next ones up).
    package func sealedUnderOtherKeys(than keyID: String, after cursor: String, limit: Int) throws(AuthError) -> [Factor] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                "SELECT \(Self.columns) FROM mfa_factors WHERE secret IS NOT NULL AND key_id <> ? AND id > ? ORDER BY id LIMIT ?",
                [.string(keyID), .string(cursor), .int(Int64(limit))]
            ).map { row throws(MariaDBError) in try Self.factor(from: row) }
        }
    }

    /// Stores a secret re-sealed under `newKeyID`, only if the row is still sealed under `oldKeyID` (another host
    /// rotating at the same time, or a factor removed meanwhile, leaves it alone). Returns whether it did.
    package func reseal(id: String, from oldKeyID: String, to newKeyID: String, secret: [UInt8]) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE mfa_factors SET key_id = ?, secret = ? WHERE id = ? AND key_id = ?",
                [.string(newKeyID), .bytes(secret), .string(id), .string(oldKeyID)]
            ).affectedRows == 1
        }
    }

    /// Replaces the user's recovery codes (by their keyed digests). Inside the caller's transaction.
    package func replaceRecoveryCodes(userID: String, digests: [[UInt8]], now: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute("DELETE FROM mfa_recovery_codes WHERE user_id = ?", [.string(userID)])
            for digest in digests {
                try connection.execute(
                    "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
                    [.string(userID), .bytes(digest), .date(now)])
            }
        }
    }

    /// Uses a recovery code once (a conditional update, read back after its commit on a Galera node as
    /// ``recordStep(id:step:now:)`` is). Returns whether it was unused and this call used it. Outside any transaction.
    package func useRecoveryCode(userID: String, digest: [UInt8], now: Date) throws(AuthError) -> Bool {
        let claim = Claim()
        let won = try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE mfa_recovery_codes SET used_at = ?, claim = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
                [.date(now), .bytes(claim.bytes), .string(userID), .bytes(digest)]
            ).affectedRows == 1
        }
        guard won else { return false }
        return try database.keeps(claim, "recovery_code") { () throws(AuthError) in
            try database.run { connection throws(MariaDBError) in
                try connection.query(
                    "SELECT claim FROM mfa_recovery_codes WHERE user_id = ? AND code_hash = ?", [.string(userID), .bytes(digest)]
                ).first?.optionalBytes("claim")
            }
        }
    }

    /// Puts an activation back to pending (its recovery codes could not be stored): only while it holds `claim`.
    package func deactivate(id: String, claim: Claim, expiresAt: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE mfa_factors SET status = 'pending', confirmed_at = NULL, activation_claim = NULL, expires_at = ?
                WHERE id = ? AND status = 'active' AND activation_claim = ?
                """, [.date(expiresAt), .string(id), .bytes(claim.bytes)])
        }
    }

    /// How many unused recovery codes the user has.
    package func recoveryCodesLeft(userID: String) throws(AuthError) -> Int {
        try database.run { connection throws(MariaDBError) in
            Int(
                try connection.query(
                    "SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL", [.string(userID)]
                ).first?.int("n") ?? 0)
        }
    }

    static func factor(from row: Row) throws(MariaDBError) -> Factor {
        Factor(
            id: try row.string("id"), userID: try row.string("user_id"), kind: try row.string("kind"),
            name: try row.optionalString("name"), status: try row.string("status"), keyID: try row.optionalString("key_id"),
            secret: try row.optionalBytes("secret"), lastStep: try row.optionalInt("last_step"),
            createdAt: try row.date("created_at"), lastUsedAt: try row.optionalDate("last_used_at"))
    }
}

import CryptoPrimitives
package import FoundationEssentials
import MariaDB

/// The `passkeys` and `webauthn_challenges` tables and the users' WebAuthn handles (#18). Owns every statement on
/// them. A passkey is also a row of `mfa_factors` (kind `passkey`, no secret): its name, status and use times live
/// there, so that the factor list, removal and an administrator's reset treat it like any factor.
package struct PasskeyStore {
    let database: Database

    /// One stored passkey with its factor's name and times.
    package struct Passkey: Sendable, Equatable {
        package let factorID: String
        package let userID: String
        package let credentialID: [UInt8]
        package let publicKey: [UInt8]
        package let algorithm: Int64
        package let signCount: UInt32
        package let backupEligible: Bool
        package let backupState: Bool
        package let userVerified: Bool
        package let transports: [String]
        package let aaguid: [UInt8]
        package let attestationFormat: String
        package let name: String?
        package let createdAt: Date
        package let lastUsedAt: Date?
    }

    /// What a new passkey stores.
    package struct NewPasskey: Sendable {
        package let factorID: String
        package let userID: String
        package let name: String?
        package let credentialID: [UInt8]
        package let publicKey: [UInt8]
        package let algorithm: Int64
        package let signCount: UInt32
        package let backupEligible: Bool
        package let backupState: Bool
        package let userVerified: Bool
        package let transports: [String]
        package let aaguid: [UInt8]
        package let attestationFormat: String
    }

    private static let columns = """
        p.factor_id, p.user_id, p.credential_id, p.public_key, p.algorithm, p.sign_count, p.backup_eligible, p.backup_state,
        p.user_verified, p.transports, p.aaguid, p.attestation_format, f.name, f.created_at, f.last_used_at
        """

    // MARK: User handles

    /// The user's WebAuthn user handle, made (32 random bytes) on first use. Re-runnable: a conditional update, then a
    /// read of whichever handle won. On a Galera node that read is causal: two first uses through two nodes can both
    /// commit their handle, and the cluster keeps the one ordered last; the causal read finds it whenever it was
    /// ordered before the read (a racing first use ordered after it would still make this answer stale).
    package func handle(userID: String) throws(AuthError) -> [UInt8]? {
        try database.run { connection throws(MariaDBError) in
            if let handle = try connection.query("SELECT webauthn_handle FROM users WHERE id = ?", [.string(userID)]).first?
                .optionalBytes("webauthn_handle")
            {
                return handle
            }
            try connection.execute(
                "UPDATE users SET webauthn_handle = ? WHERE id = ? AND webauthn_handle IS NULL", [.bytes(Random.bytes(32)), .string(userID)])
            return try connection.withCausalReads { () throws(MariaDBError) in
                try connection.query("SELECT webauthn_handle FROM users WHERE id = ?", [.string(userID)]).first?
                    .optionalBytes("webauthn_handle")
            }
        }
    }

    /// The user whose handle this is.
    package func user(handle: [UInt8]) throws(AuthError) -> String? {
        try database.causal { () throws(AuthError) in
            try database.run { connection throws(MariaDBError) in
                try connection.query("SELECT id FROM users WHERE webauthn_handle = ?", [.bytes(handle)]).first?.string("id")
            }
        }
    }

    // MARK: Passkeys

    /// Stores a verified passkey as an active factor. Inside the caller's transaction. A credential id registered
    /// before (by anyone) throws ``AuthError/passkeyTaken``.
    package func insert(_ passkey: NewPasskey, now: Date) throws(AuthError) {
        do {
            try database.run { connection throws(MariaDBError) in
                try connection.execute(
                    """
                    INSERT INTO mfa_factors (id, user_id, kind, name, status, created_at, confirmed_at)
                    VALUES (?, ?, 'passkey', ?, 'active', ?, ?)
                    """, [.string(passkey.factorID), .string(passkey.userID), passkey.name.map { .string($0) } ?? .null, .date(now), .date(now)])
                try connection.execute(
                    """
                    INSERT INTO passkeys (factor_id, user_id, credential_hash, credential_id, public_key, algorithm, sign_count,
                        backup_eligible, backup_state, user_verified, transports, aaguid, attestation_format)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .string(passkey.factorID), .string(passkey.userID), .bytes(SHA256.hash(passkey.credentialID)),
                        .bytes(passkey.credentialID), .bytes(passkey.publicKey), .int(passkey.algorithm), .int(Int64(passkey.signCount)),
                        .int(passkey.backupEligible ? 1 : 0), .int(passkey.backupState ? 1 : 0), .int(passkey.userVerified ? 1 : 0),
                        .string(passkey.transports.joined(separator: ",")), .bytes(passkey.aaguid), .string(passkey.attestationFormat),
                    ])
            }
        } catch  where error.storage?.kind == .duplicateKey {
            throw AuthError.passkeyTaken
        }
    }

    /// The active passkey with this credential id, whoever owns it.
    package func find(credentialID: [UInt8]) throws(AuthError) -> Passkey? {
        // Causal: a passkey registered through another node moments ago may not be applied here yet.
        try database.causal { () throws(AuthError) in try findOnce(credentialID: credentialID) }
    }

    private func findOnce(credentialID: [UInt8]) throws(AuthError) -> Passkey? {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                """
                SELECT \(Self.columns) FROM passkeys p JOIN mfa_factors f ON f.id = p.factor_id
                WHERE p.credential_hash = ? AND f.status = 'active'
                """, [.bytes(SHA256.hash(credentialID))]
            ).first.map { row throws(MariaDBError) in try Self.passkey(from: row) }
        }
    }

    /// The user's active passkeys, oldest first.
    package func passkeys(userID: String) throws(AuthError) -> [Passkey] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                """
                SELECT \(Self.columns) FROM passkeys p JOIN mfa_factors f ON f.id = p.factor_id
                WHERE p.user_id = ? AND f.status = 'active' ORDER BY f.created_at, p.factor_id
                """, [.string(userID)]
            ).map { row throws(MariaDBError) in try Self.passkey(from: row) }
        }
    }

    /// Records a use: the new counter only if it is still higher than the stored one (or both are 0: a passkey that
    /// does not count), the backup state and the time. Of two hosts verifying counters at once, the lower one loses
    /// here as it would have lost had it come second. Returns whether this use was recorded.
    package func recordUse(factorID: String, signCount: UInt32, backupState: Bool, now: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            let count = Int64(signCount)
            // MariaDB counts changed rows, not matched ones: a non-zero counter always changes when the condition
            // holds; a 0 → 0 use at the very time of the last one changes nothing, so it is told by a read.
            let changed =
                try connection.execute(
                    """
                    UPDATE passkeys p JOIN mfa_factors f ON f.id = p.factor_id
                    SET p.sign_count = ?, p.backup_state = ?, f.last_used_at = ?
                    WHERE p.factor_id = ? AND f.status = 'active' AND (p.sign_count < ? OR (? = 0 AND p.sign_count = 0))
                    """,
                    [.int(count), .int(backupState ? 1 : 0), .date(now), .string(factorID), .int(count), .int(count)]
                ).affectedRows > 0
            guard !changed, signCount == 0 else { return changed }
            return try connection.query(
                """
                SELECT 1 AS ok FROM passkeys p JOIN mfa_factors f ON f.id = p.factor_id
                WHERE p.factor_id = ? AND f.status = 'active' AND p.sign_count = 0
                """, [.string(factorID)]
            ).first != nil
        }
    }

    /// Renames one of the user's passkeys. Returns whether it exists.
    package func rename(factorID: String, userID: String, name: String?) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            let found = try connection.query(
                "SELECT 1 AS ok FROM mfa_factors WHERE id = ? AND user_id = ? AND kind = 'passkey' AND status = 'active'",
                [.string(factorID), .string(userID)])
            guard !found.isEmpty else { return false }
            try connection.execute(
                "UPDATE mfa_factors SET name = ? WHERE id = ? AND user_id = ?",
                [name.map { .string($0) } ?? .null, .string(factorID), .string(userID)])
            return true
        }
    }

    // MARK: Challenges

    /// What a challenge is for.
    package enum Purpose: String, Sendable {
        case register
        case login
        case mfa
        case reauth
        /// Issued for an address without an account (sign-in options must look the same): no ceremony consumes it.
        case void
    }

    /// A consumed challenge: its purpose, the user it was issued to (none for a passwordless sign-in without an
    /// address), and the pending sign-in it belongs to (second factor).
    package struct Challenge: Sendable, Equatable {
        package let purpose: Purpose
        package let userID: String?
        package let pendingHash: [UInt8]?
    }

    /// Stores a challenge by its SHA-256.
    package func insertChallenge(
        _ challenge: [UInt8], purpose: Purpose, userID: String?, pendingHash: [UInt8]?, now: Date, expiresAt: Date
    ) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                INSERT INTO webauthn_challenges (challenge_hash, purpose, user_id, pending_hash, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                [
                    .bytes(SHA256.hash(challenge)), .string(purpose.rawValue), userID.map { .string($0) } ?? .null,
                    pendingHash.map { .bytes($0) } ?? .null, .date(now), .date(expiresAt),
                ])
        }
    }

    /// Consumes a live challenge of `purpose` once: one conditional update, so two concurrent uses never both get it
    /// (on a Galera node read back after its commit, since through two nodes both updates can answer OK: the use kept
    /// is the one whose claim the row holds). `nil` when it is unknown, used, expired or for another purpose, or
    /// when another use won. Outside any transaction.
    package func consumeChallenge(_ challenge: [UInt8], purpose: Purpose, now: Date) throws(AuthError) -> Challenge? {
        let digest = SHA256.hash(challenge)
        let claim = Claim()
        // Causal: the options may have come from another node moments ago.
        guard
            let consumed = try database.causal({ () throws(AuthError) in try consumeChallengeOnce(digest, purpose: purpose, now: now, claim: claim) }
            ),
            try database.keeps(
                claim, "passkey_challenge",
                readBack: { () throws(AuthError) in
                    try database.run { connection throws(MariaDBError) in
                        try connection.query("SELECT claim FROM webauthn_challenges WHERE challenge_hash = ?", [.bytes(digest)])
                            .first?.optionalBytes("claim")
                    }
                })
        else { return nil }
        return consumed
    }

    private func consumeChallengeOnce(_ digest: [UInt8], purpose: Purpose, now: Date, claim: Claim) throws(AuthError) -> Challenge? {
        try database.run { connection throws(MariaDBError) in
            let updated = try connection.execute(
                """
                UPDATE webauthn_challenges SET used_at = ?, claim = ?
                WHERE challenge_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
                """, [.date(now), .bytes(claim.bytes), .bytes(digest), .string(purpose.rawValue), .date(now)])
            guard updated.affectedRows == 1,
                let row = try connection.query(
                    "SELECT user_id, pending_hash FROM webauthn_challenges WHERE challenge_hash = ?", [.bytes(digest)]
                ).first
            else { return nil }
            return Challenge(purpose: purpose, userID: try row.optionalString("user_id"), pendingHash: try row.optionalBytes("pending_hash"))
        }
    }

    static func passkey(from row: Row) throws(MariaDBError) -> Passkey {
        Passkey(
            factorID: try row.string("factor_id"), userID: try row.string("user_id"), credentialID: try row.bytes("credential_id"),
            publicKey: try row.bytes("public_key"), algorithm: try row.int("algorithm"), signCount: UInt32(clamping: try row.int("sign_count")),
            backupEligible: try row.bool("backup_eligible"), backupState: try row.bool("backup_state"),
            userVerified: try row.bool("user_verified"),
            transports: try row.string("transports").split(separator: ",").map(String.init), aaguid: try row.bytes("aaguid"),
            attestationFormat: try row.string("attestation_format"), name: try row.optionalString("name"),
            createdAt: try row.date("created_at"), lastUsedAt: try row.optionalDate("last_used_at"))
    }
}

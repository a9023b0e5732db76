package import FoundationEssentials
import MariaDB

/// The `api_keys` table: API keys by the SHA-256 of the key (never the key). Owns every statement on that table.
package struct APIKeyStore {
    let database: Database

    /// A key found by its digest, with its user.
    package struct Match {
        package let keyID: String
        package let storedDigest: [UInt8]
        package let user: User
        package let scope: APIKeyScope
    }

    /// Inserts a key record.
    package func insert(_ info: APIKeyInfo, userID: String, digest: [UInt8]) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                INSERT INTO api_keys (id, user_id, prefix, key_hash, name, created_at, expires_at, scope)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .string(info.id), .string(userID), .string(info.prefix), .bytes(digest), .string(info.name),
                    .date(info.createdAt), info.expiresAt.map { .date($0) } ?? .null, .string(info.scope.rawValue),
                ])
        }
    }

    /// A user's keys that are neither revoked nor expired, oldest first.
    package func active(of userID: String, now: Date) throws(AuthError) -> [APIKeyInfo] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                """
                SELECT id, name, prefix, created_at, last_used_at, expires_at, scope FROM api_keys
                WHERE user_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at
                """, [.string(userID), .date(now)]
            ).map { row throws(MariaDBError) in
                APIKeyInfo(
                    id: try row.string("id"), name: try row.string("name"), prefix: try row.string("prefix"),
                    createdAt: try row.date("created_at"), lastUsedAt: try row.optionalDate("last_used_at"),
                    expiresAt: try row.optionalDate("expires_at"), scope: APIKeyScope(rawValue: try row.string("scope")) ?? .read)
            }
        }
    }

    /// Revokes one of a user's keys. Returns whether it existed and was active.
    package func revoke(_ id: String, of userID: String, now: Date) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL
                """, [.date(now), .string(id), .string(userID)]
            ).affectedRows == 1
        }
    }

    /// Revokes every active key of a user (a password change or reset, logout everywhere). Returns how many.
    package func revokeAll(of userID: String, now: Date) throws(AuthError) -> Int {
        try database.run { connection throws(MariaDBError) in
            Int(
                try connection.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", [.date(now), .string(userID)]
                ).affectedRows)
        }
    }

    /// Whether a key is not revoked (`false` too when there is no such key).
    package func isUnrevoked(_ id: String) throws(AuthError) -> Bool {
        try database.run { connection throws(MariaDBError) in
            try !connection.query("SELECT id FROM api_keys WHERE id = ? AND revoked_at IS NULL", [.string(id)]).isEmpty
        }
    }

    /// The ids of the user's keys that are not revoked and were created at or before `cutoff`: what a revocation at
    /// `cutoff` should have ended, read back after its commit.
    package func unrevoked(of userID: String, createdBy cutoff: Date) throws(AuthError) -> [String] {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                "SELECT id FROM api_keys WHERE user_id = ? AND revoked_at IS NULL AND created_at <= ?", [.string(userID), .date(cutoff)]
            ).map { row throws(MariaDBError) in try row.string("id") }
        }
    }

    /// The active key with this digest and its user (the database compares digests, never keys).
    package func find(digest: [UInt8], now: Date) throws(AuthError) -> Match? {
        // Causal: a key created through another node moments ago may not be applied here yet.
        try database.causal { () throws(AuthError) in try findOnce(digest: digest, now: now) }
    }

    private func findOnce(digest: [UInt8], now: Date) throws(AuthError) -> Match? {
        try database.run { connection throws(MariaDBError) in
            guard
                let row = try connection.query(
                    """
                    SELECT k.id AS key_id, k.key_hash, k.scope, \(UserStore.columns) FROM api_keys k JOIN users u ON u.id = k.user_id
                    WHERE k.key_hash = ? AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)
                    """, [.bytes(digest), .date(now)]
                ).first
            else { return nil }
            return Match(
                keyID: try row.string("key_id"), storedDigest: try row.bytes("key_hash"),
                user: try UserStore.user(from: row),
                // An unknown scope (written by a later version) grants the least.
                scope: APIKeyScope(rawValue: try row.string("scope")) ?? .read)
        }
    }

    /// Records a use, at most once a minute per key (`last_used_at` older than `staleBefore`).
    package func touch(_ id: String, now: Date, staleBefore: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                """
                UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)
                """, [.date(now), .string(id), .date(staleBefore)], idempotent: true)
        }
    }
}

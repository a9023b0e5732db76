import CryptoPrimitives
public import FoundationEssentials
import JOSE
import MariaDB

/// A newly created API key: the raw key is shown once and never stored.
public struct CreatedAPIKey: Sendable {
    public let info: APIKeyInfo
    /// `jwta_` followed by 43 base64url characters (256 random bits).
    public let rawKey: String
}

extension Auth {
    static let apiKeyPrefix = "jwta_"

    /// Creates an API key for a user; only its SHA-256 is stored.
    public func createAPIKey(userID: String, name: String, expiresAt: Date? = nil) throws -> CreatedAPIKey {
        let trimmed = name.trimmingSpaces
        guard !trimmed.isEmpty, trimmed.unicodeScalars.count <= 100 else { throw AuthError(.invalidInput, "The key name must have 1 to 100 characters") }
        let now = clock.now()
        if let expiresAt, expiresAt <= now { throw AuthError(.invalidInput, "The expiry must be in the future") }
        guard try user(id: userID) != nil else { throw AuthError.notFound }
        let raw = Self.apiKeyPrefix + Base64URL.encode(Random.bytes(32))
        let id = Identifier.make(at: now)
        let prefix = String(raw.prefix(12))
        try connection.execute("""
            INSERT INTO api_keys (id, user_id, prefix, key_hash, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.string(id), .string(userID), .string(prefix), .bytes(SHA256.hash(Array(raw.utf8))), .string(trimmed),
                  .date(now), expiresAt.map { .date($0) } ?? .null])
        return CreatedAPIKey(info: APIKeyInfo(id: id, name: trimmed, prefix: prefix, createdAt: now, lastUsedAt: nil,
                                              expiresAt: expiresAt), rawKey: raw)
    }

    /// The user's keys that are neither revoked nor expired.
    public func apiKeys(of userID: String) throws -> [APIKeyInfo] {
        try connection.query("""
            SELECT id, name, prefix, created_at, last_used_at, expires_at FROM api_keys
            WHERE user_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at
            """, [.string(userID), .date(clock.now())]).map { row in
            APIKeyInfo(id: try row.string("id"), name: try row.string("name"), prefix: try row.string("prefix"),
                       createdAt: try row.date("created_at"), lastUsedAt: try row.optionalDate("last_used_at"),
                       expiresAt: try row.optionalDate("expires_at"))
        }
    }

    /// Revokes one of the user's keys. Returns whether it existed and was active.
    @discardableResult
    public func revokeAPIKey(id: String, of userID: String) throws -> Bool {
        guard Identifier.isWellFormed(id) else { return false }
        return try connection.execute("""
            UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL
            """, [.date(clock.now()), .string(id), .string(userID)]).affectedRows == 1
    }

    /// The user an API key belongs to, or `nil` for an unknown, revoked or expired key.
    ///
    /// The key is looked up by its SHA-256 (so the database never compares secrets) and the stored digest is compared
    /// again in constant time. `last_used_at` is written at most once a minute per key.
    public func authenticate(apiKey raw: String) throws -> User? {
        guard raw.hasPrefix(Self.apiKeyPrefix), raw.utf8.count == Self.apiKeyPrefix.utf8.count + 43 else { return nil }
        let digest = SHA256.hash(Array(raw.utf8))
        let now = clock.now()
        guard let row = try connection.query("""
            SELECT k.id AS key_id, k.key_hash, \(Auth.userColumns) FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.key_hash = ? AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)
            """, [.bytes(digest), .date(now)]).first, ConstantTime.equals(try row.bytes("key_hash"), digest) else { return nil }
        try connection.execute("""
            UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)
            """, [.date(now), .string(try row.string("key_id")), .date(now.addingTimeInterval(-60))], idempotent: true)
        return try Auth.user(from: row)
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

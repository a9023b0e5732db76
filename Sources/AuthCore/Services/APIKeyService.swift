import CryptoPrimitives
public import FoundationEssentials
import JOSE

/// API keys: created once (the raw key shown once), listed, revoked, and authenticated by their SHA-256.
public struct APIKeyService: APIKeyOperations {
    static let prefix = "jwta_"
    let store: APIKeyStore
    let users: UserStore
    let database: Database
    let clock: any AuthClock
    /// The lifetime of a key created without an expiry (`accounts.api_key_lifetime`); zero: none.
    let defaultLifetime: Duration

    init(database: Database, clock: any AuthClock, defaultLifetime: Duration) {
        store = APIKeyStore(database: database)
        users = UserStore(database: database)
        self.database = database
        self.clock = clock
        self.defaultLifetime = defaultLifetime
    }

    /// Creates an API key for a user; only its SHA-256 is stored. Without `expiresAt` it expires after
    /// `accounts.api_key_lifetime` (90 days by default; never when that is `0s`).
    public func createAPIKey(userID: String, name: String, expiresAt: Date? = nil, scope: APIKeyScope = .full) throws(AuthError)
        -> CreatedAPIKey
    {
        let trimmed = name.trimmingSpaces
        guard !trimmed.isEmpty, trimmed.unicodeScalars.count <= 100 else {
            throw AuthError(.invalidInput, "The key name must have 1 to 100 characters")
        }
        let now = clock.now()
        if let expiresAt, expiresAt <= now { throw AuthError(.invalidInput, "The expiry must be in the future") }
        let expiry = expiresAt ?? (defaultLifetime > .zero ? now.addingTimeInterval(defaultLifetime.timeInterval) : nil)
        guard Identifier.isWellFormed(userID), try users.find(id: userID) != nil else { throw AuthError.notFound }
        let raw = Self.prefix + Base64URL.encode(Random.bytes(32))
        let info = APIKeyInfo(
            id: Identifier.make(at: now), name: trimmed, prefix: String(raw.prefix(12)), createdAt: now,
            lastUsedAt: nil, expiresAt: expiry, scope: scope)
        try store.insert(info, userID: userID, digest: SHA256.hash(Array(raw.utf8)))
        return CreatedAPIKey(info: info, rawKey: raw)
    }

    /// The user's keys that are neither revoked nor expired.
    public func apiKeys(of userID: String) throws(AuthError) -> [APIKeyInfo] {
        try store.active(of: userID, now: clock.now())
    }

    /// Revokes one of the user's keys. Returns whether it existed and was active.
    @discardableResult
    public func revokeAPIKey(id: String, of userID: String) throws(AuthError) -> Bool {
        guard Identifier.isWellFormed(id) else { return false }
        guard try store.revoke(id, of: userID, now: clock.now()) else { return false }
        // Read back on a Galera node: a use of the key through another node (its last-use update) must not write it
        // back live.
        try database.holdRevoked(
            "api_key", live: { () throws(AuthError) in try store.isUnrevoked(id) ? () : nil },
            again: { _ throws(AuthError) in _ = try store.revoke(id, of: userID, now: clock.now()) })
        return true
    }

    /// The user an API key belongs to and what the key may do, or `nil` for an unknown, revoked or expired key.
    ///
    /// The key is looked up by its SHA-256 (so the database never compares secrets) and the stored digest is compared
    /// again in constant time. `last_used_at` is written at most once a minute per key.
    public func authenticate(apiKey raw: String) throws(AuthError) -> AuthenticatedAPIKey? {
        guard raw.hasPrefix(Self.prefix), raw.utf8.count == Self.prefix.utf8.count + 43 else { return nil }
        let digest = SHA256.hash(Array(raw.utf8))
        let now = clock.now()
        guard let match = try store.find(digest: digest, now: now), ConstantTime.equals(match.storedDigest, digest) else {
            return nil
        }
        try store.touch(match.keyID, now: now, staleBefore: now.addingTimeInterval(-60))
        return AuthenticatedAPIKey(user: match.user, scope: match.scope)
    }
}

/// The user of a presented API key, and the key's scope.
public struct AuthenticatedAPIKey: Sendable {
    public let user: User
    public let scope: APIKeyScope

    public init(user: User, scope: APIKeyScope) {
        self.user = user
        self.scope = scope
    }
}

/// A newly created API key: the raw key is shown once and never stored.
public struct CreatedAPIKey: Sendable {
    public let info: APIKeyInfo
    /// `jwta_` followed by 43 base64url characters (256 random bits).
    public let rawKey: String

    public init(info: APIKeyInfo, rawKey: String) {
        self.info = info
        self.rawKey = rawKey
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

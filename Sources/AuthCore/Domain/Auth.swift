import FoundationEssentials
public import Logging
public import MariaDB
public import Passwords
import JOSE
import Glibc
import StrictJSON

/// The auth domain for one thread: users, sessions, token rotation, API keys and throttling over that thread's
/// MariaDB connection. Create one per worker thread; it is not shared.
public final class Auth {
    public let settings: AuthSettings
    public let connection: Connection
    let clock: any AuthClock
    let hasher: any PasswordHashing
    let logger: Logger

    /// Runs inside a rotation's transaction right after its conditional update, on the same connection. Only for
    /// tests that force a deadlock or kill the connection at that point; `nil` in production.
    public var afterConditionalUpdateForTesting: ((Connection) throws -> Void)?

    public init(settings: AuthSettings, connection: Connection, hasher: any PasswordHashing,
                clock: any AuthClock = SystemClock(), logger: Logger) {
        self.settings = settings
        self.connection = connection
        self.hasher = hasher
        self.clock = clock
        self.logger = logger
    }

    // MARK: Token signing

    func accessToken(for user: User, sessionID: String, now: Date) throws -> String {
        let issued = Int64(now.timeIntervalSince1970)
        return try settings.accessSigner.sign([
            ("sub", .string(user.id)), ("email", .string(user.email)), ("role", .string(user.role)),
            ("sid", .string(sessionID)), ("jti", .string(Identifier.make(at: now))),
            ("iss", .string(settings.issuer)), ("aud", .string(settings.audience)),
            ("iat", .int(issued)), ("exp", .int(issued + Int64(settings.accessTTL))),
        ])
    }

    /// The refresh token of a stored record: signing the same record again gives a token with the same `jti`.
    func refreshToken(userID: String, family: String, tokenID: String, issuedAt: Date, expiresAt: Date) throws -> String {
        try settings.refreshSigner.sign([
            ("sub", .string(userID)), ("family", .string(family)), ("jti", .string(tokenID)),
            ("iss", .string(settings.issuer)), ("aud", .string(settings.audience)),
            ("iat", .int(Int64(issuedAt.timeIntervalSince1970))), ("exp", .int(Int64(expiresAt.timeIntervalSince1970))),
        ])
    }

    func pair(user: User, sessionID: String, tokenID: String, issuedAt: Date, expiresAt: Date, now: Date,
              grace: Bool = false) throws -> TokenPair {
        TokenPair(accessToken: try accessToken(for: user, sessionID: sessionID, now: now),
                  refreshToken: try refreshToken(userID: user.id, family: sessionID, tokenID: tokenID, issuedAt: issuedAt,
                                                 expiresAt: expiresAt),
                  accessExpiresIn: settings.accessTTL,
                  refreshExpiresIn: max(0, Int(expiresAt.timeIntervalSince(now))),
                  sessionID: sessionID, user: user, isGraceReplay: grace)
    }

    // MARK: Access tokens

    /// Verifies an access token without touching the database (stateless: valid until `exp` even if its session was
    /// revoked; use ``isSessionActive(_:)`` where the database is read anyway).
    ///
    /// - Throws: ``AuthError/invalidToken`` or ``AuthError/tokenExpired``.
    public func verifyAccessToken(_ token: String) throws(AuthError) -> AccessClaims {
        let verified: VerifiedJWT
        do {
            verified = try settings.accessVerifier.verify(token, now: clock.now())
        } catch {
            throw error.code == .expired ? .tokenExpired : .invalidToken
        }
        guard let sub = verified.string("sub"), let sid = verified.string("sid"), let jti = verified.string("jti"),
              let email = verified.string("email"), let role = verified.string("role"), let exp = verified.number("exp")
        else { throw AuthError.invalidToken }
        return AccessClaims(userID: sub, email: email, role: role, sessionID: sid, tokenID: jti,
                            expiresAt: Date(timeIntervalSince1970: exp))
    }

    /// Whether a session exists, is not revoked, and is within its absolute and idle lifetimes. One indexed read.
    public func isSessionActive(_ sessionID: String) throws -> Bool {
        guard Identifier.isWellFormed(sessionID) else { return false }
        let now = clock.now()
        return try !connection.query(HotPathSQL.sessionActive, [
            .string(sessionID), .date(now), .date(now.addingTimeInterval(-Double(settings.refreshTTL))),
        ]).isEmpty
    }

    /// The user of an access token whose session is active, in one read (both tables by primary key): `GET
    /// /api/auth/me`'s common case. `nil` when the session is not active or the user is gone; ask
    /// ``isSessionActive(_:)`` and ``user(id:)`` which, off the hot path.
    public func activeSessionUser(sessionID: String, userID: String) throws -> User? {
        guard Identifier.isWellFormed(sessionID), Identifier.isWellFormed(userID) else { return nil }
        let now = clock.now()
        return try connection.query(HotPathSQL.activeSessionUser, [.string(sessionID), .string(userID), .date(now),
                  .date(now.addingTimeInterval(-Double(settings.refreshTTL)))]).first.map(Auth.user(from:))
    }

    // MARK: Helpers

    static func user(from row: Row) throws -> User {
        User(id: try row.string("id"), email: try row.string("email"), name: try row.optionalString("name"),
             role: try row.string("role"), emailVerifiedAt: try row.optionalDate("email_verified_at"),
             createdAt: try row.date("created_at"))
    }

    static let userColumns = "u.id, u.email, u.name, u.role, u.email_verified_at, u.created_at"

    /// Runs `body` in a transaction, again after a deadlock, lock wait timeout or Galera certification failure
    /// (bounded, with a short random back-off). `attempt` counts from 0.
    func withTransactionRetry<T>(_ body: (_ attempt: Int) throws -> T) throws -> T {
        var attempt = 0
        while true {
            do {
                return try connection.transaction { try body(attempt) }
            } catch let error as MariaDBError where error.isTransient && attempt < settings.maxTransactionRetries {
                attempt += 1
                logger.notice("transaction conflict; retrying", metadata: [
                    "event": "transaction_retry", "db.errno": "\(error.errno)", "attempt": "\(attempt)",
                ])
                usleep(UInt32.random(in: 1_000...(5_000 * UInt32(attempt))))
            }
        }
    }
}

/// A domain failure: a stable code the HTTP layer maps to a status (an exhaustive switch, so a new code cannot
/// silently become a 503), a message safe to show, and an internal cause that only goes to the log.
///
/// Nothing from the storage layer crosses AuthCore: a MariaDB failure becomes ``Code/databaseUnavailable`` or
/// ``Code/databaseFailure`` with the server's error kept in ``internalCause`` (the supabase/auth
/// `WithInternalMessage` idea). Messages never hold secrets.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as the client and the metrics need to know it.
    public enum Code: String, Sendable, CaseIterable {
        case invalidCredentials = "invalid_credentials"
        case throttled
        case emailTaken = "email_taken"
        case invalidInput = "invalid_input"
        case weakPassword = "weak_password"
        case invalidToken = "invalid_token"
        case tokenExpired = "token_expired"
        case tokenReused = "token_reused"
        case sessionExpired = "session_expired"
        case sessionRevoked = "session_revoked"
        case notFound = "not_found"
        /// The act needs a recent authentication (the password again).
        case reauthenticationRequired = "reauthentication_required"
        /// A one-time token (a password reset link's) that is unknown, used, expired or no longer bound: a code of its
        /// own (a bad access token is `invalid_token`, 401).
        case resetTokenInvalid = "reset_token_invalid"
        /// An email verification or change link's token that is unknown, used, expired or no longer bound to the
        /// account's address.
        case emailTokenInvalid = "email_token_invalid"
        /// The account's address is not verified and the site requires it (`accounts.require_verified_email`).
        case emailUnverified = "email_unverified"
        /// A second factor's code (or recovery code) that is wrong, used, or has nothing pending to confirm.
        case invalidCode = "invalid_code"
        /// No `mfa.encryption_keys`: second factors cannot be used on this site.
        case mfaUnavailable = "mfa_unavailable"
        /// The act needs a second factor this session has not used (an AAL2 location, or a sign-in that stopped at
        /// its second step).
        case mfaRequired = "mfa_required"
        /// A passkey registration that did not verify (origin, challenge, attestation, a credential registered
        /// before): the message names the check.
        case passkeyInvalid = "passkey_invalid"
        /// No relying party configured (`passkeys.rp_id` or `http.public_url`): passkeys cannot be used on this site.
        case passkeysUnavailable = "passkeys_unavailable"
        /// Password hashing is saturated (a flood of logins): nothing was checked; try again shortly.
        case busy = "service_busy"
        /// The database cannot be reached (connection refused or lost): worth a retry later.
        case databaseUnavailable = "database_unavailable"
        /// The database answered with an error this code did not expect.
        case databaseFailure = "database_failure"
        /// Anything else that is the service's fault (a password hash that could not be computed, …).
        case internalFailure = "internal_failure"
    }

    public let code: Code
    /// For humans (and logs); safe to show.
    public let message: String
    /// For ``Code/throttled``: seconds until another attempt may succeed.
    public let retryAfter: Int?
    /// For the log only, never for the client: the storage or library error behind a failure.
    public let internalCause: String?
    /// What a log line says of this failure: its ``internalCause``, or its code when it has none.
    package var logCause: String { internalCause ?? "\(code)" }
    /// The storage failure behind this error, for the domain's own decisions (retry a conflict, map a duplicate).
    package let storage: StorageFailure?

    public init(_ code: Code, _ message: String, retryAfter: Int? = nil, internalCause: String? = nil) {
        self.init(code, message, retryAfter: retryAfter, internalCause: internalCause, storage: nil)
    }

    package init(_ code: Code, _ message: String, retryAfter: Int? = nil, internalCause: String?, storage: StorageFailure?) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.internalCause = internalCause
        self.storage = storage
    }

    public static func == (lhs: AuthError, rhs: AuthError) -> Bool { lhs.code == rhs.code }

    public static let invalidCredentials = AuthError(.invalidCredentials, "Invalid credentials")
    public static let emailTaken = AuthError(.emailTaken, "An account with this email already exists")
    public static let passkeyTaken = AuthError(.passkeyInvalid, "This passkey is already registered")
    public static let passkeysUnavailable = AuthError(.passkeysUnavailable, "Passkeys are not set up on this site")
    public static let invalidToken = AuthError(.invalidToken, "Invalid token")
    public static let tokenExpired = AuthError(.tokenExpired, "Token expired")
    public static let tokenReused = AuthError(.tokenReused, "Refresh token reuse detected; the session was revoked")
    public static let sessionExpired = AuthError(.sessionExpired, "Session expired")
    public static let sessionRevoked = AuthError(.sessionRevoked, "Session revoked")
    public static let notFound = AuthError(.notFound, "Not found")
    public static let busy = AuthError(.busy, "Too many sign-ins at once; try again in a moment")
    public static func throttled(retryAfter: Int) -> AuthError {
        AuthError(.throttled, "Too many attempts; try again later", retryAfter: retryAfter)
    }
    /// A failure of the service itself; `cause` goes to the log only.
    public static func internalFailure(_ cause: String) -> AuthError {
        AuthError(.internalFailure, "Internal server error", internalCause: cause)
    }

    /// Whether the database is behind this failure (counted as a database error in the metrics).
    public var isDatabaseFailure: Bool { code == .databaseUnavailable || code == .databaseFailure }

    public var description: String {
        internalCause.map { "\(code.rawValue): \(message) (\($0))" } ?? "\(code.rawValue): \(message)"
    }
}

/// What the storage layer reports about a failed statement, without its types: enough to retry a conflict or to
/// recognise a unique violation.
package struct StorageFailure: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        /// Connection refused or lost.
        case unavailable
        /// Deadlock, lock wait timeout or a Galera certification failure: running the transaction again may succeed.
        case conflict
        /// A unique key already holds the value.
        case duplicateKey
        /// Anything else.
        case other
    }

    package let kind: Kind
    /// MariaDB's error number (0 for the client library's own errors).
    package let errno: UInt32
}

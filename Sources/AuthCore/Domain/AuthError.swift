/// A domain failure with a stable code the HTTP layer maps to a status. Messages never hold secrets.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public static let invalidCredentials = Code("invalid_credentials")
        public static let throttled = Code("throttled")
        public static let emailTaken = Code("email_taken")
        public static let invalidInput = Code("invalid_input")
        public static let weakPassword = Code("weak_password")
        public static let invalidToken = Code("invalid_token")
        public static let tokenExpired = Code("token_expired")
        public static let tokenReused = Code("token_reused")
        public static let sessionExpired = Code("session_expired")
        public static let sessionRevoked = Code("session_revoked")
        public static let notFound = Code("not_found")
        public static let unavailable = Code("unavailable")
        public var description: String { name }
    }

    public let code: Code
    /// For humans (and logs); safe to show.
    public let message: String
    /// For ``Code/throttled``: seconds until another attempt may succeed.
    public let retryAfter: Int?

    public init(_ code: Code, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func == (lhs: AuthError, rhs: AuthError) -> Bool { lhs.code == rhs.code }

    public static let invalidCredentials = AuthError(.invalidCredentials, "Invalid credentials")
    public static let emailTaken = AuthError(.emailTaken, "An account with this email already exists")
    public static let invalidToken = AuthError(.invalidToken, "Invalid token")
    public static let tokenExpired = AuthError(.tokenExpired, "Token expired")
    public static let tokenReused = AuthError(.tokenReused, "Refresh token reuse detected; the session was revoked")
    public static let sessionExpired = AuthError(.sessionExpired, "Session expired")
    public static let sessionRevoked = AuthError(.sessionRevoked, "Session revoked")
    public static let notFound = AuthError(.notFound, "Not found")
    public static let unavailable = AuthError(.unavailable, "Service temporarily unavailable")
    public static func throttled(retryAfter: Int) -> AuthError {
        AuthError(.throttled, "Too many attempts; try again later", retryAfter: retryAfter)
    }

    public var description: String { "\(code): \(message)" }
}

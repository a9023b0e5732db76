public import FoundationEssentials

/// Claims of a verified access token.
public struct AccessClaims: Sendable, Equatable {
    public let userID: String
    public let email: String
    public let role: String
    /// The `email_verified` claim (absent in tokens from before it existed: `false`).
    public let emailVerified: Bool
    public let sessionID: String
    public let tokenID: String
    public let expiresAt: Date
    /// The `auth_time` claim: the session's last act of authentication (`nil` in tokens from before it existed).
    public let authTime: Date?
    /// The `amr` claim (RFC 8176 values; empty in tokens from before it existed).
    public let methods: [String]

    public init(
        userID: String, email: String, role: String, emailVerified: Bool = false, sessionID: String, tokenID: String,
        expiresAt: Date, authTime: Date? = nil, methods: [String] = []
    ) {
        self.userID = userID
        self.email = email
        self.role = role
        self.emailVerified = emailVerified
        self.sessionID = sessionID
        self.tokenID = tokenID
        self.expiresAt = expiresAt
        self.authTime = authTime
        self.methods = methods
    }

    /// 2 when the session used a second factor, else 1.
    public var assuranceLevel: Int { Authentication.assuranceLevel(of: methods) }
}

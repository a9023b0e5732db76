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

    public init(
        userID: String, email: String, role: String, emailVerified: Bool = false, sessionID: String, tokenID: String,
        expiresAt: Date
    ) {
        self.userID = userID
        self.email = email
        self.role = role
        self.emailVerified = emailVerified
        self.sessionID = sessionID
        self.tokenID = tokenID
        self.expiresAt = expiresAt
    }
}

public import FoundationEssentials

/// Claims of a verified access token.
public struct AccessClaims: Sendable, Equatable {
    public let userID: String
    public let email: String
    public let role: String
    public let sessionID: String
    public let tokenID: String
    public let expiresAt: Date

    public init(userID: String, email: String, role: String, sessionID: String, tokenID: String, expiresAt: Date) {
        self.userID = userID
        self.email = email
        self.role = role
        self.sessionID = sessionID
        self.tokenID = tokenID
        self.expiresAt = expiresAt
    }
}

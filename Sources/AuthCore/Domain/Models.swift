public import FoundationEssentials

/// A user as the domain shows it (never the password hash).
public struct User: Sendable, Equatable {
    public let id: String
    public let email: String
    public let name: String?
    public let role: String
    public let emailVerifiedAt: Date?
    public let createdAt: Date
}

/// Who is asking: used for session records, throttling and security events. Which address to trust behind proxies
/// is the HTTP layer's decision.
public struct ClientContext: Sendable {
    public var ip: String
    public var userAgent: String?

    public init(ip: String, userAgent: String? = nil) {
        self.ip = ip
        self.userAgent = userAgent
    }
}

/// A freshly issued access and refresh token.
public struct TokenPair: Sendable {
    public let accessToken: String
    public let refreshToken: String
    /// The access token's lifetime in seconds (the access cookie's Max-Age).
    public let accessExpiresIn: Int
    /// Seconds until the refresh token expires (the refresh cookie's Max-Age).
    public let refreshExpiresIn: Int
    /// The session (token family).
    public let sessionID: String
    public let user: User
    /// True when this answers a replay inside the grace window: the session's current pair, not a new one.
    public let isGraceReplay: Bool
}

/// An active login session.
public struct Session: Sendable, Equatable {
    public let id: String
    public let createdAt: Date
    public let lastUsedAt: Date
    public let expiresAt: Date
    public let userAgent: String?
    public let ip: String?
}

/// Claims of a verified access token.
public struct AccessClaims: Sendable, Equatable {
    public let userID: String
    public let email: String
    public let role: String
    public let sessionID: String
    public let tokenID: String
    public let expiresAt: Date
}

/// An API key's record (never the key itself).
public struct APIKeyInfo: Sendable, Equatable {
    public let id: String
    public let name: String
    /// The key's first characters, for recognising it in a list.
    public let prefix: String
    public let createdAt: Date
    public let lastUsedAt: Date?
    public let expiresAt: Date?
}

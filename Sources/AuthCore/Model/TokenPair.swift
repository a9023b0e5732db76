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
    /// The refresh token's `jti` (an id, safe to log).
    public let refreshTokenID: String

    public init(
        accessToken: String, refreshToken: String, accessExpiresIn: Int, refreshExpiresIn: Int,
        sessionID: String, user: User, isGraceReplay: Bool, refreshTokenID: String
    ) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.accessExpiresIn = accessExpiresIn
        self.refreshExpiresIn = refreshExpiresIn
        self.sessionID = sessionID
        self.user = user
        self.isGraceReplay = isGraceReplay
        self.refreshTokenID = refreshTokenID
    }
}

/// A new access token alone (after a reauthentication: the session's refresh token stays).
public struct AccessToken: Sendable {
    public let token: String
    /// Its lifetime in seconds (the access cookie's Max-Age).
    public let expiresIn: Int

    public init(token: String, expiresIn: Int) {
        self.token = token
        self.expiresIn = expiresIn
    }
}

public import FoundationEssentials

/// An active login session.
public struct Session: Sendable, Equatable {
    public let id: String
    public let createdAt: Date
    public let lastUsedAt: Date
    public let expiresAt: Date
    public let userAgent: String?
    public let ip: String?

    public init(id: String, createdAt: Date, lastUsedAt: Date, expiresAt: Date, userAgent: String?, ip: String?) {
        self.id = id
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
        self.userAgent = userAgent
        self.ip = ip
    }
}

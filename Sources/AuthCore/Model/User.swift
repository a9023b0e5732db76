public import FoundationEssentials

/// A user as the domain shows it (never the password hash).
public struct User: Sendable, Equatable {
    public let id: String
    public let email: String
    public let name: String?
    public let role: String
    public let emailVerifiedAt: Date?
    public let createdAt: Date

    public init(id: String, email: String, name: String?, role: String, emailVerifiedAt: Date?, createdAt: Date) {
        self.id = id
        self.email = email
        self.name = name
        self.role = role
        self.emailVerifiedAt = emailVerifiedAt
        self.createdAt = createdAt
    }
}

public import FoundationEssentials

/// What an API key may do: `read` only safe methods (GET, HEAD, OPTIONS) behind the gate, `full` anything its user may.
public enum APIKeyScope: String, Sendable, CaseIterable {
    case read
    case full
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
    public let scope: APIKeyScope

    public init(
        id: String, name: String, prefix: String, createdAt: Date, lastUsedAt: Date?, expiresAt: Date?, scope: APIKeyScope = .full
    ) {
        self.scope = scope
        self.id = id
        self.name = name
        self.prefix = prefix
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
    }
}

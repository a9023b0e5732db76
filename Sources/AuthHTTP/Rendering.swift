import AuthCore
import FoundationEssentials
import StrictJSON

/// JSON shapes of the API (see docs/openapi.yaml).
enum Rendering {
    static func user(_ user: User, verified: Bool = false) -> JSON {
        var members: [(String, JSON)] = [
            ("id", .string(user.id)), ("email", .string(user.email)),
            ("name", user.name.map { .string($0) } ?? .null), ("role", .string(user.role)),
        ]
        if verified { members.append(("emailVerified", .bool(user.emailVerifiedAt != nil))) }
        return .object(members)
    }

    static func date(_ date: Date?) -> JSON {
        guard let date else { return .null }
        return .string(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }

    static func session(_ session: Session, current: String?) -> JSON {
        .object([
            ("id", .string(session.id)), ("createdAt", date(session.createdAt)), ("lastUsedAt", date(session.lastUsedAt)),
            ("expiresAt", date(session.expiresAt)), ("userAgent", session.userAgent.map { .string($0) } ?? .null),
            ("ip", session.ip.map { .string($0) } ?? .null), ("current", .bool(session.id == current)),
        ])
    }

    static func apiKey(_ key: APIKeyInfo) -> JSON {
        .object([
            ("id", .string(key.id)), ("name", .string(key.name)), ("prefix", .string(key.prefix)),
            ("createdAt", date(key.createdAt)), ("lastUsedAt", date(key.lastUsedAt)), ("expiresAt", date(key.expiresAt)),
        ])
    }

    static let success = JSON.object([("success", .bool(true))])

    /// Parses an ISO 8601 date-time (with or without fractional seconds).
    static func parseDate(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

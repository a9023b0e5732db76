import AuthCore
import FastCGI
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
            ("scope", .string(key.scope.rawValue)),
        ])
    }

    static let success = JSON.object([("success", .bool(true))])

    /// Parses an ISO 8601 date-time (with or without fractional seconds).
    static func parseDate(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    /// A 503 page for a browser whose renewal failed on the service's side: the cookies stay, and a link (and a
    /// refresh after 5 s) tries the page again.
    static func unavailablePage(retry target: String) -> Response {
        let href = target.replacing("&", with: "&amp;").replacing("\"", with: "&quot;").replacing("'", with: "&#39;")
            .replacing("<", with: "&lt;").replacing(">", with: "&gt;")
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5;url=\(href)">\
            <title>Try again</title></head><body><p>The sign-in service is briefly unavailable.</p>\
            <p><a href="\(href)">Try again</a></p></body></html>

            """
        return Response(
            status: 503,
            headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"), ("Retry-After", "5")],
            body: Array(page.utf8))
    }
}

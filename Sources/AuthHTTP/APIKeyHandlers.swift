import AuthCore
import FastCGI
import FoundationEssentials
import Logging
import Passwords
import StrictJSON

typealias FoundationDate = Date

/// API key management: only with a session (an API key cannot mint or list keys).
enum APIKeyHandlers {
    /// `POST /api/auth/api-keys` `{name, expiresAt?, scope?, password?}`: needs a recent authentication of the session
    /// (`accounts.reauth_window`) or the password again, else 403 `reauthentication_required`.
    static func create(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let body = try BodyFields.parse(request, allowForm: false)
        guard let name = body.string("name").text, !name.trimmingSpacesAndTabs.isEmpty, name.unicodeScalars.count <= 100 else {
            throw APIError.invalidFields([("name", "is required (1 to 100 characters)")])
        }
        let invalidScope = APIError.invalidFields([("scope", "must be \"read\" or \"full\"")])
        let scope: APIKeyScope
        switch body.string("scope") {
        case .absent: scope = .full
        case .value(let text):
            guard let parsed = APIKeyScope(rawValue: text) else { throw invalidScope }
            scope = parsed
        case .wrongType: throw invalidScope
        }
        let password: String?
        switch body.string("password") {
        case .absent: password = nil
        case .value(let text) where !text.isEmpty: password = text
        case .value, .wrongType: throw APIError.invalidFields([("password", "must be a non-empty string")])
        }
        var expiresAt: FoundationDate?
        switch body.string("expiresAt") {
        case .absent: break
        case .wrongType: throw APIError.invalidFields([("expiresAt", "must be an ISO 8601 date-time")])
        case .value(let text):
            guard let date = Rendering.parseDate(text) else { throw APIError.invalidFields([("expiresAt", "must be an ISO 8601 date-time")]) }
            expiresAt = date
        }
        let created = try context.domain(request) { () throws(AuthError) in
            if let password {
                try context.accounts.reauthenticate(
                    userID: claims.userID, sessionID: claims.sessionID, password: password, client: context.client(request))
            }
            // Recent (the password just now counts), and with the second factor when the user has one.
            try context.factors.requireStepUp(userID: claims.userID, sessionID: claims.sessionID, recent: true)
            return try context.apiKeys.createAPIKey(userID: claims.userID, name: name, expiresAt: expiresAt, scope: scope)
        }
        context.logger.info(
            "api key created",
            metadata: [
                "event": "api_key_created", "user.id": "\(claims.userID)",
                "api_key.id": "\(created.info.id)", "api_key.scope": "\(created.info.scope.rawValue)",
            ])
        return .json(status: 201, .object([("apiKey", Rendering.apiKey(created.info)), ("key", .string(created.rawKey))]))
    }

    static func list(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let keys = try context.domain(request) { () throws(AuthError) in try context.apiKeys.apiKeys(of: claims.userID) }
        return .json(status: 200, .object([("apiKeys", .array(keys.map(Rendering.apiKey)))]))
    }

    static func revoke(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let id = Router<AuthResponder.Context>.lastSegment(of: request)
        guard try context.domain(request, { () throws(AuthError) in try context.apiKeys.revokeAPIKey(id: id, of: claims.userID) }) else {
            throw APIError.notFound
        }
        return .json(status: 200, Rendering.success)
    }
}

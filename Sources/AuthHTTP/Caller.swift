import AuthCore
import FastCGI
import Logging
import Passwords

/// Who a request is, from its credential: `X-API-Key`, then `Authorization: Bearer`, then the `access_token` cookie.
enum Caller {
    case jwt(AccessClaims)
    case apiKey(AuthenticatedAPIKey)

    var userID: String {
        switch self {
        case .jwt(let claims): claims.userID
        case .apiKey(let key): key.user.id
        }
    }

    /// What the credential may do, for `X-Auth-Scopes`: a session may do anything its user may.
    var scope: APIKeyScope {
        switch self {
        case .jwt: .full
        case .apiKey(let key): key.scope
        }
    }

    var method: String {
        switch self {
        case .jwt: "jwt"
        case .apiKey: "api-key"
        }
    }

    /// The presented credential, or `nil` when there is none.
    ///
    /// - Throws: 401 (`unauthorized`, `token_expired`) for a credential that is not valid.
    static func identify(_ request: Request, _ context: AuthResponder.Context) throws(APIError) -> Caller? {
        if let key = request.field(.apiKey) {
            guard let found = try context.domain(request, { () throws(AuthError) in try context.apiKeys.authenticate(apiKey: key) }) else {
                throw APIError.unauthorized
            }
            return .apiKey(found)
        }
        var token: String?
        if let authorization = request.field(.authorization) {
            guard let bearer = bearerToken(in: authorization) else { throw APIError.unauthorized }
            token = bearer
        } else {
            token = request.cookie(context.cookies.accessName)
        }
        guard let token, !token.isEmpty else { return nil }
        do {
            return .jwt(try context.tokens.verifyAccessToken(token))
        } catch {
            throw APIError(error)
        }
    }

    /// The token of `Bearer <token>` (scheme in any case, RFC 9110 11.1), spaces and tabs around it removed;
    /// `nil` for another scheme or an empty token.
    static func bearerToken(in authorization: String) -> String? {
        let utf8 = authorization.utf8
        func lower(_ byte: UInt8) -> UInt8 { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte }
        guard utf8.count > 7, utf8.starts(with: "bearer ".utf8, by: { lower($0) == $1 }) else { return nil }
        let token = authorization.utf8.dropFirst(7).drop(while: { $0 == 32 || $0 == 9 })
        let end = token.lastIndex(where: { $0 != 32 && $0 != 9 })
        guard let end else { return nil }
        return String(Substring(token[...end]))
    }

    /// The caller, required.
    static func require(_ request: Request, _ context: AuthResponder.Context) throws(APIError) -> Caller {
        guard let caller = try identify(request, context) else { throw APIError.unauthorized }
        context.trace.userID = caller.userID
        return caller
    }

    /// An access-token caller whose session is still active (for routes that act on the session).
    static func requireSession(_ request: Request, _ context: AuthResponder.Context) throws(APIError) -> AccessClaims {
        guard case .jwt(let claims) = try require(request, context) else { throw APIError.unauthorized }
        guard try context.domain(request, { () throws(AuthError) in try context.sessions.isSessionActive(claims.sessionID) }) else {
            throw APIError(AuthError.sessionRevoked)
        }
        context.trace.userID = claims.userID
        return claims
    }
}

extension String {
    var trimmingSpacesAndTabs: String { Substring(self).trimmingCharacters(" \t") }
}

import AuthCore
import FastCGI
import Logging
import Passwords

/// `GET /api/auth/verify`, for nginx `auth_request`: 204 with `X-Auth-*` headers, 401, or 403.
///
/// JWTs are checked without the database (the fastest route). nginx may send `X-Auth-Require-Role` (roles allowed,
/// comma-separated) and `X-Auth-Guest-Only: 1` (for login pages: 204 only when *not* authenticated); it sets them
/// from its own configuration, never from the client.
enum VerifyHandler {
    static func handle(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let guestOnly = request.header("X-Auth-Guest-Only") == "1"
        let caller: Caller?
        do {
            caller = try Caller.identify(request, context)
        } catch {
            if guestOnly { return Response(status: 204, headers: [("Cache-Control", "no-store")]) }
            throw error
        }
        if guestOnly {
            if caller != nil { throw APIError.forbidden }
            return Response(status: 204, headers: [("Cache-Control", "no-store")])
        }
        guard let caller else { throw APIError.unauthorized }
        context.trace.userID = caller.userID
        let (id, email, role): (String, String, String)
        switch caller {
        case .jwt(let claims): (id, email, role) = (claims.userID, claims.email, claims.role)
        case .apiKey(let user): (id, email, role) = (user.id, user.email, user.role)
        }
        if let required = request.header("X-Auth-Require-Role"), !required.isEmpty {
            let allowed = required.split(separator: ",").map { $0.trimmingCharacters(" \t") }
            guard allowed.contains(role) else { throw APIError.forbidden }
        }
        return Response(status: 204, headers: [("X-Auth-User-Id", id), ("X-Auth-Email", email), ("X-Auth-Role", role),
                                               ("X-Auth-Method", caller.method), ("Cache-Control", "no-store")])
    }
}

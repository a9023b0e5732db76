import AuthCore
import FastCGI
import FoundationEssentials
import Logging
import Passwords

/// `GET /api/auth/verify`, for nginx `auth_request`: 204 with `X-Auth-*` headers, 401, or 403.
///
/// JWTs are checked without the database (the fastest route). nginx may send `X-Auth-Require-Role` (roles allowed,
/// comma-separated), `X-Auth-Require-Verified: 1` (403 `email_unverified` for an unverified address), `X-Auth-Require-AAL: 2`
/// (403 `mfa_required` for a session without a second factor, and for API keys) and `X-Auth-Guest-Only: 1` (for login pages: 204 only when *not* authenticated); it sets them
/// from its own configuration, never from the client.
enum VerifyHandler {
    /// Errors carry `X-Auth-Error: <code>` (nginx cannot read a subrequest's body; its snippets answer with the code).
    static func handle(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        do {
            let response = try check(context, request)
            context.metrics.record(.accessVerifiedOK)
            return response
        } catch {
            context.metrics.record(.accessVerifyFailed)
            var response = error.response
            response.headers.append(("X-Auth-Error", error.code))
            if error.code == APIError.emailUnverified.code { response.headers.append(("X-Auth-Verify-Page", context.http.verifyEmailPage)) }
            if error.code == APIError.mfaRequired.code { response.headers.append(("X-Auth-MFA-Page", context.http.mfaPage)) }
            return response
        }
    }

    private static func check(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let guestOnly = request.field(.authGuestOnly) == "1"
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
        // The gated request's own method (set by nginx, never by the client): a cookie-authenticated state change
        // behind the gate gets the same cross-site check as the service's own routes.
        if let method = request.field(.originalMethod), method != "GET", method != "HEAD", method != "OPTIONS",
            request.field(.authorization) == nil, request.field(.apiKey) == nil,
            !context.allowsCrossSite(request, route: request.field(.originalURI) ?? request.path)
        {
            throw APIError.crossSite
        }
        let (id, email, role, verified): (String, String, String, Bool)
        // How the session authenticated; an API key is one secret (AAL1) with no `amr` of its own.
        let (level, methods): (Int, [String])
        switch caller {
        case .jwt(let claims):
            (id, email, role, verified) = (claims.userID, claims.email, claims.role, claims.emailVerified)
            (level, methods) = (claims.assuranceLevel, claims.methods)
        case .apiKey(let key):
            (id, email, role, verified) = (key.user.id, key.user.email, key.user.role, key.user.emailVerifiedAt != nil)
            (level, methods) = (1, [])
        }
        // A read-only key passes only safe methods; without the gated request's method (a gate set up without
        // X-Original-Method), nothing.
        if caller.scope == .read {
            let method = request.field(.originalMethod)
            guard method == "GET" || method == "HEAD" || method == "OPTIONS" else { throw APIError.insufficientScope }
        }
        if let required = request.field(.authRequireRole), !required.isEmpty {
            let allowed = required.split(separator: ",").map { $0.trimmingCharacters(" \t") }
            guard allowed.contains(role) else { throw APIError.forbidden }
        }
        // nginx's $jwt_authd_require_verified_email (set by the site's configuration, never by the client).
        if let required = request.field(.authRequireVerified), ["1", "on", "true", "yes"].contains(required.lowercased()), !verified {
            throw APIError.emailUnverified
        }
        // nginx's $jwt_authd_require_aal: "2" needs a session that used a second factor; any other value but "1" or
        // empty is a configuration mistake and refuses everyone (fail closed).
        if let required = request.field(.authRequireAAL)?.trimmingSpacesAndTabs, !required.isEmpty, required != "1" {
            guard required == "2" else {
                context.logger.error("unknown X-Auth-Require-AAL value", metadata: ["event": "gate_misconfigured"])
                throw APIError.forbidden
            }
            if level < 2 { throw APIError.mfaRequired }
        }
        // How long nginx's gate cache (opt-in) may reuse this answer: first, since Debian's nginx 1.22 honours
        // X-Accel-Expires only before a Cache-Control line. Refusals carry none (never cached).
        var cache: [(name: String, value: String)] = []
        if let seconds = cacheSeconds(caller, context) { cache.append(("X-Accel-Expires", String(seconds))) }
        return Response(
            status: 204,
            headers: cache + [
                ("X-Auth-User-Id", id), ("X-Auth-Email", email), ("X-Auth-Email-Verified", verified ? "true" : "false"),
                ("X-Auth-Role", role),
                ("X-Auth-Method", caller.method), ("X-Auth-Scopes", caller.scope.rawValue),
                ("X-Auth-AAL", String(level)), ("X-Auth-AMR", methods.joined(separator: " ")), ("Cache-Control", "no-store"),
            ])
    }

    /// Seconds the answer may be reused: a JWT's up to `gate.cache_max` and never past its `exp` (its answer cannot
    /// change before then: the gate ignores revocation until `exp` anyway); an API key's `gate.cache_api_keys` (a
    /// revocation shows after that long); `nil`: not at all.
    static func cacheSeconds(_ caller: Caller, _ context: AuthResponder.Context) -> Int? {
        let seconds: Int
        switch caller {
        case .jwt(let claims):
            // nginx keeps an entry through the whole second its time runs out in: one second less than what is left
            // keeps every reuse before `exp`.
            let left = Int(claims.expiresAt.timeIntervalSinceNow.rounded(.down)) - 1
            seconds = min(context.http.gateCacheMax.wholeSeconds, left)
        case .apiKey:
            seconds = context.http.gateCacheAPIKeys.wholeSeconds
        }
        return seconds > 0 ? seconds : nil
    }
}

import AuthCore
import FastCGI
import Logging
import Passwords
import StrictJSON

/// Refresh, renew, logout and the session list.
enum SessionHandlers {
    /// `POST /api/auth/refresh`: with the refresh cookie (cookies rotated), or `{"refreshToken"}` (tokens in the body).
    static func refresh(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: false)
        if case .wrongType = body.string("refreshToken") { throw APIError.invalidFields([("refreshToken", "must be a string")]) }
        if let token = body.string("refreshToken").text {
            let pair = try rotate(token, context, request).mapError(APIError.init).get()
            return .json(
                status: 200,
                .object([
                    ("accessToken", .string(pair.accessToken)), ("refreshToken", .string(pair.refreshToken)),
                    ("expiresIn", .int(Int64(pair.accessExpiresIn))),
                ]))
        }
        guard let token = request.cookie(AuthCookies.refreshName), !token.isEmpty else {
            return APIError.unauthorized.response.with(headers: context.cookies.clear())
        }
        switch rotate(token, context, request) {
        case .success(let pair):
            return Response.json(status: 200, Rendering.success).with(headers: context.cookies.set(pair))
        case .failure(let error):
            // Cookies go only with a definite refusal; after a failure of the service the next try can succeed.
            let response = APIError(error).response
            return error.code.refusesTheCredential ? response.with(headers: context.cookies.clear()) : response
        }
    }

    /// `GET /api/auth/renew?return_to=/path`: the silent renewal behind the nginx gate of protected pages.
    static func renew(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let target = RedirectTarget.sameSite(returnTo(request), fallback: context.http.defaultRedirect)
        if let token = request.cookie(AuthCookies.refreshName), !token.isEmpty {
            switch rotate(token, context, request) {
            case .success(let pair):
                return Response(status: 303, headers: [("Location", target), ("Cache-Control", "no-store")] + context.cookies.set(pair))
            case .failure(let error) where !error.code.refusesTheCredential:
                // The service failed, not the session: keep the cookies and let the browser try again.
                return Rendering.unavailablePage(retry: target)
            case .failure:
                break
            }
        }
        let login = "\(context.http.loginPage)?callbackUrl=\(FormDecoding.encode(target))"
        return Response(status: 303, headers: [("Location", login), ("Cache-Control", "no-store")] + context.cookies.clear())
    }

    /// One rotation, counted in the metrics.
    private static func rotate(_ token: String, _ context: AuthResponder.Context, _ request: Request) -> Result<TokenPair, AuthError> {
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.sessions.refresh(token, client: context.client(request))
        }
        switch outcome {
        case .success(let pair):
            context.metrics.record(pair.isGraceReplay ? .refreshGrace : .refreshRotated)
            context.metrics.record(.tokenPairIssued)
            context.trace.userID = pair.user.id
        case .failure(let error):
            context.metrics.record(.refreshRefused(error.code))
        }
        return outcome
    }

    /// The renewal target. nginx's page gate appends its raw `$request_uri` (it cannot percent-encode), so when the
    /// query starts with `return_to=/`, everything after it is the target, its own `&`s included; otherwise the
    /// parameter is percent-decoded as usual.
    static func returnTo(_ request: Request) -> String? {
        let query = request.query
        if query.hasPrefix("return_to=/") { return String(query.dropFirst("return_to=".count)) }
        return request.queryParameters["return_to"]
    }

    /// `POST /api/auth/logout`: revokes the session (from the refresh token, or the access token); always 200.
    static func logout(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        // Idempotent: any JSON (even `null` or garbage) counts as "no token in the body"; only the media type is
        // enforced. A browser form (pages without JavaScript) gets a 303 to the login page instead of JSON.
        let body: BodyFields
        do {
            body = try BodyFields.parse(request, allowForm: true)
        } catch let error where error.status == 400 {
            body = BodyFields(json: nil, form: nil)
        }
        if let token = body.string("refreshToken").text ?? request.cookie(AuthCookies.refreshName), !token.isEmpty {
            try context.domain(request) { () throws(AuthError) in try context.sessions.logout(refreshToken: token) }
        } else if case .jwt(let claims)? = try? Caller.identify(request, context) {
            try context.domain(request) { () throws(AuthError) in try context.sessions.logout(sessionID: claims.sessionID) }
        }
        var response =
            body.isForm
            ? Response(status: 303, headers: [("Location", context.http.loginPage), ("Cache-Control", "no-store")])
            : Response.json(status: 200, Rendering.success)
        response.headers += context.cookies.clear()
        return response
    }

    /// `POST /api/auth/logout-all`: every session of the caller, and every API key unless `{"keepApiKeys": true}`. Account routes need a session: an API key (a
    /// leaked one especially) cannot list or end sessions.
    static func logoutAll(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let caller = try Caller.requireSession(request, context)
        let keepAPIKeys = try BodyFields.parse(request, allowForm: false).flag("keepApiKeys")
        let revoked = try context.domain(request) { () throws(AuthError) in
            try context.sessions.revokeAllSessions(of: caller.userID, keeping: nil, keepingAPIKeys: keepAPIKeys)
        }
        context.logger.info("logged out everywhere", metadata: ["event": "logout_all", "user.id": "\(caller.userID)"])
        var response = Response.json(status: 200, .object([("success", .bool(true)), ("revoked", .int(Int64(revoked)))]))
        response.headers += context.cookies.clear()
        return response
    }

    /// `GET /api/auth/sessions`.
    static func list(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let sessions = try context.domain(request) { () throws(AuthError) in try context.sessions.sessions(of: claims.userID) }
        return .json(status: 200, .object([("sessions", .array(sessions.map { Rendering.session($0, current: claims.sessionID) }))]))
    }

    /// `DELETE /api/auth/sessions/{id}`: only the caller's own sessions.
    static func revoke(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let caller = try Caller.requireSession(request, context)
        let id = Router<AuthResponder.Context>.lastSegment(of: request)
        guard try context.domain(request, { () throws(AuthError) in try context.sessions.revokeSession(id, of: caller.userID) }) else {
            throw APIError.notFound
        }
        return .json(status: 200, Rendering.success)
    }
}

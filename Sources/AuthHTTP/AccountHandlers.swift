import AuthCore
import FastCGI
import Logging
import Passwords
import StrictJSON

/// Registration, login (JSON and browser forms), the current user and password changes.
enum AccountHandlers {
    /// `POST /api/auth/register`.
    static func register(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: true)
        let page = context.http.registerPage
        guard context.http.registrationEnabled else {
            return try fail(
                APIError(status: 403, code: "registration_disabled", message: "Registration is closed"),
                body: body, page: page, context: context)
        }
        var fields: [(String, String)] = []
        let email = body.string("email").text ?? ""
        if !EmailAddress.isPlausible(EmailAddress.normalize(email)) { fields.append(("email", "must be a valid email address")) }
        let password = body.string("password").text ?? ""
        if let problem = context.accounts.passwordPolicy.problem(with: password) { fields.append(("password", problem)) }
        let nameField = body.string("name")
        if case .wrongType = nameField { fields.append(("name", "must be a string")) }
        if let name = nameField.text, name.unicodeScalars.count > 200 { fields.append(("name", "must have at most 200 characters")) }
        if !fields.isEmpty {
            let code = fields.contains { $0.0 == "password" } && fields.count == 1 ? "weak_password" : "invalid_request"
            return try fail(.invalidFields(fields, code: code), body: body, page: page, context: context)
        }
        let name = nameField.text.flatMap { $0.trimmingSpacesAndTabs.isEmpty ? nil : $0.trimmingSpacesAndTabs }
        let client = context.client(request, devices: true)
        let links = EmailHandlers.links(context, request)
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.accounts.register(email: email, password: password, name: name, client: client, links: links)
        }
        switch outcome {
        case .success(.signedIn(let pair)):
            context.logger.info("registered", metadata: ["event": "user_registered", "user.id": "\(pair.user.id)"])
            return SecondFactorHandlers.answer(.signedIn(pair), status: 201, body: body, client: client, context: context)
        case .success(.verificationRequired):
            // No session until the address is confirmed; the same answer for a taken address when enumeration-safe.
            if body.isForm {
                return context.atMailAnswerTime(
                    Response(
                        status: 303, headers: [("Location", "\(context.http.verifyEmailPage)?status=sent"), ("Cache-Control", "no-store")]))
            }
            return context.atMailAnswerTime(.json(status: 202, .object([("status", .string("verification_required"))])))
        case .failure(let error):
            return try fail(APIError(error), body: body, page: page, context: context)
        }
    }

    /// `POST /api/auth/login`: 401 with one body for an unknown email or a wrong password; for a user with a second
    /// factor, the challenge (``SecondFactorHandlers/answer(_:status:body:client:context:)``).
    static func login(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: true)
        let page = context.http.loginPage
        var fields: [(String, String)] = []
        let email = body.string("email").text ?? ""
        if !EmailAddress.isPlausible(EmailAddress.normalize(email)) { fields.append(("email", "must be a valid email address")) }
        let password = body.string("password").text ?? ""
        if password.isEmpty { fields.append(("password", "is required")) }
        // Refused before any lookup: a NUL cannot be in any stored password (bcrypt stops at it), and checking it
        // against a bcrypt account would answer without the hashing work an unknown email costs.
        if password.utf8.contains(0) { fields.append(("password", "must not contain NUL characters")) }
        if !fields.isEmpty { return try fail(.invalidFields(fields), body: body, page: page, context: context) }
        let client = context.client(request, devices: true)
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.accounts.signIn(email: email, password: password, client: client)
        }
        switch outcome {
        case .success(let signIn):
            context.metrics.record(signIn.pair == nil ? .loginSecondFactorRequired : .loginSucceeded)
            return SecondFactorHandlers.answer(signIn, status: 200, body: body, client: client, context: context)
        case .failure(let error):
            context.metrics.record(.loginRefused(error.code))
            return try fail(APIError(error), body: body, page: page, context: context)
        }
    }

    /// The form's `callbackUrl`. A page without JavaScript can only copy it from its own query string, still
    /// percent-encoded (`%2Fdashboard`): such a value is decoded once more, then checked like any other.
    static func callback(_ body: BodyFields, _ context: AuthResponder.Context) -> String {
        var value = body.string("callbackUrl").text
        if let text = value, text.lowercased().hasPrefix("%2f") { value = FormDecoding.percentDecode(Substring(text)) }
        return RedirectTarget.sameSite(value, fallback: context.http.defaultRedirect)
    }

    /// A completed authentication: the token pair's cookies, and the browser marked as known to the account (the
    /// device cookie, whose attempts count apart from the account's anonymous limit).
    ///
    /// With `enrolmentRequired` (a user of `mfa.required_roles` without a factor), JSON says `mfaEnrolmentRequired` and a
    /// form goes to `http.security_page` first, with the callback.
    static func success(
        _ pair: TokenPair, status: Int, body: BodyFields, client: ClientContext, context: AuthResponder.Context,
        enrolmentRequired: Bool = false
    ) -> Response {
        context.trace.userID = pair.user.id
        context.metrics.record(.tokenPairIssued)
        var response: Response
        if body.isForm {
            let target = callback(body, context)
            let location =
                enrolmentRequired ? "\(context.http.securityPage)?enrol=required&callbackUrl=\(FormDecoding.encode(target))" : target
            response = Response(status: 303, headers: [("Location", location), ("Cache-Control", "no-store")])
        } else {
            var members: [(String, JSON)] = [("user", Rendering.user(pair.user))]
            if enrolmentRequired { members.append(("mfaEnrolmentRequired", .bool(true))) }
            response = .json(status: status, .object(members))
        }
        response.headers += context.cookies.set(pair)
        // A failure to read the account's epoch costs only the mark, never the sign-in.
        if let device = try? context.accounts.deviceCookie(for: pair.user.id, client: client) {
            response.headers.append(context.cookies.setDevice(device))
        }
        return response
    }

    /// A JSON error, or for a browser form a 303 back to its page (which may carry a query of its own) with the error
    /// code and the callback.
    static func fail(_ error: APIError, body: BodyFields, page: String, context: AuthResponder.Context) throws(APIError) -> Response {
        guard body.isForm else { throw error }
        let separator = page.contains("?") ? "&" : "?"
        return formRedirect(error, to: "\(page)\(separator)error=\(error.code)&callbackUrl=\(FormDecoding.encode(callback(body, context)))")
    }

    /// A form's 303 back to its page (`location` already names the error): `&retryAfter=N` when throttled, and a held
    /// error (a busy refusal: see APIError.holdMilliseconds) is held as a redirect too.
    static func formRedirect(_ error: APIError, to location: String) -> Response {
        var location = location
        if error.status == 429, let wait = error.headers.first(where: { $0.name == "Retry-After" })?.value {
            location += "&retryAfter=\(wait)"
        }
        var redirect = Response(status: 303, headers: [("Location", location), ("Cache-Control", "no-store")])
        redirect.holdMilliseconds = error.holdMilliseconds
        return redirect
    }

    /// `GET /api/auth/me`: reads the database, so a token of a revoked session is refused here.
    static func me(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let userID: String
        switch try Caller.require(request, context) {
        case .jwt(let claims):
            // One read when all is well: the active session joined with the token's user. Otherwise a second read tells
            // a revoked or expired session (session_revoked) from a token whose `sub` is not its session's user: such
            // a token (only the signing key can make one) is no credential at all (401, not a user lookup).
            if let user = try context.domain(
                request,
                { () throws(AuthError) in
                    try context.sessions.activeSessionUser(sessionID: claims.sessionID, userID: claims.userID)
                })
            {
                return .json(status: 200, .object([("user", Rendering.user(user, verified: true))]))
            }
            guard try context.domain(request, { () throws(AuthError) in try context.sessions.isSessionActive(claims.sessionID) }) else {
                throw APIError(AuthError.sessionRevoked)
            }
            context.logger.warning(
                "access token whose subject is not its session's user",
                metadata: [
                    "event": "token_claims_mismatch", "session.id": "\(claims.sessionID)", "client.ip": "\(context.clientAddress(request))",
                ])
            throw APIError.unauthorized
        case .apiKey(let key):
            userID = key.user.id
        }
        guard let user = try context.domain(request, { () throws(AuthError) in try context.accounts.user(id: userID) }) else {
            throw APIError.userNotFound
        }
        return .json(status: 200, .object([("user", Rendering.user(user, verified: true))]))
    }

    /// `POST /api/auth/password`: the other sessions are revoked, the current one kept; the API keys are revoked too
    /// unless `keepApiKeys` is true.
    static func changePassword(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let body = try BodyFields.parse(request, allowForm: false)
        let current = body.string("currentPassword").text ?? ""
        let keepAPIKeys = try body.flag("keepApiKeys")
        let new = body.string("newPassword").text ?? ""
        var fields: [(String, String)] = []
        if current.isEmpty { fields.append(("currentPassword", "is required")) }
        if current.utf8.contains(0) { fields.append(("currentPassword", "must not contain NUL characters")) }
        if let problem = context.accounts.passwordPolicy.problem(with: new) { fields.append(("newPassword", problem)) }
        if !fields.isEmpty {
            throw APIError.invalidFields(fields, code: fields.count == 1 && fields[0].0 == "newPassword" ? "weak_password" : "invalid_request")
        }
        try context.domain(request) { () throws(AuthError) in
            // The current password is the reauthentication; a user with a second factor needs a session that used it.
            try context.factors.requireStepUp(userID: claims.userID, sessionID: claims.sessionID, recent: false)
            try context.accounts.changePassword(
                userID: claims.userID, current: current, new: new, keepingSession: claims.sessionID, keepingAPIKeys: keepAPIKeys)
        }
        context.logger.info("password changed", metadata: ["event": "password_changed", "user.id": "\(claims.userID)"])
        var response = Response.json(status: 200, Rendering.success)
        // The change forgot every device of the account (its epoch rose); this browser, which just gave the password,
        // is marked again.
        if let device = try? context.accounts.deviceCookie(for: claims.userID, client: context.client(request, devices: true)) {
            response.headers.append(context.cookies.setDevice(device))
        }
        return response
    }
}

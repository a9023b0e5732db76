import AuthCore
import FastCGI
import StrictJSON

/// Email verification and email change (#16). The verification routes take browser forms too (303 back to the
/// verify page), and pass the cross-site check whatever cookies they carry.
enum EmailHandlers {
    /// `POST /api/auth/email/verify` `{token}`: confirms the address (or the change) the token was sent for: 200
    /// `{user}`; 400 `email_token_invalid`; 409 `email_taken` when a changed-to address was taken meanwhile.
    static func verify(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: true)
        let page = context.http.verifyEmailPage
        let token = body.string("token").text ?? ""
        guard !token.isEmpty else { return try fail(.invalidFields([("token", "is required")]), body: body, page: page) }
        let outcome = context.attempt(request) { () throws(AuthError) in try context.accounts.verifyEmail(token: token) }
        switch outcome {
        case .success(let user):
            context.trace.userID = user.id
            if body.isForm {
                return Response(status: 303, headers: [("Location", "\(page)?status=verified"), ("Cache-Control", "no-store")])
            }
            return .json(status: 200, .object([("user", Rendering.user(user, verified: true))]))
        case .failure(let error):
            return try fail(APIError(error), body: body, page: page)
        }
    }

    /// `POST /api/auth/email/verify/resend`: `{email}` (no session needed: someone kept out by an unverified address
    /// asks here), or signed in with an empty body. Always 202 `{"status":"accepted"}`; 429 over the limits (the
    /// password reset's); 503 `mail_unavailable` when the site sends no mail.
    static func resend(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: true)
        let page = context.http.verifyEmailPage
        guard let links = links(context, request) else {
            return try fail(PasswordResetHandlers.mailUnavailable, body: body, page: page)
        }
        var userID: String?
        // Present but not a string (`null` too): refused, not taken for "no address, use the session".
        let field = body.string("email")
        if field.text == nil && body.json?["email"] != nil {
            return try fail(.invalidFields([("email", "must be a valid email address")]), body: body, page: page)
        }
        let email = field.text
        if email == nil {
            guard let caller = try Caller.identify(request, context), case .jwt(let claims) = caller else {
                return try fail(.invalidFields([("email", "is required (or sign in)")]), body: body, page: page)
            }
            userID = claims.userID
        } else if let email, !EmailAddress.isPlausible(EmailAddress.normalize(email)) {
            return try fail(.invalidFields([("email", "must be a valid email address")]), body: body, page: page)
        }
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.accounts.resendVerification(email: email, userID: userID, client: context.client(request), link: links.verify)
        }
        if case .failure(let error) = outcome { return try fail(APIError(error), body: body, page: page) }
        if body.isForm {
            return context.atMailAnswerTime(
                Response(status: 303, headers: [("Location", "\(page)?status=sent"), ("Cache-Control", "no-store")]))
        }
        return context.atMailAnswerTime(.json(status: 202, .object([("status", .string("accepted"))])))
    }

    /// `POST /api/auth/email/change` `{newEmail, password}` (signed in): 202 `{"status":"accepted"}` (also for an
    /// address already in use: no change, no mail); 401 `invalid_credentials` for a wrong password (throttled like a
    /// password change); 503 `mail_unavailable`.
    static func change(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let body = try BodyFields.parse(request, allowForm: false)
        guard let links = links(context, request) else { throw PasswordResetHandlers.mailUnavailable }
        let newEmail = body.string("newEmail").text ?? ""
        let password = body.string("password").text ?? ""
        var fields: [(String, String)] = []
        if !EmailAddress.isPlausible(EmailAddress.normalize(newEmail)) { fields.append(("newEmail", "must be a valid email address")) }
        if password.isEmpty { fields.append(("password", "is required")) }
        if password.utf8.contains(0) { fields.append(("password", "must not contain NUL characters")) }
        if !fields.isEmpty { throw APIError.invalidFields(fields) }
        try context.domain(request) { () throws(AuthError) in
            try context.factors.requireStepUp(userID: claims.userID, sessionID: claims.sessionID, recent: false)
            try context.accounts.requestEmailChange(userID: claims.userID, newEmail: newEmail, password: password, link: links.verify)
        }
        // A free and a taken address differ only by the writes: the same time for both.
        return context.atMailAnswerTime(.json(status: 202, .object([("status", .string("accepted"))])))
    }

    /// The links of account mail, or `nil` when the site sends no mail or has no base for links.
    static func links(_ context: AuthResponder.Context, _ request: Request) -> AccountMailLinks? {
        guard context.http.mailEnabled, let base = PasswordResetHandlers.linkBase(context, request) else { return nil }
        return AccountMailLinks(
            verify: MailComposer.Link(base: base, page: context.http.verifyEmailPage),
            forgot: MailComposer.Link(base: base, page: context.http.forgotPage))
    }

    /// A JSON error, or for a form a 303 back to the verify page with the code.
    private static func fail(_ error: APIError, body: BodyFields, page: String) throws(APIError) -> Response {
        guard body.isForm else { throw error }
        return AccountHandlers.formRedirect(error, to: "\(page)?error=\(error.code)")
    }
}

import AuthCore
import FastCGI
import Passwords
import StrictJSON

/// Password reset by mail (#16): asking for a link, and setting the new password with it. Both also take browser
/// forms (303 like login), and both pass the cross-site check whatever cookies they carry.
enum PasswordResetHandlers {
    static let mailUnavailable = APIError(
        status: 503, code: "mail_unavailable", message: "This site sends no mail: ask its administrator to reset your password")

    /// `POST /api/auth/password/forgot` `{email}`: always 202 `{"status":"accepted"}` for a plausible address, known
    /// or not (no enumeration); 429 when over the per-account or per-address limit; 503 `mail_unavailable` when the
    /// site sends no mail.
    static func forgot(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: true)
        let page = context.http.forgotPage
        guard context.http.mailEnabled, let base = linkBase(context, request) else {
            return try fail(mailUnavailable, body: body, page: page)
        }
        let email = body.string("email").text ?? ""
        guard EmailAddress.isPlausible(EmailAddress.normalize(email)) else {
            return try fail(.invalidFields([("email", "must be a valid email address")]), body: body, page: page)
        }
        let link = MailComposer.Link(base: base, page: context.http.resetPage)
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.accounts.requestPasswordReset(email: email, client: context.client(request), link: link)
        }
        if case .failure(let error) = outcome { return try fail(APIError(error), body: body, page: page) }
        if body.isForm {
            return context.atMailAnswerTime(
                Response(status: 303, headers: [("Location", "\(page)?status=accepted"), ("Cache-Control", "no-store")]))
        }
        return context.atMailAnswerTime(.json(status: 202, .object([("status", .string("accepted"))])))
    }

    /// `POST /api/auth/password/reset` `{token, newPassword}`: sets the password, ends every session and API key of
    /// the user and signs this browser in (200 `{user}` and the cookies, like login); 400 `reset_token_invalid` for a
    /// token that is unknown, used, expired or outlived.
    static func reset(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: true)
        let token = body.string("token").text ?? ""
        let page = context.http.resetPage
        let newPassword = body.string("newPassword").text ?? ""
        var fields: [(String, String)] = []
        if token.isEmpty { fields.append(("token", "is required")) }
        if let problem = context.accounts.passwordPolicy.problem(with: newPassword) { fields.append(("newPassword", problem)) }
        if !fields.isEmpty {
            let code = fields.count == 1 && fields[0].0 == "newPassword" ? "weak_password" : "invalid_request"
            return try fail(.invalidFields(fields, code: code), body: body, page: page, token: token)
        }
        let client = context.client(request, devices: true)
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.accounts.resetPassword(token: token, newPassword: newPassword, client: client)
        }
        switch outcome {
        case .success(let signIn):
            // A user with a second factor gets its challenge: the mailbox alone never passes it.
            return SecondFactorHandlers.answer(signIn, status: 200, body: body, client: client, context: context)
        case .failure(let error):
            return try fail(APIError(error), body: body, page: page, token: token)
        }
    }

    /// The base of links in mail: `http.public_url`, or in development the request's own scheme and host (so that a
    /// local stack needs no setting); `nil` when neither is known (or the host is not a plain host name).
    static func linkBase(_ context: AuthResponder.Context, _ request: Request) -> String? {
        if !context.http.publicURL.isEmpty { return context.http.publicURL }
        guard context.http.isDevelopment, let host = request.field(.host), !host.isEmpty,
            host.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || "0123456789.-:[]".unicodeScalars.contains($0)) })
        else { return nil }
        let secure = request.param("HTTPS").map { !$0.isEmpty && $0.lowercased() != "off" } ?? false
        return "\(secure ? "https" : "http")://\(host)"
    }

    /// A JSON error, or for a form a 303 back to its page with the code (and the token, for the reset page to keep).
    private static func fail(_ error: APIError, body: BodyFields, page: String, token: String = "") throws(APIError) -> Response {
        guard body.isForm else { throw error }
        var location = "\(page)?error=\(error.code)"
        if !token.isEmpty, token.utf8.count <= 64, token.utf8.allSatisfy({ base64URLAlphabet.contains($0) }) {
            location += "&token=\(token)"
        }
        return AccountHandlers.formRedirect(error, to: location)
    }

    private static let base64URLAlphabet = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8))
}

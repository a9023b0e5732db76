import AuthCore
import FastCGI
import Logging
import StrictJSON

/// The second step of a sign-in and the reauthentication of a signed-in session (#17).
enum SecondFactorHandlers {
    /// What a right password (login or reset) answers: the session (like login), or for a user with a second factor
    /// `200 {"mfaRequired": true, "factors": [...]}` with the `mfa_pending` cookie instead of the pair (a form: 303 to
    /// `http.mfa_page`). A user of `mfa.required_roles` without a factor also gets `"mfaEnrolmentRequired": true` (a
    /// form: 303 to `http.security_page`).
    static func answer(
        _ signIn: SignIn, status: Int, body: BodyFields, client: ClientContext, context: AuthResponder.Context
    ) -> Response {
        switch signIn {
        case .signedIn(let pair):
            // The pair came without a second factor (a user who has one gets a challenge): a user of a role that needs
            // one is sent to add it.
            return AccountHandlers.success(
                pair, status: status, body: body, client: client, context: context,
                enrolmentRequired: context.http.mfaRequiredRoles.contains(pair.user.role))
        case .secondFactorRequired(let challenge):
            var response: Response
            if body.isForm {
                let location = "\(context.http.mfaPage)?callbackUrl=\(FormDecoding.encode(AccountHandlers.callback(body, context)))"
                response = Response(status: 303, headers: [("Location", location), ("Cache-Control", "no-store")])
            } else {
                response = .json(
                    status: 200, .object([("mfaRequired", .bool(true)), ("factors", .array(challenge.factors.map { .string($0) }))]))
            }
            // A pending sign-in replaces any session cookie this browser had.
            response.headers += context.cookies.clear()
            response.headers.append(context.cookies.setMFAPending(challenge))
            return response
        }
    }

    /// `POST /api/auth/mfa/verify` `{code}` or `{recoveryCode}`, with the `mfa_pending` cookie: finishes the sign-in
    /// (the pair, like login). 401 `invalid_code` for a wrong or used code and for a challenge that is unknown,
    /// expired, used or out of attempts (after 5 wrong codes any code gets 401); 429 over the account's limit.
    static func verify(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: true)
        let page = context.http.mfaPage
        let proof: SecondFactorProof
        do throws(APIError) {
            proof = try self.proof(body)
        } catch {
            return try AccountHandlers.fail(error, body: body, page: page, context: context)
        }
        // (Two pending cookies never get here: the responder refuses an ambiguous auth cookie first.)
        guard let token = request.cookie(AuthCookies.mfaPendingName), !token.isEmpty else {
            var response = try AccountHandlers.fail(APIError(AuthError.invalidCode), body: body, page: page, context: context)
            response.headers.append(context.cookies.clearMFAPending())
            return response
        }
        let client = context.client(request, devices: true)
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.factors.completeSignIn(challenge: token, proof: proof, client: client)
        }
        switch outcome {
        case .success(let pair):
            record(proof, context)
            context.logger.info("signed in with a second factor", metadata: ["event": "mfa_verified", "user.id": "\(pair.user.id)"])
            var response = AccountHandlers.success(pair, status: 200, body: body, client: client, context: context)
            response.headers.append(context.cookies.clearMFAPending())
            return response
        case .failure(let error):
            context.metrics.record(error.code == .throttled ? .mfaThrottled : .mfaFailed)
            return try AccountHandlers.fail(APIError(error), body: body, page: page, context: context)
        }
    }

    /// `POST /api/auth/reauthenticate` `{password}`, `{code}` or `{recoveryCode}`: a new act of authentication of the
    /// current session (its `auth_time` now; a code makes it AAL2); answers with a new access cookie.
    static func reauthenticate(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let body = try BodyFields.parse(request, allowForm: true)
        let page = "\(context.http.mfaPage)?stepUp=1"
        let presented: Reauthentication
        do throws(APIError) {
            presented = try reauthentication(body)
        } catch {
            return try AccountHandlers.fail(error, body: body, page: page, context: context)
        }
        let client = context.client(request)
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.factors.reauthenticate(userID: claims.userID, sessionID: claims.sessionID, with: presented, client: client)
        }
        switch outcome {
        case .success(let access):
            if case .secondFactor(let proof) = presented { record(proof, context) }
            context.logger.info("reauthenticated", metadata: ["event": "reauthenticated", "user.id": "\(claims.userID)"])
            var response =
                body.isForm
                ? Response(status: 303, headers: [("Location", AccountHandlers.callback(body, context)), ("Cache-Control", "no-store")])
                : Response.json(status: 200, Rendering.success)
            response.headers.append(context.cookies.setAccess(access.token, maxAge: access.expiresIn))
            return response
        case .failure(let error):
            if case .secondFactor = presented { context.metrics.record(error.code == .throttled ? .mfaThrottled : .mfaFailed) }
            return try AccountHandlers.fail(APIError(error), body: body, page: page, context: context)
        }
    }

    /// `{password}`, or a second factor.
    static func reauthentication(_ body: BodyFields) throws(APIError) -> Reauthentication {
        guard body.string("password") != .absent else { return .secondFactor(try proof(body)) }
        guard body.string("code") == .absent, body.string("recoveryCode") == .absent, body.json?["passkey"] == nil else {
            throw APIError.invalidFields([("password", "send one of password, code, recoveryCode or passkey")])
        }
        guard let password = body.string("password").text, !password.isEmpty, password.utf8.count <= 4096, !password.utf8.contains(0)
        else { throw APIError.invalidFields([("password", "must be a non-empty string without NUL characters")]) }
        return .password(password)
    }

    /// `{code}` (a TOTP code), `{recoveryCode}` or `{passkey}` (a passkey's assertion, JSON only): exactly one.
    static func proof(_ body: BodyFields) throws(APIError) -> SecondFactorProof {
        let hasCode = body.string("code") != .absent
        let hasRecovery = body.string("recoveryCode") != .absent
        let hasPasskey = body.json?["passkey"].map { $0 != .null } ?? false
        switch (hasCode, hasRecovery, hasPasskey) {
        case (true, false, false): return .code(try MFAHandlers.codeField(body, "code"))
        case (false, true, false): return .recoveryCode(try MFAHandlers.codeField(body, "recoveryCode"))
        case (false, false, true): return .passkey(try PasskeyHandlers.credentialField(body, "passkey"))
        default: throw APIError.invalidFields([("code", "send one of code, recoveryCode or passkey")])
        }
    }

    private static func record(_ proof: SecondFactorProof, _ context: AuthResponder.Context) {
        context.metrics.record(.mfaSucceeded)
        if case .recoveryCode = proof { context.metrics.record(.recoveryCodeUsed) }
    }
}

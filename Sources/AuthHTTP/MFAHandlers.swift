import AuthCore
import FastCGI
import Logging
import QRCode
import StrictJSON

/// Second factors of the signed-in user (#17): TOTP enrolment, the list, removal and new recovery codes. Only with a
/// session (an API key cannot change how its user signs in); adding and removing need a recent authentication.
enum MFAHandlers {
    /// `POST /api/auth/mfa/totp` `{name?}`: a new secret, pending until confirmed: `{id, otpauthUri, qrSvg}`.
    static func beginTOTP(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let name = try BodyFields.parse(request, allowForm: false).factorName()
        try requireAvailable(context)
        try requireRecentAuthentication(claims, context, request)
        let enrolment = try context.domain(request) { () throws(AuthError) in
            try context.factors.beginTOTP(userID: claims.userID, name: name)
        }
        guard let svg = QRCode.svg(enrolment.otpauthURI) else {
            context.logger.error("QR code could not be made", metadata: ["event": "qr_failed"])
            throw APIError.internalError
        }
        return .json(
            status: 200,
            .object([
                ("id", .string(enrolment.id)), ("otpauthUri", .string(enrolment.otpauthURI)), ("secret", .string(enrolment.secretBase32)),
                ("qrSvg", .string(svg)),
            ]))
    }

    /// `POST /api/auth/mfa/totp/confirm` `{code}`: activates the pending factor; `{recoveryCodes}` (shown once). The
    /// code also counts as an authentication of this session: a new access cookie with `amr` `otp` (AAL2).
    static func confirmTOTP(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let code = try codeField(BodyFields.parse(request, allowForm: false), "code")
        try requireAvailable(context)
        let confirmed = try context.domain(request) { () throws(AuthError) in
            try context.factors.confirmTOTP(userID: claims.userID, sessionID: claims.sessionID, code: code)
        }
        context.logger.notice(
            "second factor added", metadata: ["event": "mfa_factor_added", "user.id": "\(claims.userID)", "mfa.kind": "totp"])
        var response = Response.json(
            status: 200, .object([("recoveryCodes", .array(confirmed.recoveryCodes.map { .string($0) }))]))
        response.headers.append(context.cookies.setAccess(confirmed.accessToken.token, maxAge: confirmed.accessToken.expiresIn))
        return response
    }

    /// `GET /api/auth/mfa`: `{available, factors: [{id, kind, name, createdAt, lastUsedAt}], recoveryCodesLeft}`.
    static func list(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let summary = try context.domain(request) { () throws(AuthError) in try context.factors.factors(of: claims.userID) }
        let factors: [JSON] = summary.factors.map { factor in
            .object([
                ("id", .string(factor.id)), ("kind", .string(factor.kind)), ("name", factor.name.map { .string($0) } ?? .null),
                ("createdAt", Rendering.date(factor.createdAt)), ("lastUsedAt", Rendering.date(factor.lastUsedAt)),
            ])
        }
        return .json(
            status: 200,
            .object([
                ("available", .bool(context.factors.isAvailable)), ("factors", .array(factors)),
                ("recoveryCodesLeft", .int(Int64(summary.recoveryCodesLeft))),
                ("assuranceLevel", .int(Int64(claims.assuranceLevel))),
            ]))
    }

    /// `DELETE /api/auth/mfa/{id}`: removes one factor (the recovery codes go with the last one).
    static func remove(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let id = Router<AuthResponder.Context>.lastSegment(of: request)
        try requireRecentAuthentication(claims, context, request)
        guard try context.domain(request, { () throws(AuthError) in try context.factors.removeFactor(id: id, of: claims.userID) }) else {
            throw APIError.notFound
        }
        context.logger.notice("second factor removed", metadata: ["event": "mfa_factor_removed", "user.id": "\(claims.userID)"])
        return .json(status: 200, Rendering.success)
    }

    /// `POST /api/auth/mfa/recovery-codes`: a new set (the old codes die); 404 without an active factor.
    static func newRecoveryCodes(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        try requireAvailable(context)
        try requireRecentAuthentication(claims, context, request)
        let codes = try context.domain(request) { () throws(AuthError) in try context.factors.replaceRecoveryCodes(userID: claims.userID) }
        context.logger.notice("recovery codes replaced", metadata: ["event": "mfa_recovery_codes_replaced", "user.id": "\(claims.userID)"])
        return .json(status: 200, .object([("recoveryCodes", .array(codes.map { .string($0) }))]))
    }

    /// 503 `mfa_unavailable` when no key is configured.
    static func requireAvailable(_ context: AuthResponder.Context) throws(APIError) {
        guard context.factors.isAvailable else { throw APIError(AuthError.mfaUnavailable) }
    }

    /// 403 `reauthentication_required` unless the session authenticated within `accounts.reauth_window`, or
    /// `mfa_required` when the user has a second factor and the session did not use it.
    static func requireRecentAuthentication(_ claims: AccessClaims, _ context: AuthResponder.Context, _ request: Request) throws(APIError) {
        try context.domain(request) { () throws(AuthError) in
            try context.factors.requireStepUp(userID: claims.userID, sessionID: claims.sessionID, recent: true)
        }
    }

    /// A code field: a string of at most 64 characters (more cannot be a code: refused before any work).
    static func codeField(_ body: BodyFields, _ name: String) throws(APIError) -> String {
        guard let code = body.string(name).text, !code.isEmpty, code.utf8.count <= 64 else {
            throw APIError.invalidFields([(name, "is required (a string of at most 64 characters)")])
        }
        return code
    }
}

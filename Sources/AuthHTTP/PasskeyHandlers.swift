import AuthCore
import FastCGI
import JOSE
import Logging
import StrictJSON

/// Passkeys (#18): registration on a signed-in session, passwordless sign-in, the second step of a password sign-in,
/// reauthentication, and the user's list. Options are the JSON forms of WebAuthn's options dictionaries (binary values
/// base64url), ready for `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`; a
/// credential comes back as `PublicKeyCredential.toJSON()` gives it. JSON only (a ceremony needs JavaScript).
enum PasskeyHandlers {
    /// `POST /api/auth/passkeys/register/options`: creation options; needs a recent authentication (and, for a user
    /// with a factor, a session that used one), like adding any factor.
    static func registrationOptions(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let options = try context.domain(request) { () throws(AuthError) in
            try context.passkeys.passkeyRegistrationOptions(userID: claims.userID, sessionID: claims.sessionID)
        }
        return .json(status: 200, options)
    }

    /// `POST /api/auth/passkeys/register` `{credential, name?}`: verifies and stores the passkey; 201
    /// `{passkey, recoveryCodes?}` (codes when it is the first factor) and a new access cookie (the registration
    /// counts as an authentication with it).
    static func register(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let body = try BodyFields.parse(request, allowForm: false)
        let credential = try credentialField(body, "credential")
        let name = try body.factorName()
        let registered = try context.domain(request) { () throws(AuthError) in
            try context.passkeys.registerPasskey(userID: claims.userID, sessionID: claims.sessionID, response: credential, name: name)
        }
        context.metrics.record(.passkeyRegistered)
        context.logger.notice(
            "second factor added", metadata: ["event": "mfa_factor_added", "user.id": "\(claims.userID)", "mfa.kind": "passkey"])
        var members: [(String, JSON)] = [("passkey", render(registered.passkey))]
        if let codes = registered.recoveryCodes { members.append(("recoveryCodes", .array(codes.map { .string($0) }))) }
        var response = Response.json(status: 201, .object(members))
        response.headers.append(context.cookies.setAccess(registered.accessToken.token, maxAge: registered.accessToken.expiresIn))
        return response
    }

    /// `POST /api/auth/passkeys/login/options` `{email?}`: request options for a sign-in without a password. With an
    /// address, the challenge is that account's; no credential ids are listed, so the answer does not tell whether the
    /// account exists.
    static func signInOptions(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: false)
        var email: String?
        switch body.string("email") {
        case .absent: break
        case .value(let text) where !text.isEmpty && text.utf8.count <= 320: email = text
        case .value, .wrongType: throw APIError.invalidFields([("email", "must be an email address")])
        }
        let options = try context.domain(request) { () throws(AuthError) in try context.passkeys.passkeySignInOptions(email: email) }
        return .json(status: 200, options)
    }

    /// `POST /api/auth/passkeys/login` `{credential}`: a sign-in with a passkey alone: the pair, like login. 401
    /// `invalid_credentials` for anything that does not verify, 429 over the address's login limit.
    static func signIn(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let body = try BodyFields.parse(request, allowForm: false)
        let credential = try credentialField(body, "credential")
        let client = context.client(request, devices: true)
        let outcome = context.attempt(request) { () throws(AuthError) in
            try context.passkeys.signInWithPasskey(response: credential, client: client)
        }
        switch outcome {
        case .success(let pair):
            context.metrics.record(.passkeyLoginSucceeded)
            return AccountHandlers.success(
                pair, status: 200, body: body, client: client, context: context,
                enrolmentRequired: false)
        case .failure(let error):
            context.metrics.record(error.code == .throttled ? .passkeyLoginThrottled : .passkeyLoginFailed)
            throw APIError(error)
        }
    }

    /// `POST /api/auth/mfa/passkey/options`, with the `mfa_pending` cookie: request options for the pending sign-in's
    /// passkeys. 401 `invalid_code` without a live pending sign-in.
    static func secondFactorOptions(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        guard let token = request.cookie(AuthCookies.mfaPendingName), !token.isEmpty else { throw APIError(AuthError.invalidCode) }
        let options = try context.domain(request) { () throws(AuthError) in try context.passkeys.passkeyOptions(pendingSignIn: token) }
        return .json(status: 200, options)
    }

    /// `POST /api/auth/passkeys/reauthenticate/options`: request options for the signed-in user's passkeys, answered
    /// at `POST /api/auth/reauthenticate` `{passkey}`.
    static func reauthenticationOptions(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let options = try context.domain(request) { () throws(AuthError) in
            try context.passkeys.passkeyReauthenticationOptions(userID: claims.userID, sessionID: claims.sessionID)
        }
        return .json(status: 200, options)
    }

    /// `GET /api/auth/passkeys`: `{available, passkeys: [...]}`.
    static func list(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let passkeys = try context.domain(request) { () throws(AuthError) in try context.passkeys.passkeys(of: claims.userID) }
        return .json(
            status: 200, .object([("available", .bool(context.passkeys.passkeysAvailable)), ("passkeys", .array(passkeys.map(render)))]))
    }

    /// `PATCH /api/auth/passkeys/{id}` `{name}`: renames one (`null` or empty: no name).
    static func rename(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let id = Router<AuthResponder.Context>.lastSegment(of: request)
        let body = try BodyFields.parse(request, allowForm: false)
        let name = try body.factorName()
        guard try context.domain(request, { () throws(AuthError) in try context.passkeys.renamePasskey(id: id, of: claims.userID, to: name) })
        else { throw APIError.notFound }
        return .json(status: 200, Rendering.success)
    }

    /// `DELETE /api/auth/passkeys/{id}`: removes one (a recent authentication; the recovery codes go with the last
    /// factor).
    static func remove(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        let claims = try Caller.requireSession(request, context)
        let id = Router<AuthResponder.Context>.lastSegment(of: request)
        guard
            try context.domain(
                request, { () throws(AuthError) in try context.passkeys.removePasskey(id: id, of: claims.userID, sessionID: claims.sessionID) })
        else { throw APIError.notFound }
        context.logger.notice("second factor removed", metadata: ["event": "mfa_factor_removed", "user.id": "\(claims.userID)"])
        return .json(status: 200, Rendering.success)
    }

    /// A credential member: a JSON object (`PublicKeyCredential.toJSON()`).
    static func credentialField(_ body: BodyFields, _ name: String) throws(APIError) -> JSON {
        guard let value = body.json?[name], case .object = value else {
            throw APIError.invalidFields([(name, "is required: the object PublicKeyCredential.toJSON() gives")])
        }
        return value
    }

    static func render(_ passkey: PasskeyInfo) -> JSON {
        .object([
            ("id", .string(passkey.id)), ("name", passkey.name.map { .string($0) } ?? .null),
            ("createdAt", Rendering.date(passkey.createdAt)), ("lastUsedAt", Rendering.date(passkey.lastUsedAt)),
            ("synced", .bool(passkey.backupEligible)), ("backedUp", .bool(passkey.backupState)),
            ("userVerified", .bool(passkey.userVerified)), ("transports", .array(passkey.transports.map { .string($0) })),
            ("aaguid", .string(uuid(passkey.aaguid))), ("algorithm", .int(passkey.algorithm)),
        ])
    }

    /// An AAGUID in its UUID form (all zeros: the authenticator did not say).
    static func uuid(_ bytes: [UInt8]) -> String {
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        guard hex.count == 32 else { return hex }
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}

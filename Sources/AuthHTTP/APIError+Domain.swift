import AuthCore
import StrictJSON

extension APIError {
    /// The client's view of a domain error: an exhaustive switch, so a new domain code must be given its status here.
    init(_ error: AuthError) {
        switch error.code {
        case .invalidCredentials: self = APIError(status: 401, code: "invalid_credentials", message: "Invalid credentials")
        case .throttled:
            let wait = error.retryAfter ?? 60
            self = APIError(
                status: 429, code: "throttled", message: "Too many attempts; try again in \(wait) s",
                headers: [("Retry-After", String(wait))], extra: [("retryAfter", .int(Int64(wait)))])
        case .emailTaken: self = APIError(status: 409, code: "email_taken", message: error.message)
        case .invalidInput: self = APIError(status: 400, code: "invalid_request", message: error.message)
        case .weakPassword: self = APIError(status: 400, code: "weak_password", message: error.message)
        case .invalidToken: self = .unauthorized
        case .tokenExpired: self = APIError(status: 401, code: "token_expired", message: "Token expired")
        case .tokenReused: self = APIError(status: 401, code: "token_reused", message: error.message)
        case .sessionExpired: self = APIError(status: 401, code: "session_expired", message: "Session expired")
        case .sessionRevoked: self = APIError(status: 401, code: "session_revoked", message: "Session revoked")
        case .notFound: self = .notFound
        case .busy:
            self = APIError(
                status: 503, code: "service_busy", message: "Too many sign-ins at once; try again in a moment",
                headers: [("Retry-After", "1")], holdMilliseconds: 1000)
        case .reauthenticationRequired:
            self = APIError(
                status: 403, code: "reauthentication_required",
                message: "This needs a recent sign-in: authenticate again (POST /api/auth/reauthenticate with your password or a code)")
        case .resetTokenInvalid:
            self = APIError(
                status: 400, code: "reset_token_invalid", message: "This link is not valid any more: ask for a new one")
        case .emailTokenInvalid:
            self = APIError(
                status: 400, code: "email_token_invalid", message: "This link is not valid any more: ask for a new one")
        case .emailUnverified: self = .emailUnverified
        case .invalidCode: self = APIError(status: 401, code: "invalid_code", message: "Invalid code")
        case .mfaRequired: self = .mfaRequired
        case .mfaUnavailable:
            self = APIError(status: 503, code: "mfa_unavailable", message: "Second factors are not set up on this site")
        case .passkeyInvalid: self = APIError(status: 400, code: "passkey_invalid", message: error.message)
        case .passkeysUnavailable:
            self = APIError(status: 503, code: "passkeys_unavailable", message: "Passkeys are not set up on this site")
        case .databaseUnavailable: self = .unavailable
        case .databaseFailure, .internalFailure: self = .internalError
        }
    }

    static let unauthorized = APIError(status: 401, code: "unauthorized", message: "Authentication required")
    static let unavailable = APIError(
        status: 503, code: "service_unavailable", message: "Service temporarily unavailable",
        headers: [("Retry-After", "5")])
    static let forbidden = APIError(status: 403, code: "forbidden", message: "Forbidden")
    static let crossSite = APIError(status: 403, code: "cross_site_request", message: "Cross-site request refused")
    static let insufficientScope = APIError(
        status: 403, code: "insufficient_scope", message: "This API key may only read (GET, HEAD, OPTIONS)")
    static let emailUnverified = APIError(
        status: 403, code: "email_unverified",
        message: "Confirm your email address first: open the link we sent (POST /api/auth/email/verify/resend sends a new one)")
    static let mfaRequired = APIError(
        status: 403, code: "mfa_required", message: "This needs a sign-in with a second factor (POST /api/auth/reauthenticate with a code)")
    static let userNotFound = APIError(status: 404, code: "user_not_found", message: "User not found")
}

extension AuthError.Code {
    /// Whether the presented credential is refused for good (its cookies should go), as opposed to a failure of the
    /// service, after which the same credential may succeed.
    var refusesTheCredential: Bool {
        switch self {
        case .invalidToken, .tokenExpired, .tokenReused, .sessionExpired, .sessionRevoked, .invalidCredentials, .invalidCode:
            true
        case .throttled, .emailTaken, .invalidInput, .weakPassword, .notFound, .reauthenticationRequired, .busy, .databaseUnavailable,
            .databaseFailure, .internalFailure, .resetTokenInvalid, .emailTokenInvalid, .emailUnverified, .mfaUnavailable, .mfaRequired,
            .passkeyInvalid, .passkeysUnavailable:
            false
        }
    }
}

import AuthCore
import MariaDB
import StrictJSON

extension APIError {
    /// The client's view of a domain error.
    static func from(_ error: AuthError) -> APIError {
        switch error.code {
        case .invalidCredentials: return APIError(status: 401, code: "invalid_credentials", message: "Invalid credentials")
        case .throttled:
            let wait = error.retryAfter ?? 60
            return APIError(status: 429, code: "throttled", message: "Too many attempts; try again in \(wait) s",
                            headers: [("Retry-After", String(wait))], extra: [("retryAfter", .int(Int64(wait)))])
        case .emailTaken: return APIError(status: 409, code: "email_taken", message: error.message)
        case .invalidInput: return APIError(status: 400, code: "invalid_request", message: error.message)
        case .weakPassword: return APIError(status: 400, code: "weak_password", message: error.message)
        case .invalidToken: return .unauthorized
        case .tokenExpired: return APIError(status: 401, code: "token_expired", message: "Token expired")
        case .tokenReused: return APIError(status: 401, code: "token_reused", message: error.message)
        case .sessionExpired: return APIError(status: 401, code: "session_expired", message: "Session expired")
        case .sessionRevoked: return APIError(status: 401, code: "session_revoked", message: "Session revoked")
        case .notFound: return .notFound
        default: return .unavailable
        }
    }

    static let unauthorized = APIError(status: 401, code: "unauthorized", message: "Authentication required")
    static let unavailable = APIError(status: 503, code: "service_unavailable", message: "Service temporarily unavailable",
                                      headers: [("Retry-After", "5")])
    static let forbidden = APIError(status: 403, code: "forbidden", message: "Forbidden")
    static let crossSite = APIError(status: 403, code: "cross_site_request", message: "Cross-site request refused")
}

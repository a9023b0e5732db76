public import FastCGI
public import StrictJSON

/// An error the client sees: an HTTP status, a stable snake_case code (never renamed) and a short message.
///
/// The internal cause of a failure is logged, never put here.
public struct APIError: Error, Sendable, Equatable {
    public let status: Int
    public let code: String
    public let message: String
    /// Extra response headers (e.g. `Allow` on 405, `Retry-After` on 429).
    public let headers: [(name: String, value: String)]
    /// Extra body members (`fields` on validation errors, `retryAfter` on 429).
    public let extra: [(String, JSON)]
    /// When positive, the answer goes out this much later without holding a thread (``Response/holdMilliseconds``).
    public let holdMilliseconds: Int

    public init(
        status: Int, code: String, message: String, headers: [(name: String, value: String)] = [],
        extra: [(String, JSON)] = [], holdMilliseconds: Int = 0
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra
        self.holdMilliseconds = holdMilliseconds
    }

    /// A 400 naming the fields that are wrong.
    public static func invalidFields(_ fields: [(String, String)], code: String = "invalid_request") -> APIError {
        APIError(
            status: 400, code: code, message: "Invalid request data",
            extra: [("fields", .object(fields.map { ($0.0, .string($0.1)) }))])
    }

    public static func == (lhs: APIError, rhs: APIError) -> Bool {
        lhs.status == rhs.status && lhs.code == rhs.code
    }

    public static let notFound = APIError(status: 404, code: "not_found", message: "Not found")
    public static let payloadTooLarge = APIError(status: 413, code: "payload_too_large", message: "Request body too large")
    public static let internalError = APIError(status: 500, code: "internal_error", message: "Internal server error")
    public static func methodNotAllowed(allow: [String]) -> APIError {
        APIError(
            status: 405, code: "method_not_allowed", message: "Method not allowed",
            headers: [("Allow", allow.joined(separator: ", "))])
    }

    /// The JSON response: `{"error": message, "code": code}`.
    public var response: Response {
        var response = Response.json(status: status, .object([("error", .string(message)), ("code", .string(code))] + extra))
        response.headers.append(contentsOf: headers)
        response.holdMilliseconds = holdMilliseconds
        return response
    }
}

extension Response {
    /// This response with more headers.
    func with(headers more: [(name: String, value: String)]) -> Response {
        var copy = self
        copy.headers += more
        return copy
    }

    /// A JSON response; `Cache-Control: no-store` since auth answers must never be cached.
    public static func json(status: Int, _ value: JSON) -> Response {
        Response(
            status: status,
            headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
            body: value.bytes)
    }
}

public import AuthCore
public import FastCGI
import JOSE
public import Logging
import StrictJSON

/// The jwt-authd request handler of one server thread: routes requests to the handlers with the thread's services.
public final class AuthResponder: RequestHandler {
    private let context: Context
    private let router: Router<Context>

    /// A handler over a context (its services by protocol).
    public init(context: Context) {
        self.context = context
        router = Routes.makeRouter()
    }

    /// The handler of one thread, over that thread's composed services.
    public convenience init(http: Config.HTTP, services: AuthServices, metrics: ServiceMetrics, logger: Logger) {
        self.init(
            context: Context(
                http: http, accounts: services.accounts, sessions: services.sessions, apiKeys: services.apiKeys,
                factors: services.accounts, passkeys: services.accounts, tokens: services.tokens, health: services.database,
                jwks: Self.jwksDocument(services.settings),
                metrics: metrics, logger: logger))
    }

    /// The JWKS document of the access keys, or `nil` when they have no public part (HS256).
    static func jwksDocument(_ settings: AuthSettings) -> [UInt8]? {
        guard let document = try? settings.accessSigner.keys.jwks(), case .array(let keys)? = document["keys"], !keys.isEmpty
        else { return nil }
        return document.bytes
    }

    public func handle(_ request: Request) -> Response {
        let started = ContinuousClock.now
        context.trace.userID = nil
        context.trace.startedMilliseconds = Server.monotonicMilliseconds()
        let response = dispatch(request)
        let elapsed = ContinuousClock.now - started
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        context.metrics.record(path: request.path, status: response.status, seconds: Double(micros) / 1_000_000)
        guard context.http.logRequests else { return response }
        var metadata: Logger.Metadata = [
            "http.method": "\(request.method)", "http.route": "\(request.path)", "http.status": "\(response.status)",
            "duration_ms": "\(Double(micros) / 1000)",
        ]
        if let user = context.trace.userID { metadata["user.id"] = "\(user)" }
        if let id = request.field(.requestID) { metadata["request.id"] = "\(id)" }
        context.logger.info("request", metadata: metadata)
        return response
    }

    private func dispatch(_ request: Request) -> Response {
        if request.field(.cookie) != nil, let ambiguous = ambiguousCookie(request) { return ambiguous }
        if request.method != "GET" && request.method != "HEAD", needsCrossSiteCheck(request),
            !context.allowsCrossSite(request, route: request.path)
        {
            return APIError.crossSite.response
        }
        return router.respond(to: request, context: context)
    }

    /// An auth cookie sent more than once is not guessed at (cookie tossing: a sibling subdomain can plant one with
    /// `Domain=` and a more specific path, which the browser sends first). Answers 400 `ambiguous_cookie` and clears
    /// the host-only cookies (the gate's check gets 401 with that code, since nginx cannot pass cookies on), with a
    /// security event; `nil` when each auth cookie appears at most once.
    private func ambiguousCookie(_ request: Request) -> Response? {
        let names = [context.cookies.accessName, AuthCookies.refreshName, AuthCookies.mfaPendingName]
        let counts = request.cookieCounts(names)
        guard let index = counts.firstIndex(where: { $0 > 1 }) else { return nil }
        context.logger.warning(
            "an auth cookie was sent more than once; refused",
            metadata: [
                "event": "ambiguous_cookie", "cookie": "\(names[index])", "route": "\(request.path)",
                "client.ip": "\(context.clientAddress(request))",
            ])
        let error = APIError(status: 400, code: "ambiguous_cookie", message: "An authentication cookie was sent more than once")
        if request.path == "/api/auth/verify" {
            return APIError(status: 401, code: error.code, message: error.message).response.with(headers: [("X-Auth-Error", error.code)])
        }
        // The duplicated cookie's own host-only copy is cleared (a pending sign-in's alone, or the session's pair).
        let cleared = names[index] == AuthCookies.mfaPendingName ? [context.cookies.clearMFAPending()] : context.cookies.clear()
        return error.response.with(headers: cleared)
    }

    /// State changes carried by auth cookies, and every login or registration (against login CSRF, whatever other
    /// credentials come with it). Exempt: an `X-API-Key` (a custom header, which a browser sends cross-site only
    /// after a CORS preflight this service never answers) and a Bearer token that verifies. Any other
    /// `Authorization` exempts nothing: behind HTTP Basic, browsers attach it to cross-site posts by themselves.
    private func needsCrossSiteCheck(_ request: Request) -> Bool {
        // A reset signs the browser in (login CSRF), and a cross-site page must not send mail in a user's name.
        // So must a verification: it would mark an address (or change an account's) in another's name. A sign-in's
        // second step signs the browser in too.
        if Self.alwaysChecked.contains(request.path) {
            return true
        }
        if request.field(.apiKey) != nil { return false }
        if let authorization = request.field(.authorization), let token = Caller.bearerToken(in: authorization),
            (try? context.tokens.verifyAccessToken(token)) != nil
        {
            return false
        }
        let cookies = request.cookies
        return cookies[context.cookies.accessName] != nil || cookies[AuthCookies.refreshName] != nil
    }

    private static let alwaysChecked: Set<String> = [
        "/api/auth/login", "/api/auth/register", "/api/auth/password/forgot", "/api/auth/password/reset", "/api/auth/email/verify",
        "/api/auth/email/verify/resend", "/api/auth/mfa/verify", "/api/auth/passkeys/login",
    ]

    /// The response for a body over the limit, for ``FastCGI/ServerConfiguration/payloadTooLarge``.
    public static var payloadTooLargeResponse: Response { APIError.payloadTooLarge.response }

    /// The response for a `CONTENT_LENGTH` that is not a length, for
    /// ``FastCGI/ServerConfiguration/invalidContentLength``.
    public static var invalidContentLengthResponse: Response {
        APIError(status: 400, code: "invalid_content_length", message: "Invalid Content-Length").response
    }
}

public import AuthCore
public import FastCGI
public import Logging
import JOSE
import MariaDB
public import Passwords
import StrictJSON

/// The jwt-authd request handler of one server thread: routes requests to the handlers with the thread's domain
/// object (and so its own database connection).
public final class AuthResponder: RequestHandler {
    /// What handlers get besides the request.
    public struct Context {
        public let config: Config
        public let auth: Auth
        public let store: Store
        public let logger: Logger
        let cookies: AuthCookies
        let addresses: ClientAddressResolver
        let crossSite: CrossSiteCheck
        /// The JWKS response, computed once (`nil`: HS256 access tokens have no public key).
        let jwks: Response?
        /// What the request log line needs to know from the handlers (per thread, reset per request).
        let trace = RequestTrace()
        /// The pool's shared counters.
        let metrics: ServiceMetrics
        /// Who may read the metrics (by `REMOTE_ADDR`).
        let metricsAllow: ClientAddressResolver
    }

    private let context: Context
    private let router: Router<Context>

    /// Creates the handler of one thread, with its own database connection.
    ///
    /// - Parameters:
    ///   - settings: Built once per process from the configuration and keys.
    ///   - hasher: The password hasher (shared; it is stateless).
    public init(config: Config, settings: AuthSettings, hasher: any PasswordHashing, metrics: ServiceMetrics, logger: Logger) {
        let connection = Connection(unconnectedTo: config.databaseURL)
        var jwks: Response?
        if let document = try? settings.accessSigner.keys.jwks(), case .array(let keys)? = document["keys"], !keys.isEmpty {
            jwks = Response(status: 200, headers: [("Content-Type", "application/json"), ("Cache-Control", "public, max-age=300")],
                            body: document.bytes)
        }
        context = Context(config: config, auth: Auth(settings: settings, connection: connection, hasher: hasher, logger: logger),
                          store: Store(connection: connection), logger: logger, cookies: AuthCookies(secure: config.cookieSecure),
                          addresses: ClientAddressResolver(trustedProxies: config.trustedProxies),
                          crossSite: CrossSiteCheck(allowedOrigins: config.allowedOrigins), jwks: jwks, metrics: metrics,
                          metricsAllow: ClientAddressResolver(trustedProxies: config.metricsAllow))
        router = Self.makeRouter()
    }

    /// The routes of the service.
    static func makeRouter() -> Router<Context> {
        var router = Router<Context>()
        router.add("GET", "/api/auth/health", HealthHandler.handle)
        router.add("POST", "/api/auth/register", AccountHandlers.register)
        router.add("POST", "/api/auth/login", AccountHandlers.login)
        router.add("POST", "/api/auth/refresh", SessionHandlers.refresh)
        router.add("GET", "/api/auth/renew", SessionHandlers.renew)
        router.add("POST", "/api/auth/logout", SessionHandlers.logout)
        router.add("POST", "/api/auth/logout-all", SessionHandlers.logoutAll)
        router.add("GET", "/api/auth/sessions", SessionHandlers.list)
        router.add("DELETE", "/api/auth/sessions/{id}", SessionHandlers.revoke)
        router.add("GET", "/api/auth/me", AccountHandlers.me)
        router.add("POST", "/api/auth/password", AccountHandlers.changePassword)
        router.add("GET", "/api/auth/verify", VerifyHandler.handle)
        router.add("POST", "/api/auth/api-keys", APIKeyHandlers.create)
        router.add("GET", "/api/auth/api-keys", APIKeyHandlers.list)
        router.add("DELETE", "/api/auth/api-keys/{id}", APIKeyHandlers.revoke)
        router.add("GET", "/api/auth/metrics", { context, request throws(APIError) in
            // By the peer address alone (never X-Forwarded-For), whatever web server sits in front.
            guard context.metricsAllow.isTrusted(request.remoteAddress) else { throw APIError.forbidden }
            return Response(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4"), ("Cache-Control", "no-store")],
                            body: context.metrics.render())
        })
        router.add("GET", "/.well-known/jwks.json", { context, _ throws(APIError) in
            guard let jwks = context.jwks else { throw APIError.notFound }
            return jwks
        })
        return router
    }

    public func handle(_ request: Request) -> Response {
        let started = ContinuousClock.now
        context.trace.userID = nil
        let response = dispatch(request)
        let elapsed = ContinuousClock.now - started
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        context.metrics.record(path: request.path, status: response.status, seconds: Double(micros) / 1_000_000)
        guard context.config.logRequests else { return response }
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
        if request.method != "GET" && request.method != "HEAD", needsCrossSiteCheck(request), !context.crossSite.allows(request) {
            context.logger.notice("cross-site request refused", metadata: [
                "event": "cross_site_refused", "route": "\(request.path)", "client.ip": "\(context.clientAddress(request))",
            ])
            return APIError.crossSite.response
        }
        return router.respond(to: request, context: context)
    }

    /// State changes carried by auth cookies (and every login or registration, against login CSRF); not those
    /// authenticated by a Bearer token or an API key.
    private func needsCrossSiteCheck(_ request: Request) -> Bool {
        if request.field(.authorization) != nil || request.field(.apiKey) != nil { return false }
        if request.path == "/api/auth/login" || request.path == "/api/auth/register" { return true }
        let cookies = request.cookies
        return cookies[AuthCookies.accessName] != nil || cookies[AuthCookies.refreshName] != nil
    }

    /// The response for a body over the limit, for ``FastCGI/ServerConfiguration/payloadTooLarge``.
    public static var payloadTooLargeResponse: Response { APIError.payloadTooLarge.response }
}

/// Per-request facts the handlers learn, for the request log line.
final class RequestTrace {
    var userID: String?
}

extension AuthResponder.Context {
    /// The client's address (behind trusted proxies, the nearest untrusted `X-Forwarded-For` hop).
    func clientAddress(_ request: Request) -> String {
        addresses.resolve(remoteAddress: request.remoteAddress, forwardedFor: request.field(.forwardedFor))
    }

    func client(_ request: Request) -> ClientContext {
        ClientContext(ip: clientAddress(request), userAgent: request.field(.userAgent).map { String($0.prefix(512)) })
    }

    /// Runs a domain call; domain and database errors become the client's view of them (and a log line).
    func domain<T>(_ request: Request, _ body: () throws -> T) throws(APIError) -> T {
        do {
            return try body()
        } catch let error as AuthError {
            throw APIError.from(error)
        } catch let error as APIError {
            throw error
        } catch let error as MariaDBError {
            metrics.record(.databaseError)
            logger.error("database error", metadata: ["event": "database_error", "route": "\(request.path)",
                                                      "db.code": "\(error.code)", "db.errno": "\(error.errno)"])
            if error.code == .connectionLost || error.code == .connectionFailed { throw APIError.unavailable }
            throw APIError.internalError
        } catch {
            logger.error("unexpected error", metadata: ["route": "\(request.path)", "error": "\(type(of: error))"])
            throw APIError.internalError
        }
    }
}

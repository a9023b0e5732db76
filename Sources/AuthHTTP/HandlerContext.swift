public import AuthCore
import FastCGI
public import Logging

extension AuthResponder {
    /// What handlers get besides the request: the domain services of their thread (by protocol, so that handlers
    /// can be unit-tested with fakes), the HTTP settings and the shared metrics.
    public struct Context {
        /// The HTTP layer's part of the configuration.
        public let http: Config.HTTP
        public let accounts: any AccountOperations
        public let sessions: any SessionOperations
        public let apiKeys: any APIKeyOperations
        public let factors: any SecondFactorOperations
        public let passkeys: any PasskeyOperations
        public let tokens: any AccessTokenVerifying
        public let health: any DatabaseHealth
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

        /// A context over the given services.
        ///
        /// - Parameter jwks: The public JWKS document's bytes, or `nil` when the access keys have none.
        public init(
            http config: Config.HTTP, accounts: any AccountOperations, sessions: any SessionOperations,
            apiKeys: any APIKeyOperations, factors: any SecondFactorOperations, passkeys: any PasskeyOperations,
            tokens: any AccessTokenVerifying,
            health: any DatabaseHealth, jwks: [UInt8]?, metrics: ServiceMetrics, logger: Logger
        ) {
            http = config
            self.accounts = accounts
            self.sessions = sessions
            self.apiKeys = apiKeys
            self.factors = factors
            self.passkeys = passkeys
            self.tokens = tokens
            self.health = health
            self.logger = logger
            cookies = AuthCookies(secure: config.cookieSecure, hostPrefix: config.cookieHostPrefix)
            addresses = ClientAddressResolver(trustedProxies: config.trustedProxies)
            crossSite = CrossSiteCheck(allowedOrigins: config.allowedOrigins)
            self.jwks = jwks.map {
                Response(
                    status: 200,
                    headers: [
                        ("Content-Type", "application/json"),
                        ("Cache-Control", "public, max-age=300"),
                    ], body: $0)
            }
            self.metrics = metrics
            metricsAllow = ClientAddressResolver(trustedProxies: config.metricsAllow)
        }
    }
}

/// Per-request facts the handlers learn, for the request log line.
final class RequestTrace {
    var userID: String?
    /// When the request's handling began (``AuthResponder/handle(_:)``), on the held answers' clock.
    var startedMilliseconds = 0
}

extension AuthResponder.Context {
    /// `response`, held so that it leaves no sooner than `http.mail_answer_time` after the request arrived: the routes
    /// whose known and unknown addresses differ only by database writes (a token, a message) answer alike in time.
    /// The hold costs no thread (``FastCGI/Response/holdMilliseconds``).
    func atMailAnswerTime(_ response: Response) -> Response {
        let parts = http.mailAnswerTime.components
        let floor = Int(parts.seconds) * 1000 + Int(parts.attoseconds / 1_000_000_000_000_000)
        // The due time counts from the request's arrival, not from now: how long the handler took does not show.
        let left = trace.startedMilliseconds + floor - Server.monotonicMilliseconds()
        guard floor > 0, left > 0 else { return response }
        var held = response
        held.holdMilliseconds = max(held.holdMilliseconds, left)
        return held
    }

    /// The client's address (behind trusted proxies, the nearest untrusted `X-Forwarded-For` hop).
    func clientAddress(_ request: Request) -> String {
        addresses.resolve(remoteAddress: request.remoteAddress, forwardedFor: request.field(.forwardedFor))
    }

    /// The client as the domain records it; with `devices`, the values of its device cookie too (login and
    /// registration: the routes that count or issue them).
    func client(_ request: Request, devices: Bool = false) -> ClientContext {
        ClientContext(
            ip: clientAddress(request), userAgent: request.field(.userAgent),
            devices: devices ? request.cookieValues(DeviceCookies.name) : [])
    }

    /// Runs a domain call and gives back its outcome; a failure of the service itself is logged with its internal
    /// cause (never shown to the client) and counted.
    func attempt<T>(_ request: Request, _ body: () throws(AuthError) -> T) -> Result<T, AuthError> {
        do {
            return .success(try body())
        } catch {
            switch error.code {
            case .databaseUnavailable, .databaseFailure:
                metrics.record(.databaseError)
                logger.error(
                    "database error",
                    metadata: [
                        "event": "database_error", "route": "\(request.path)", "error": "\(error.internalCause ?? "")",
                    ])
            case .internalFailure:
                logger.error("internal error", metadata: ["route": "\(request.path)", "error": "\(error.internalCause ?? "")"])
            default:
                break
            }
            return .failure(error)
        }
    }

    /// Runs a domain call; a domain error becomes the client's view of it.
    func domain<T>(_ request: Request, _ body: () throws(AuthError) -> T) throws(APIError) -> T {
        switch attempt(request, body) {
        case .success(let value): return value
        case .failure(let error): throw APIError(error)
        }
    }

    /// The cross-site check with its security event: whether the request may go on.
    func allowsCrossSite(_ request: Request, route: String) -> Bool {
        if crossSite.allows(request) { return true }
        logger.notice(
            "cross-site request refused",
            metadata: [
                "event": "cross_site_refused", "route": "\(route)", "client.ip": "\(clientAddress(request))",
            ])
        return false
    }
}

public import AuthCore
public import FastCGI
public import Logging

/// The jwt-authd request handler of one server thread: routes requests to the handlers with the thread's store.
public final class AuthResponder: RequestHandler {
    /// What handlers get besides the request.
    public struct Context {
        public let config: Config
        public let store: Store
        public let logger: Logger
    }

    private let context: Context
    private let router: Router<Context>

    /// Creates the handler of one thread, with its own store (and so its own database connection).
    public init(config: Config, logger: Logger) {
        context = Context(config: config, store: Store(url: config.databaseURL), logger: logger)
        router = Self.makeRouter()
    }

    /// The routes of the service.
    static func makeRouter() -> Router<Context> {
        var router = Router<Context>()
        router.add("GET", "/api/auth/health", HealthHandler.handle)
        return router
    }

    public func handle(_ request: Request) -> Response {
        router.respond(to: request, context: context)
    }

    /// The response for a body over the limit, for ``FastCGI/ServerConfiguration/payloadTooLarge``.
    public static var payloadTooLargeResponse: Response { APIError.payloadTooLarge.response }
}

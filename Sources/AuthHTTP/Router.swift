public import FastCGI

/// Maps method and exact path to a handler; answers 404 for an unknown path and 405 (with `Allow`) for a known path
/// with another method.
public struct Router<Context> {
    /// A route's handler: the per-thread context and the request in, a response out.
    public typealias Handler = (Context, Request) throws(APIError) -> Response

    private var routes: [String: [(method: String, handler: Handler)]] = [:]

    public init() {}

    /// Adds a route.
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping Handler) {
        routes[path, default: []].append((method, handler))
    }

    /// Finds the handler for a request and runs it; errors become their JSON response.
    public func respond(to request: Request, context: Context) -> Response {
        guard let candidates = routes[request.path] else { return APIError.notFound.response }
        var method = request.method
        // HEAD is answered as GET (nginx drops the body).
        if method == "HEAD" { method = "GET" }
        guard let route = candidates.first(where: { $0.method == method }) else {
            var allowed = candidates.map(\.method)
            if allowed.contains("GET") { allowed.append("HEAD") }
            return APIError.methodNotAllowed(allow: allowed).response
        }
        do {
            return try route.handler(context, request)
        } catch {
            return error.response
        }
    }
}

public import FastCGI

/// Maps method and exact path to a handler; answers 404 for an unknown path and 405 (with `Allow`) for a known path
/// with another method.
public struct Router<Context> {
    /// A route's handler: the per-thread context and the request in, a response out.
    public typealias Handler = (Context, Request) throws(APIError) -> Response

    private var routes: [String: [(method: String, handler: Handler)]] = [:]
    /// Routes ending in `/{id}`: the prefix (with its slash) and its handlers; the id is one non-empty segment.
    private var parameterized: [(prefix: String, handlers: [(method: String, handler: Handler)])] = []

    public init() {}

    /// Adds a route. A path ending in `/{id}` matches any one final segment (read it with ``Router/lastSegment(of:)``).
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping Handler) {
        if path.hasSuffix("/{id}") {
            let prefix = String(path.dropLast(4))
            if let index = parameterized.firstIndex(where: { $0.prefix == prefix }) {
                parameterized[index].handlers.append((method, handler))
            } else {
                parameterized.append((prefix, [(method, handler)]))
            }
        } else {
            routes[path, default: []].append((method, handler))
        }
    }

    /// The final path segment (the `{id}` of a parameterised route).
    public static func lastSegment(of request: Request) -> String {
        String(request.path.split(separator: "/").last ?? "")
    }

    private func candidates(for path: String) -> [(method: String, handler: Handler)]? {
        if let exact = routes[path] { return exact }
        for route in parameterized where path.hasPrefix(route.prefix) {
            let rest = path.dropFirst(route.prefix.count)
            if !rest.isEmpty && !rest.contains("/") { return route.handlers }
        }
        return nil
    }

    /// Finds the handler for a request and runs it; errors become their JSON response.
    public func respond(to request: Request, context: Context) -> Response {
        guard let candidates = candidates(for: request.path) else { return APIError.notFound.response }
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

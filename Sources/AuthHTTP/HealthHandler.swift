import AuthCore
import FastCGI
import Logging
import StrictJSON

/// `GET /api/auth/health`: 200 when MariaDB answers, 503 otherwise (the worker keeps running and recovers). With
/// several servers in `database.url`, `node` names the one this worker thread is on.
enum HealthHandler {
    static func handle(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        if context.health.isReachable() {
            var members: [(String, JSON)] = [("status", .string("ok")), ("database", .string("ok"))]
            if let node = context.health.node { members.append(("node", .string(node))) }
            return .json(status: 200, .object(members))
        }
        context.logger.warning(
            "health check: database unavailable",
            metadata: [
                "event": "database_unavailable", "db.error": "\(context.health.lastFailure ?? "back-off after a failed connect")",
            ])
        return .json(status: 503, .object([("status", .string("unavailable")), ("database", .string("unavailable"))]))
    }
}

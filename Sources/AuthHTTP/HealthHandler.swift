import AuthCore
import FastCGI
import Logging
import StrictJSON

/// `GET /api/auth/health`: 200 when MariaDB answers, 503 otherwise (the worker keeps running and recovers).
enum HealthHandler {
    static func handle(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        if context.health.isReachable() {
            return .json(status: 200, .object([("status", .string("ok")), ("database", .string("ok"))]))
        }
        context.logger.warning(
            "health check: database unavailable",
            metadata: [
                "event": "database_unavailable", "db.error": "\(context.health.lastFailure ?? "back-off after a failed connect")",
            ])
        return .json(status: 503, .object([("status", .string("unavailable")), ("database", .string("unavailable"))]))
    }
}

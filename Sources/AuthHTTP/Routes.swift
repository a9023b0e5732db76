import AuthCore
import CryptoPrimitives
import FastCGI

/// Every route of the service, in one table: the router is built from it and the metrics name their series after it.
enum Routes {
    typealias Handler = Router<AuthResponder.Context>.Handler

    static var all: [(method: String, path: String, handler: Handler)] {
        [
            ("GET", "/api/auth/health", HealthHandler.handle),
            ("POST", "/api/auth/register", AccountHandlers.register),
            ("POST", "/api/auth/login", AccountHandlers.login),
            ("POST", "/api/auth/refresh", SessionHandlers.refresh),
            ("GET", "/api/auth/renew", SessionHandlers.renew),
            ("POST", "/api/auth/logout", SessionHandlers.logout),
            ("POST", "/api/auth/logout-all", SessionHandlers.logoutAll),
            ("GET", "/api/auth/sessions", SessionHandlers.list),
            ("DELETE", "/api/auth/sessions/{id}", SessionHandlers.revoke),
            ("GET", "/api/auth/me", AccountHandlers.me),
            ("POST", "/api/auth/password", AccountHandlers.changePassword),
            ("POST", "/api/auth/password/forgot", PasswordResetHandlers.forgot),
            ("POST", "/api/auth/password/reset", PasswordResetHandlers.reset),
            ("POST", "/api/auth/email/verify", EmailHandlers.verify),
            ("POST", "/api/auth/email/verify/resend", EmailHandlers.resend),
            ("POST", "/api/auth/email/change", EmailHandlers.change),
            ("GET", "/api/auth/verify", VerifyHandler.handle),
            ("POST", "/api/auth/reauthenticate", SecondFactorHandlers.reauthenticate),
            ("POST", "/api/auth/mfa/verify", SecondFactorHandlers.verify),
            ("GET", "/api/auth/mfa", MFAHandlers.list),
            ("POST", "/api/auth/mfa/totp", MFAHandlers.beginTOTP),
            ("POST", "/api/auth/mfa/totp/confirm", MFAHandlers.confirmTOTP),
            ("POST", "/api/auth/mfa/recovery-codes", MFAHandlers.newRecoveryCodes),
            ("DELETE", "/api/auth/mfa/{id}", MFAHandlers.remove),
            ("POST", "/api/auth/mfa/passkey/options", PasskeyHandlers.secondFactorOptions),
            ("POST", "/api/auth/passkeys/register/options", PasskeyHandlers.registrationOptions),
            ("POST", "/api/auth/passkeys/register", PasskeyHandlers.register),
            ("POST", "/api/auth/passkeys/login/options", PasskeyHandlers.signInOptions),
            ("POST", "/api/auth/passkeys/login", PasskeyHandlers.signIn),
            ("POST", "/api/auth/passkeys/reauthenticate/options", PasskeyHandlers.reauthenticationOptions),
            ("GET", "/api/auth/passkeys", PasskeyHandlers.list),
            ("PATCH", "/api/auth/passkeys/{id}", PasskeyHandlers.rename),
            ("DELETE", "/api/auth/passkeys/{id}", PasskeyHandlers.remove),
            ("POST", "/api/auth/api-keys", APIKeyHandlers.create),
            ("GET", "/api/auth/api-keys", APIKeyHandlers.list),
            ("DELETE", "/api/auth/api-keys/{id}", APIKeyHandlers.revoke),
            ("GET", "/api/auth/metrics", metrics),
            ("GET", "/.well-known/jwks.json", jwks),
        ]
    }

    /// Each route's path once, in the table's order (the metrics' series).
    static let paths: [String] = all.reduce(into: []) { paths, route in
        if !paths.contains(route.path) { paths.append(route.path) }
    }

    /// The router over ``all``.
    static func makeRouter() -> Router<AuthResponder.Context> {
        var router = Router<AuthResponder.Context>()
        for route in all { router.add(route.method, route.path, route.handler) }
        return router
    }

    /// `GET /api/auth/metrics`: by the peer address alone (never X-Forwarded-For), whatever web server sits in front.
    static func metrics(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        guard context.metricsAllow.isTrusted(request.remoteAddress) else { throw APIError.forbidden }
        if let token = context.http.metricsToken {
            // Behind a local TLS terminator every client is 127.0.0.1: then only the token tells scrapers apart.
            let presented = request.field(.authorization).flatMap(Caller.bearerToken(in:)).map { Array($0.utf8) } ?? []
            // Digests compared in constant time: neither the token nor its length shows in the timing.
            guard ConstantTime.equals(SHA256.hash(presented), SHA256.hash(token.bytes)) else {
                throw APIError(
                    status: 401, code: "unauthorized", message: "Authentication required",
                    headers: [("WWW-Authenticate", "Bearer realm=\"metrics\"")])
            }
        }
        var body = context.metrics.render()
        if context.http.mailEnabled { body += mailMetrics(context) }
        return Response(
            status: 200, headers: [("Content-Type", "text/plain; version=0.0.4"), ("Cache-Control", "no-store")], body: body)
    }

    /// The outbox, read from MariaDB at each scrape (so every host shows the shared queue). When it cannot be read,
    /// only `jwt_authd_mail_queue_readable 0`.
    static func mailMetrics(_ context: AuthResponder.Context) -> [UInt8] {
        guard let stats = try? context.accounts.mailQueueStats() else {
            return Array("# TYPE jwt_authd_mail_queue_readable gauge\njwt_authd_mail_queue_readable 0\n".utf8)
        }
        var out = "# TYPE jwt_authd_mail_queue_readable gauge\njwt_authd_mail_queue_readable 1\n"
        out += "# HELP jwt_authd_mail_messages Messages in the outbox by status (sent and failed ones until the cleanup).\n"
        out += "# TYPE jwt_authd_mail_messages gauge\n"
        for (status, count) in [("queued", stats.queued), ("sent", stats.sent), ("failed", stats.failed)] {
            out += "jwt_authd_mail_messages{status=\"\(status)\"} \(count)\n"
        }
        out += "# HELP jwt_authd_mail_retries Attempts after a message's first, over the messages in the outbox.\n"
        out += "# TYPE jwt_authd_mail_retries gauge\njwt_authd_mail_retries \(stats.retried)\n"
        out += "# HELP jwt_authd_mail_oldest_queued_age_seconds Age of the oldest message not yet sent (0: none).\n"
        out += "# TYPE jwt_authd_mail_oldest_queued_age_seconds gauge\n"
        out += "jwt_authd_mail_oldest_queued_age_seconds \(Int(stats.oldestQueuedAge))\n"
        return Array(out.utf8)
    }

    /// `GET /.well-known/jwks.json`: the public access keys (404 for HS256).
    static func jwks(_ context: AuthResponder.Context, _ request: Request) throws(APIError) -> Response {
        guard let jwks = context.jwks else { throw APIError.notFound }
        return jwks
    }
}

import AuthCore
import FastCGI
import Logging
import MariaDB
import Passwords
import ProcessManager
import StrictJSON
import Testing

@testable import AuthHTTP

@Suite struct RouterTests {
    private func router() -> Router<Int> {
        var router = Router<Int>()
        router.add("GET", "/a") { context, _ in .json(status: 200, .object([("n", .int(Int64(context)))])) }
        router.add("POST", "/a") { (_, _) throws(APIError) -> Response in
            throw APIError(status: 409, code: "conflict", message: "Taken")
        }
        return router
    }

    private func request(_ method: String, _ path: String) -> Request {
        Request(params: [("REQUEST_METHOD", method), ("DOCUMENT_URI", path)])
    }

    @Test func dispatchesByMethodAndPath() {
        let response = router().respond(to: request("GET", "/a"), context: 7)
        #expect(response.status == 200)
        #expect(response.body == Array(#"{"n":7}"#.utf8))
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("Cache-Control") == "no-store")
    }

    @Test func unknownPathIs404JSON() {
        let response = router().respond(to: request("GET", "/nope"), context: 0)
        #expect(response.status == 404)
        #expect(response.body == Array(#"{"error":"Not found","code":"not_found"}"#.utf8))
    }

    @Test func wrongMethodIs405WithAllow() {
        let response = router().respond(to: request("DELETE", "/a"), context: 0)
        #expect(response.status == 405)
        #expect(response.header("Allow") == "GET, POST, HEAD")
        #expect(response.body == Array(#"{"error":"Method not allowed","code":"method_not_allowed"}"#.utf8))
    }

    @Test func headIsAnsweredAsGet() {
        #expect(router().respond(to: request("HEAD", "/a"), context: 0).status == 200)
    }

    @Test func thrownAPIErrorsBecomeTheirJSON() {
        let response = router().respond(to: request("POST", "/a"), context: 0)
        #expect(response.status == 409)
        #expect(response.body == Array(#"{"error":"Taken","code":"conflict"}"#.utf8))
    }
}

@Suite struct HealthHandlerTests {
    @Test func answers503WhenTheDatabaseCannotBeReached() throws {
        let env = [
            "DATABASE_URL": "mariadb://root@localhost/x?socket=/nonexistent/mysqld.sock",
            "JWT_AUTHD_LISTEN": "127.0.0.1:9000",
            "JWT_ACCESS_SECRET": String(repeating: "a", count: 32),
            "JWT_REFRESH_SECRET": String(repeating: "b", count: 32),
        ]
        let config = try Config.load(sources: ConfigSources(environment: env))
        let settings = AuthSettings(config: config, keys: try TokenKeys.load(config.tokens, readFile: { _ in "" }))
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let services = AuthServices(
            settings: settings, database: Database(url: config.databaseURL, logger: logger),
            hasher: try Argon2Hasher(parameters: .testing), logger: logger)
        let responder = AuthResponder(
            http: config.http, services: services,
            metrics: ServiceMetrics(counters: .privateMemory(countersPerSlot: ServiceMetrics.countersPerSlot)),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let response = responder.handle(Request(params: [("REQUEST_METHOD", "GET"), ("DOCUMENT_URI", "/api/auth/health")]))
        #expect(response.status == 503)
        #expect(response.body == Array(#"{"status":"unavailable","database":"unavailable"}"#.utf8))
        // A second check inside the back-off window answers at once, still 503.
        #expect(responder.handle(Request(params: [("DOCUMENT_URI", "/api/auth/health")])).status == 503)
    }
}

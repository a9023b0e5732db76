import AuthCore
import FastCGI
import Testing

@testable import AuthHTTP

/// #20: how long nginx may reuse the gate's answer (X-Accel-Expires), and that it comes before Cache-Control (Debian's
/// nginx 1.22 ignores it after a `Cache-Control: no-store` line).
@Suite struct GateCacheTests {
    @Test func aValidTokensAnswerMayBeReusedUpToTheMaximumAndNeverPastItsExpiry() throws {
        let harness = try HandlerHarness()
        let far = harness.send("GET", "/api/auth/verify", bearer: "good")
        #expect(far.status == 204 && far.headers.first?.name == "X-Accel-Expires" && far.headers.first?.value == "60")
        let names = far.headers.map(\.name)
        #expect(try #require(names.firstIndex(of: "X-Accel-Expires")) < #require(names.firstIndex(of: "Cache-Control")))
        let soon = harness.send("GET", "/api/auth/verify", bearer: "soon")
        #expect(["8", "9"].contains(soon.values(of: "X-Accel-Expires").first ?? ""), "never past exp (nginx keeps it through the last second)")
        let shorter = try HandlerHarness(env: ["JWT_GATE_CACHE_MAX": "15s"])
        #expect(shorter.send("GET", "/api/auth/verify", bearer: "good").values(of: "X-Accel-Expires") == ["15"])
        let off = try HandlerHarness(env: ["JWT_GATE_CACHE_MAX": "0s"])
        #expect(off.send("GET", "/api/auth/verify", bearer: "good").values(of: "X-Accel-Expires").isEmpty)
    }

    @Test func apiKeysAreReusedBrieflyAndRefusalsNever() throws {
        let harness = try HandlerHarness()
        let key = harness.send("GET", "/api/auth/verify", headers: [("HTTP_X_API_KEY", "jwta_x"), ("HTTP_X_ORIGINAL_METHOD", "GET")])
        #expect(key.status == 204 && key.values(of: "X-Accel-Expires") == ["5"])
        let never = try HandlerHarness(env: ["JWT_GATE_CACHE_API_KEYS": "0s"])
        let uncached = never.send("GET", "/api/auth/verify", headers: [("HTTP_X_API_KEY", "jwta_x"), ("HTTP_X_ORIGINAL_METHOD", "GET")])
        #expect(uncached.status == 204 && uncached.values(of: "X-Accel-Expires").isEmpty)
        for response in [
            harness.send("GET", "/api/auth/verify"), harness.send("GET", "/api/auth/verify", bearer: "expired"),
            harness.send("GET", "/api/auth/verify", bearer: "good", headers: [("HTTP_X_AUTH_REQUIRE_ROLE", "admin")]),
            harness.send("GET", "/api/auth/verify", bearer: "good", headers: [("HTTP_X_AUTH_REQUIRE_AAL", "2")]),
            harness.send("GET", "/api/auth/verify", headers: [("HTTP_X_AUTH_GUEST_ONLY", "1")]),
        ] {
            #expect(response.values(of: "X-Accel-Expires").isEmpty, "\(response.status)")
            #expect(response.values(of: "Cache-Control") == ["no-store"])
        }
    }
}

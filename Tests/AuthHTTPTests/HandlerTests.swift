import AuthCore
import FastCGI
import TestSupport
import Testing

@testable import AuthHTTP

/// Every domain code's status and client code, as the API contract (docs/openapi.yaml) states them.
let expectedMapping: [AuthError.Code: (status: Int, code: String)] = [
    .invalidCredentials: (401, "invalid_credentials"), .throttled: (429, "throttled"), .emailTaken: (409, "email_taken"),
    .invalidInput: (400, "invalid_request"), .weakPassword: (400, "weak_password"), .invalidToken: (401, "unauthorized"),
    .tokenExpired: (401, "token_expired"), .tokenReused: (401, "token_reused"), .sessionExpired: (401, "session_expired"),
    .sessionRevoked: (401, "session_revoked"), .notFound: (404, "not_found"),
    .reauthenticationRequired: (403, "reauthentication_required"), .busy: (503, "service_busy"),
    .resetTokenInvalid: (400, "reset_token_invalid"), .emailTokenInvalid: (400, "email_token_invalid"),
    .emailUnverified: (403, "email_unverified"), .invalidCode: (401, "invalid_code"), .mfaUnavailable: (503, "mfa_unavailable"),
    .mfaRequired: (403, "mfa_required"), .passkeyInvalid: (400, "passkey_invalid"), .passkeysUnavailable: (503, "passkeys_unavailable"),
    .databaseUnavailable: (503, "service_unavailable"), .databaseFailure: (500, "internal_error"),
    .internalFailure: (500, "internal_error"),
]

func failure(_ code: AuthError.Code) -> AuthError {
    AuthError(
        code, "message for \(code.rawValue)", retryAfter: code == .throttled ? 42 : nil,
        internalCause: "secret-internal-cause")
}

/// The routes that call the domain, each as a request that reaches its domain call (JSON, with a valid session).
var domainRoutes: [(name: String, send: (HandlerHarness) -> Response)] {
    [
        ("register", { $0.send("POST", "/api/auth/register", json: #"{"email":"a@example.com","password":"long enough"}"#) }),
        ("login", { $0.send("POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"whatever"}"#) }),
        ("refresh (body)", { $0.send("POST", "/api/auth/refresh", json: #"{"refreshToken":"r"}"#) }),
        ("refresh (cookie)", { $0.send("POST", "/api/auth/refresh", cookies: "refresh_token=r") }),
        ("logout (cookie)", { $0.send("POST", "/api/auth/logout", cookies: "refresh_token=r") }),
        ("logout (access token)", { $0.send("POST", "/api/auth/logout", bearer: "good") }),
        ("logout-all", { $0.send("POST", "/api/auth/logout-all", bearer: "good") }),
        ("sessions", { $0.send("GET", "/api/auth/sessions", bearer: "good") }),
        ("sessions/{id}", { $0.send("DELETE", "/api/auth/sessions/\(FakeDomain.sessionID)", bearer: "good") }),
        ("me", { $0.send("GET", "/api/auth/me", bearer: "good") }),
        (
            "password",
            {
                $0.send("POST", "/api/auth/password", json: #"{"currentPassword":"old one","newPassword":"new enough"}"#, bearer: "good")
            }
        ),
        ("api-keys POST", { $0.send("POST", "/api/auth/api-keys", json: #"{"name":"ci"}"#, bearer: "good") }),
        ("api-keys GET", { $0.send("GET", "/api/auth/api-keys", bearer: "good") }),
        ("api-keys/{id}", { $0.send("DELETE", "/api/auth/api-keys/\(FakeDomain.sessionID)", bearer: "good") }),
    ]
}

@Suite struct HandlerErrorMappingTests {
    @Test func everyDomainCodeHasAnExpectedAnswer() {
        #expect(Set(expectedMapping.keys) == Set(AuthError.Code.allCases))
        for code in AuthError.Code.allCases {
            let error = APIError(failure(code))
            #expect(error.status == expectedMapping[code]?.status, "\(code)")
            #expect(error.code == expectedMapping[code]?.code, "\(code)")
        }
    }

    @Test(arguments: AuthError.Code.allCases)
    func everyRouteAnswersEveryDomainFailureAsMapped(code: AuthError.Code) throws {
        for route in domainRoutes {
            let harness = try HandlerHarness()
            harness.domain.failure = failure(code)
            let response = route.send(harness)
            let expected = try #require(expectedMapping[code])
            #expect(response.status == expected.status, "\(route.name) \(code)")
            #expect(response.errorCode == expected.code, "\(route.name) \(code)")
            #expect(!response.text.contains("secret-internal-cause"), "the internal cause is never answered")
            #expect(response.values(of: "Cache-Control") == ["no-store"], "\(route.name)")
            if code == .throttled { #expect(response.values(of: "Retry-After") == ["42"], "\(route.name)") }
            if code == .databaseUnavailable { #expect(response.values(of: "Retry-After") == ["5"], "\(route.name)") }
        }
    }

    @Test func aStorageFailureIsLoggedWithItsCauseAndCounted() throws {
        let harness = try HandlerHarness()
        harness.domain.failure = failure(.databaseUnavailable)
        #expect(harness.send("GET", "/api/auth/sessions", bearer: "good").status == 503)
        #expect(harness.logs.all.contains { $0.contains("database error") && $0.contains("secret-internal-cause") })
        #expect(harness.metricsText.contains("jwt_authd_database_errors_total 1\n"))
    }

    @Test func anInternalFailureIsLoggedButNotCountedAsADatabaseError() throws {
        let harness = try HandlerHarness()
        harness.domain.failure = failure(.internalFailure)
        #expect(harness.send("GET", "/api/auth/sessions", bearer: "good").status == 500)
        #expect(harness.logs.all.contains { $0.contains("internal error") && $0.contains("secret-internal-cause") })
        #expect(harness.metricsText.contains("jwt_authd_database_errors_total 0\n"))
    }
}

@Suite struct HandlerBehaviourTests {
    @Test func loginOutcomesAreCountedByKind() throws {
        let harness = try HandlerHarness()
        let body = #"{"email":"a@example.com","password":"whatever"}"#
        #expect(harness.send("POST", "/api/auth/login", json: body).status == 200)
        harness.domain.failure = failure(.throttled)
        #expect(harness.send("POST", "/api/auth/login", json: body).status == 429)
        harness.domain.failure = failure(.invalidCredentials)
        #expect(harness.send("POST", "/api/auth/login", json: body).status == 401)
        let text = harness.metricsText
        #expect(text.contains(#"jwt_authd_logins_total{result="ok"} 1"#))
        #expect(text.contains(#"jwt_authd_logins_total{result="throttled"} 1"#))
        #expect(text.contains(#"jwt_authd_logins_total{result="failed"} 1"#))
    }

    @Test func aLoginSetsBothCookiesAndAFormLoginRedirects() throws {
        let harness = try HandlerHarness()
        let json = harness.send("POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"whatever"}"#)
        let cookies = json.values(of: "Set-Cookie")
        #expect(cookies.contains { $0.hasPrefix("access_token=access.token.value; Path=/; Max-Age=900; HttpOnly") })
        #expect(cookies.contains { $0.hasPrefix("refresh_token=refresh.token.value; Path=/api/auth; Max-Age=604800") })
        let form = harness.send("POST", "/api/auth/login", form: "email=a%40example.com&password=whatever&callbackUrl=%2Fhome")
        #expect(form.status == 303)
        #expect(form.values(of: "Location") == ["/home"])
        harness.domain.failure = failure(.throttled)
        let refused = harness.send("POST", "/api/auth/login", form: "email=a%40example.com&password=whatever")
        #expect(refused.status == 303)
        #expect(refused.values(of: "Location") == ["/auth/login?error=throttled&callbackUrl=%2Fdashboard&retryAfter=42"])
        #expect(refused.values(of: "Set-Cookie").isEmpty)
    }

    /// #15 item 3: a completed login or registration marks the browser as known (the device cookie), passing every
    /// device cookie value it sent to the domain (a planted one beside its own is not ambiguous: each entry is checked
    /// on its own); nothing else sets it, and a refused login does not.
    @Test func aCompletedAuthenticationSetsTheDeviceCookie() throws {
        let harness = try HandlerHarness()
        let login = harness.send(
            "POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"whatever"}"#,
            cookies: "auth_device=planted; auth_device=mine")
        #expect(login.status == 200)
        #expect(
            login.values(of: "Set-Cookie").filter { $0.hasPrefix("auth_device=") }
                == ["auth_device=device-1; Path=/api/auth; Max-Age=86400; HttpOnly; SameSite=Strict"])
        #expect(harness.domain.devicesIssued == [["planted", "mine"]])
        let register = harness.send("POST", "/api/auth/register", json: #"{"email":"b@example.com","password":"long enough"}"#)
        #expect(register.status == 201 && register.values(of: "Set-Cookie").contains { $0.hasPrefix("auth_device=device-2;") })
        let form = harness.send("POST", "/api/auth/login", form: "email=a%40example.com&password=whatever")
        #expect(form.status == 303 && form.values(of: "Set-Cookie").contains { $0.hasPrefix("auth_device=device-3;") })
        let refresh = harness.send("POST", "/api/auth/refresh", cookies: "refresh_token=r; auth_device=mine")
        #expect(refresh.status == 200 && !refresh.values(of: "Set-Cookie").contains { $0.hasPrefix("auth_device=") })
        let logout = harness.send("POST", "/api/auth/logout", cookies: "refresh_token=r; auth_device=mine")
        #expect(!logout.values(of: "Set-Cookie").contains { $0.hasPrefix("auth_device=") }, "logout leaves it")
        harness.domain.failure = failure(.invalidCredentials)
        let refused = harness.send("POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"whatever"}"#)
        #expect(refused.status == 401 && refused.values(of: "Set-Cookie").isEmpty)
        #expect(harness.domain.devicesIssued.count == 3)
        // A password change forgets the account's devices; the browser that made it is marked again.
        harness.domain.failure = nil
        let changed = harness.send(
            "POST", "/api/auth/password", json: #"{"currentPassword":"old one","newPassword":"new enough"}"#, bearer: "good",
            cookies: "auth_device=mine")
        #expect(changed.status == 200 && changed.values(of: "Set-Cookie").contains { $0.hasPrefix("auth_device=device-4;") })
        #expect(harness.domain.devicesIssued.last == ["mine"])
    }

    @Test func refreshClearsTheCookiesOnlyWhenTheTokenIsRefused() throws {
        for code in AuthError.Code.allCases {
            let harness = try HandlerHarness()
            harness.domain.failure = failure(code)
            let response = harness.send("POST", "/api/auth/refresh", cookies: "refresh_token=r")
            let cleared = response.values(of: "Set-Cookie").contains { $0.hasPrefix("refresh_token=; Path=/api/auth; Max-Age=0") }
            #expect(cleared == (response.status == 401), "\(code)")
        }
    }

    @Test func refreshOutcomesAreCountedByKind() throws {
        let harness = try HandlerHarness()
        harness.domain.failure = failure(.tokenReused)
        _ = harness.send("POST", "/api/auth/refresh", json: #"{"refreshToken":"r"}"#)
        harness.domain.failure = failure(.tokenExpired)
        _ = harness.send("POST", "/api/auth/refresh", json: #"{"refreshToken":"r"}"#)
        let text = harness.metricsText
        #expect(text.contains(#"jwt_authd_refreshes_total{result="reuse"} 1"#))
        #expect(text.contains(#"jwt_authd_refreshes_total{result="refused"} 1"#))
    }

    @Test func renewSendsAFailedRenewalToTheLoginPage() throws {
        let harness = try HandlerHarness()
        let ok = harness.send("GET", "/api/auth/renew", cookies: "refresh_token=r", query: "return_to=/dashboard?a=1&b=2")
        #expect(ok.status == 303)
        #expect(ok.values(of: "Location") == ["/dashboard?a=1&b=2"])
        harness.domain.failure = failure(.tokenReused)
        let refused = harness.send("GET", "/api/auth/renew", cookies: "refresh_token=r", query: "return_to=/dashboard")
        #expect(refused.status == 303)
        #expect(refused.values(of: "Location") == ["/auth/login?callbackUrl=%2Fdashboard"])
        #expect(refused.values(of: "Set-Cookie").count == 2)
    }

    @Test(arguments: AuthError.Code.allCases)
    func renewKeepsTheCookiesWhenTheServiceFailed(code: AuthError.Code) throws {
        let harness = try HandlerHarness()
        harness.domain.failure = failure(code)
        let response = harness.send("GET", "/api/auth/renew", cookies: "refresh_token=r", query: "return_to=/a?b=1&c=<2>")
        let definite: Set<AuthError.Code> = [
            .invalidToken, .tokenExpired, .tokenReused, .sessionExpired, .sessionRevoked,
            .invalidCredentials, .invalidCode,
        ]
        if definite.contains(code) {
            #expect(response.status == 303, "\(code)")
            #expect(response.values(of: "Set-Cookie").count == 2, "a refused session's cookies go")
        } else {
            #expect(response.status == 503, "\(code)")
            #expect(response.values(of: "Set-Cookie").isEmpty, "the cookies stay for the next try")
            #expect(response.values(of: "Retry-After") == ["5"])
            #expect(response.text.contains(#"href="/a?b=1&amp;c=&lt;2&gt;""#))
            #expect(!response.text.contains("<2>"))
        }
    }

    @Test func sessionRoutesRefuseARevokedSessionAndAnAPIKey() throws {
        let harness = try HandlerHarness()
        harness.domain.sessionActive = false
        let revoked = harness.send("GET", "/api/auth/sessions", bearer: "good")
        #expect(revoked.status == 401 && revoked.errorCode == "session_revoked")
        #expect(!harness.domain.calls.contains("sessions"))
        let expired = harness.send("GET", "/api/auth/sessions", bearer: "expired")
        #expect(expired.status == 401 && expired.errorCode == "token_expired")
        let none = harness.send("GET", "/api/auth/sessions")
        #expect(none.status == 401 && none.errorCode == "unauthorized")
    }

    @Test func meTellsARevokedSessionFromAMissingUser() throws {
        let harness = try HandlerHarness()
        #expect(harness.send("GET", "/api/auth/me", bearer: "good").status == 200)
        #expect(harness.domain.calls == ["activeSessionUser"], "one read when all is well")
        harness.domain.activeUserFound = false
        harness.domain.sessionActive = false
        let revoked = harness.send("GET", "/api/auth/me", bearer: "good")
        #expect(revoked.status == 401 && revoked.errorCode == "session_revoked")
        // The session is active but not this token's user's (only the signing key can make such a token): 401.
        harness.domain.sessionActive = true
        let mismatch = harness.send("GET", "/api/auth/me", bearer: "good")
        #expect(mismatch.status == 401 && mismatch.errorCode == "unauthorized")
        #expect(!harness.domain.calls.contains("user"), "no lookup of the token's subject")
        #expect(harness.logs.all.contains { $0.contains("token_claims_mismatch") })
    }

    @Test func verifyAnswersTheGateWithHeadersAndErrorCodes() throws {
        let harness = try HandlerHarness()
        let ok = harness.send("GET", "/api/auth/verify", bearer: "good")
        #expect(ok.status == 204)
        #expect(ok.values(of: "X-Auth-User-Id") == [FakeDomain.user.id])
        #expect(ok.values(of: "X-Auth-Method") == ["jwt"])
        let expired = harness.send("GET", "/api/auth/verify", bearer: "expired")
        #expect(expired.status == 401 && expired.values(of: "X-Auth-Error") == ["token_expired"])
        #expect(harness.domain.calls.isEmpty, "the gate never reaches the database for a JWT")
        harness.domain.failure = failure(.databaseUnavailable)
        let keyed = harness.responder.handle(
            Request(params: [
                ("REQUEST_METHOD", "GET"), ("DOCUMENT_URI", "/api/auth/verify"),
                ("HTTP_X_API_KEY", "jwta_" + String(repeating: "k", count: 43)),
            ]))
        #expect(keyed.status == 503 && keyed.values(of: "X-Auth-Error") == ["service_unavailable"])
    }

    @Test func healthFollowsTheDatabase() throws {
        let harness = try HandlerHarness()
        #expect(harness.send("GET", "/api/auth/health").status == 200)
        harness.domain.reachable = false
        #expect(harness.send("GET", "/api/auth/health").status == 503)
        #expect(harness.logs.all.contains { $0.contains("connection refused") })
    }

    @Test func everyRouteOfTheTableHasAMetricsSeries() {
        for route in Routes.all {
            #expect(ServiceMetrics.routes.contains(route.path), "\(route.path)")
        }
        #expect(ServiceMetrics.routeIndex("/api/auth/api-keys/abc") == ServiceMetrics.routes.firstIndex(of: "/api/auth/api-keys/{id}"))
        #expect(ServiceMetrics.routeIndex("/nope") == ServiceMetrics.routes.count - 1)
    }

    @Test func onlyABearerTokenThatVerifiesExemptsACookieRequestFromTheCrossSiteCheck() throws {
        let harness = try HandlerHarness()
        let crossSite = [("HTTP_SEC_FETCH_SITE", "cross-site"), ("HTTP_ORIGIN", "https://evil.example")]
        // Behind HTTP Basic, a browser attaches Authorization to a cross-site post by itself: no exemption.
        let basic = harness.send(
            "POST", "/api/auth/logout", cookies: "refresh_token=r",
            headers: crossSite + [("HTTP_AUTHORIZATION", "Basic dXNlcjpwYXNz")])
        #expect(basic.status == 403 && basic.errorCode == "cross_site_request")
        let badBearer = harness.send(
            "POST", "/api/auth/logout", cookies: "refresh_token=r",
            headers: crossSite + [("HTTP_AUTHORIZATION", "Bearer not-a-token")])
        #expect(badBearer.status == 403 && badBearer.errorCode == "cross_site_request")
        #expect(!harness.domain.calls.contains("logout"), "nothing was logged out")
        let bearer = harness.send("POST", "/api/auth/logout-all", bearer: "good", cookies: "refresh_token=r", headers: crossSite)
        #expect(bearer.status == 200, "a verified Bearer token is not a browser's ambient credential")
    }

    @Test(arguments: ["/api/auth/login", "/api/auth/register"])
    func loginAndRegisterAreNeverExempt(path: String) throws {
        let harness = try HandlerHarness()
        let response = harness.send(
            "POST", path, json: #"{"email":"a@example.com","password":"long enough"}"#, bearer: "good",
            headers: [("HTTP_SEC_FETCH_SITE", "cross-site")])
        #expect(response.status == 403 && response.errorCode == "cross_site_request")
        #expect(harness.domain.calls.isEmpty)
    }

    @Test func anAuthCookieSentTwiceIsRefusedNotGuessed() throws {
        let harness = try HandlerHarness()
        let tossed = harness.send("POST", "/api/auth/refresh", cookies: "refresh_token=planted; refresh_token=mine")
        #expect(tossed.status == 400 && tossed.errorCode == "ambiguous_cookie")
        #expect(tossed.values(of: "Set-Cookie").count == 2, "the host-only cookies are cleared")
        #expect(harness.domain.calls.isEmpty, "neither value was tried")
        #expect(harness.logs.all.contains { $0.contains("ambiguous_cookie") && $0.contains("refresh_token") })
        let gate = harness.send("GET", "/api/auth/verify", cookies: "access_token=good; access_token=good")
        #expect(gate.status == 401 && gate.values(of: "X-Auth-Error") == ["ambiguous_cookie"])
        let once = harness.send("GET", "/api/auth/verify", cookies: "access_token=good; other=1; other=2")
        #expect(once.status == 204, "other cookies may repeat")
    }

    @Test func theHostPrefixedAccessCookieIsTheOnlyOneRead() throws {
        let harness = try HandlerHarness(env: ["JWT_COOKIE_HOST_PREFIX": "true", "JWT_COOKIE_SECURE": "true"])
        let login = harness.send("POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"whatever"}"#)
        #expect(
            login.values(of: "Set-Cookie").contains { $0.hasPrefix("__Host-access_token=access.token.value; Path=/;") && $0.hasSuffix("; Secure") })
        #expect(harness.send("GET", "/api/auth/verify", cookies: "__Host-access_token=good").status == 204)
        #expect(harness.send("GET", "/api/auth/verify", cookies: "access_token=good").status == 401, "the unprefixed name is not read")
    }

    @Test func aMetricsTokenIsRequiredWhenConfigured() throws {
        let open = try HandlerHarness()
        #expect(open.send("GET", "/api/auth/metrics").status == 403, "the harness's REMOTE_ADDR is not on metrics.allow")
        let token = String(repeating: "t", count: 32)
        let harness = try HandlerHarness(env: ["JWT_METRICS_TOKEN": token, "JWT_METRICS_ALLOW": "203.0.113.0/24"])
        let none = harness.send("GET", "/api/auth/metrics")
        #expect(none.status == 401 && none.values(of: "WWW-Authenticate") == [#"Bearer realm="metrics""#])
        #expect(harness.send("GET", "/api/auth/metrics", bearer: token + "x").status == 401)
        #expect(harness.send("GET", "/api/auth/metrics", bearer: String(token.dropLast())).status == 401)
        let scraped = harness.send("GET", "/api/auth/metrics", bearer: token)
        #expect(scraped.status == 200 && scraped.text.contains("jwt_authd_requests_total"))
    }
}

import AuthCore
import FastCGI
import Testing

@testable import AuthHTTP

/// #17: the second-factor routes' HTTP behaviour over a fake domain (the domain's own tests run on MariaDB): the
/// challenge answer and its cookie, the second step, reauthentication, the factor routes' guards, and the gate's AAL.
@Suite struct SecondFactorHandlerTests {
    static let challenge = MFAChallenge(token: String(repeating: "t", count: 43), factors: ["totp", "recovery_code"], expiresIn: 300)

    @Test func aLoginThatNeedsASecondFactorSetsOnlyThePendingCookie() throws {
        let harness = try HandlerHarness()
        harness.domain.challenge = Self.challenge
        let json = harness.send("POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"correct horse"}"#)
        #expect(json.status == 200 && json.text == #"{"mfaRequired":true,"factors":["totp","recovery_code"]}"#)
        let cookies = json.values(of: "Set-Cookie")
        #expect(cookies.contains("mfa_pending=\(Self.challenge.token); Path=/api/auth/mfa; Max-Age=300; HttpOnly; SameSite=Strict"))
        #expect(cookies.contains { $0.hasPrefix("access_token=;") } && cookies.contains { $0.hasPrefix("refresh_token=;") })
        #expect(!cookies.contains { $0.hasPrefix("auth_device=") }, "no device mark before the sign-in is complete")
        let form = harness.send("POST", "/api/auth/login", form: "email=a%40example.com&password=correct+horse&callbackUrl=%2Fadmin")
        #expect(form.status == 303 && form.values(of: "Location") == ["/auth/mfa?callbackUrl=%2Fadmin"])
        #expect(harness.metricsText.contains(#"jwt_authd_logins_total{result="mfa_required"} 2"#))
        // A reset ends the same way.
        let reset = harness.send("POST", "/api/auth/password/reset", json: #"{"token":"abc","newPassword":"battery staple"}"#)
        #expect(reset.status == 200 && reset.text.contains(#""mfaRequired":true"#))
    }

    @Test func requiredRolesSendUsersWithoutAFactorToEnrolment() throws {
        let harness = try HandlerHarness(env: ["JWT_MFA_REQUIRED_ROLES": "admin,user"])
        let json = harness.send("POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"correct horse"}"#)
        #expect(json.status == 200 && json.text.contains(#""mfaEnrolmentRequired":true"#))
        let form = harness.send("POST", "/api/auth/login", form: "email=a%40example.com&password=correct+horse&callbackUrl=%2Fx")
        #expect(form.values(of: "Location") == ["/auth/security?enrol=required&callbackUrl=%2Fx"])
        let registered = harness.send("POST", "/api/auth/register", json: #"{"email":"a@example.com","password":"correct horse"}"#)
        #expect(registered.status == 201 && registered.text.contains(#""mfaEnrolmentRequired":true"#))
        let other = try HandlerHarness(env: ["JWT_MFA_REQUIRED_ROLES": "admin"])
        #expect(!other.send("POST", "/api/auth/login", json: #"{"email":"a@example.com","password":"correct horse"}"#).text.contains("mfa"))
    }

    @Test func theSecondStepNeedsItsCookieAndExactlyOneProof() throws {
        let harness = try HandlerHarness()
        let cookie = "mfa_pending=\(Self.challenge.token)"
        let none = harness.send("POST", "/api/auth/mfa/verify", json: #"{"code":"123456"}"#)
        #expect(none.status == 401 && none.errorCode == "invalid_code")
        for body in [
            #"{}"#, #"{"code":"1","recoveryCode":"2"}"#, #"{"code":12}"#, #"{"code":""}"#, "{\"code\":\"\(String(repeating: "1", count: 65))\"}",
        ] {
            let bad = harness.send("POST", "/api/auth/mfa/verify", json: body, cookies: cookie)
            #expect(bad.status == 400 && bad.errorCode == "invalid_request", "\(body)")
        }
        #expect(harness.domain.proofs.isEmpty, "nothing reaches the domain before the body is right")
        let twice = harness.send("POST", "/api/auth/mfa/verify", json: #"{"code":"123456"}"#, cookies: "\(cookie); mfa_pending=other")
        #expect(twice.status == 400 && twice.errorCode == "ambiguous_cookie")
        #expect(twice.values(of: "Set-Cookie") == ["mfa_pending=; Path=/api/auth/mfa; Max-Age=0; HttpOnly; SameSite=Strict"])
        let done = harness.send("POST", "/api/auth/mfa/verify", json: #"{"recoveryCode":"aaaa-bbbb"}"#, cookies: cookie)
        #expect(done.status == 200 && done.text.contains(#""user""#))
        let cookies = done.values(of: "Set-Cookie")
        #expect(cookies.contains { $0.hasPrefix("access_token=access.token.value") } && cookies.contains { $0.hasPrefix("mfa_pending=;") })
        guard case .recoveryCode("aaaa-bbbb")? = harness.domain.proofs.last?.proof else {
            Issue.record("the recovery code did not reach the domain")
            return
        }
        #expect(harness.domain.proofs.last?.challenge == Self.challenge.token)
        #expect(harness.metricsText.contains("jwt_authd_mfa_recovery_codes_used_total 1"))
        harness.domain.failure = AuthError.invalidCode
        let form = harness.send("POST", "/api/auth/mfa/verify", form: "code=000000&callbackUrl=%2Fadmin", cookies: cookie)
        #expect(form.status == 303 && form.values(of: "Location") == ["/auth/mfa?error=invalid_code&callbackUrl=%2Fadmin"])
        harness.domain.failure = AuthError.throttled(retryAfter: 30)
        let throttled = harness.send("POST", "/api/auth/mfa/verify", json: #"{"code":"123456"}"#, cookies: cookie)
        #expect(throttled.status == 429 && throttled.values(of: "Retry-After") == ["30"])
        #expect(harness.metricsText.contains(#"jwt_authd_mfa_verifications_total{result="throttled"} 1"#))
        // Cross-site, whatever it carries: it signs a browser in.
        let crossSite = harness.send(
            "POST", "/api/auth/mfa/verify", json: #"{"code":"123456"}"#, cookies: cookie, headers: [("HTTP_SEC_FETCH_SITE", "cross-site")])
        #expect(crossSite.status == 403 && crossSite.errorCode == "cross_site_request")
    }

    @Test func reauthenticationTakesOneOfPasswordCodeOrRecoveryCode() throws {
        let harness = try HandlerHarness()
        #expect(harness.send("POST", "/api/auth/reauthenticate", json: #"{"password":"x"}"#).status == 401)
        for body in [#"{}"#, #"{"password":"x","code":"1"}"#, #"{"password":""}"#, #"{"password":"a\u0000b"}"#, #"{"password":7}"#] {
            let bad = harness.send("POST", "/api/auth/reauthenticate", json: body, bearer: "good")
            #expect(bad.status == 400 && bad.errorCode == "invalid_request", "\(body)")
        }
        let done = harness.send("POST", "/api/auth/reauthenticate", json: #"{"code":"123456"}"#, bearer: "good")
        #expect(done.status == 200 && done.values(of: "Set-Cookie") == ["access_token=fresh.access; Path=/; Max-Age=900; HttpOnly; SameSite=Lax"])
        harness.domain.sessionActive = false
        #expect(harness.send("POST", "/api/auth/reauthenticate", json: #"{"code":"123456"}"#, bearer: "good").errorCode == "session_revoked")
    }

    @Test func factorChangesNeedARecentSignInAndKeys() throws {
        let harness = try HandlerHarness()
        let begun = harness.send("POST", "/api/auth/mfa/totp", bearer: "good")
        #expect(begun.status == 200 && begun.text.contains(#""qrSvg":"\u003csvg xmlns"#) && begun.text.contains(#""otpauthUri":"otpauth://totp/"#))
        #expect(harness.send("POST", "/api/auth/mfa/totp", json: #"{"name":"a\u0007b"}"#, bearer: "good").status == 400)
        harness.domain.recentlyAuthenticated = false
        for (method, path) in [
            ("POST", "/api/auth/mfa/totp"), ("DELETE", "/api/auth/mfa/\(FakeDomain.sessionID)"), ("POST", "/api/auth/mfa/recovery-codes"),
        ] {
            let stale = harness.send(method, path, bearer: "good")
            #expect(stale.status == 403 && stale.errorCode == "reauthentication_required", "\(path)")
        }
        #expect(harness.send("GET", "/api/auth/mfa", bearer: "good").status == 200, "reading needs no step-up")
        let confirmed = harness.send("POST", "/api/auth/mfa/totp/confirm", json: #"{"code":"123456"}"#, bearer: "good")
        #expect(confirmed.status == 200 && confirmed.values(of: "Set-Cookie").first?.hasPrefix("access_token=aal2.access;") == true)
        harness.domain.mfaAvailable = false
        harness.domain.recentlyAuthenticated = true
        #expect(harness.send("POST", "/api/auth/mfa/totp", bearer: "good").errorCode == "mfa_unavailable")
        // An API key cannot change how its user signs in.
        #expect(harness.send("GET", "/api/auth/mfa", headers: [("HTTP_X_API_KEY", "jwta_x")]).status == 401)
    }

    @Test func sensitiveRoutesOfAUserWithAFactorNeedASessionThatUsedIt() throws {
        let harness = try HandlerHarness(env: ["JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": "/tmp/unused"])
        harness.domain.stepUpFailure = AuthError(.mfaRequired, "")
        let routes: [(String, String, String)] = [
            ("POST", "/api/auth/mfa/totp", "{}"), ("DELETE", "/api/auth/mfa/\(FakeDomain.sessionID)", ""),
            ("POST", "/api/auth/mfa/recovery-codes", ""), ("POST", "/api/auth/api-keys", #"{"name":"ci","password":"correct horse"}"#),
            ("POST", "/api/auth/password", #"{"currentPassword":"correct horse","newPassword":"battery staple"}"#),
            ("POST", "/api/auth/email/change", #"{"newEmail":"b@example.com","password":"correct horse"}"#),
        ]
        for (method, path, body) in routes {
            let refused = harness.send(method, path, json: body.isEmpty ? nil : body, bearer: "good")
            #expect(refused.status == 403 && refused.errorCode == "mfa_required", "\(path): \(refused.text)")
        }
        #expect(!harness.domain.calls.contains { ["changePassword", "requestEmailChange", "createAPIKey", "removeFactor"].contains($0) })
    }

    @Test func theGateTellsTheLevelAndRequiresAAL2WhereAsked() throws {
        let harness = try HandlerHarness()
        let one = harness.send("GET", "/api/auth/verify", bearer: "good", headers: [("HTTP_X_AUTH_REQUIRE_AAL", "1")])
        #expect(one.status == 204 && one.values(of: "X-Auth-AAL") == ["1"])
        let refused = harness.send("GET", "/api/auth/verify", bearer: "good", headers: [("HTTP_X_AUTH_REQUIRE_AAL", "2")])
        #expect(refused.status == 403 && refused.values(of: "X-Auth-Error") == ["mfa_required"])
        #expect(refused.values(of: "X-Auth-MFA-Page") == ["/auth/mfa"])
        let two = harness.send("GET", "/api/auth/verify", bearer: "aal2", headers: [("HTTP_X_AUTH_REQUIRE_AAL", " 2 ")])
        #expect(two.status == 204 && two.values(of: "X-Auth-AAL") == ["2"] && two.values(of: "X-Auth-AMR") == ["pwd otp"])
        for odd in ["3", "aal2", "2,1"] {
            let misconfigured = harness.send("GET", "/api/auth/verify", bearer: "aal2", headers: [("HTTP_X_AUTH_REQUIRE_AAL", odd)])
            #expect(misconfigured.status == 403 && misconfigured.values(of: "X-Auth-Error") == ["forbidden"], "\(odd)")
        }
        let key = harness.send("GET", "/api/auth/verify", headers: [("HTTP_X_API_KEY", "jwta_x"), ("HTTP_X_AUTH_REQUIRE_AAL", "2")])
        #expect(key.status == 403 && key.values(of: "X-Auth-Error") == ["mfa_required"], "an API key is one secret")
    }
}

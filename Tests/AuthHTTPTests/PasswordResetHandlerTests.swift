import AuthCore
import FastCGI
import Testing

@testable import AuthHTTP

/// #16: the password reset routes' HTTP behaviour, over a fake domain (the domain's own tests run on MariaDB).
@Suite struct PasswordResetHandlerTests {
    let mailOn = ["JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": "/tmp/unused"]

    @Test func forgotAnswers202ForAnyPlausibleAddressAndSaysWhenNoMailLeaves() throws {
        let off = try HandlerHarness()
        let unavailable = off.send("POST", "/api/auth/password/forgot", json: #"{"email":"a@example.com"}"#)
        #expect(unavailable.status == 503 && unavailable.errorCode == "mail_unavailable")
        #expect(off.domain.calls.isEmpty, "nothing counted or written when no mail can leave")

        let harness = try HandlerHarness(env: mailOn)
        let accepted = harness.send("POST", "/api/auth/password/forgot", json: #"{"email":"a@example.com"}"#)
        #expect(accepted.status == 202 && String(decoding: accepted.body, as: UTF8.self) == #"{"status":"accepted"}"#)
        #expect(accepted.values(of: "Set-Cookie").isEmpty)
        // In development without http.public_url, links use the request's host, to the reset page.
        #expect(harness.domain.resetLinks.map(\.base) == ["http://auth.example.com"])
        #expect(harness.domain.resetLinks.map(\.page) == ["/auth/reset"])
        let bad = harness.send("POST", "/api/auth/password/forgot", json: #"{"email":"not an address"}"#)
        #expect(bad.status == 400 && bad.errorCode == "invalid_request")
        let form = harness.send("POST", "/api/auth/password/forgot", form: "email=a%40example.com")
        #expect(form.status == 303 && form.values(of: "Location") == ["/auth/forgot?status=accepted"])
        harness.domain.failure = AuthError.throttled(retryAfter: 42)
        let throttled = harness.send("POST", "/api/auth/password/forgot", form: "email=a%40example.com")
        #expect(throttled.values(of: "Location") == ["/auth/forgot?error=throttled&retryAfter=42"])
    }

    @Test func linksUseThePublicURLAndNeverAHostileHost() throws {
        let configured = try HandlerHarness(env: mailOn.merging(["JWT_AUTHD_PUBLIC_URL": "https://www.example.com"]) { $1 })
        _ = configured.send("POST", "/api/auth/password/forgot", json: #"{"email":"a@example.com"}"#, headers: [("HTTP_HOST", "evil.example")])
        #expect(configured.domain.resetLinks.map(\.base) == ["https://www.example.com"])
        let development = try HandlerHarness(env: mailOn)
        let hostile = development.send(
            "POST", "/api/auth/password/forgot", json: #"{"email":"a@example.com"}"#, headers: [("HTTP_HOST", "evil.example/path?x=")])
        #expect(hostile.status == 503 && development.domain.resetLinks.isEmpty)
    }

    @Test func resetSignsInLikeLoginAndSendsAFormBackWithItsToken() throws {
        let harness = try HandlerHarness(env: mailOn)
        let done = harness.send("POST", "/api/auth/password/reset", json: #"{"token":"abc","newPassword":"battery staple"}"#)
        #expect(done.status == 200)
        let cookies = done.values(of: "Set-Cookie")
        #expect(cookies.contains { $0.hasPrefix("access_token=") } && cookies.contains { $0.hasPrefix("refresh_token=") })
        #expect(cookies.contains { $0.hasPrefix("auth_device=") })
        let weak = harness.send("POST", "/api/auth/password/reset", json: #"{"token":"abc","newPassword":"short"}"#)
        #expect(weak.status == 400 && weak.errorCode == "weak_password")
        let missing = harness.send("POST", "/api/auth/password/reset", json: #"{"newPassword":"battery staple"}"#)
        #expect(missing.status == 400 && missing.errorCode == "invalid_request")
        harness.domain.failure = AuthError.resetTokenInvalid
        let invalid = harness.send("POST", "/api/auth/password/reset", json: #"{"token":"abc","newPassword":"battery staple"}"#)
        #expect(invalid.status == 400 && invalid.errorCode == "reset_token_invalid")
        #expect(invalid.values(of: "Set-Cookie").isEmpty)
        let form = harness.send("POST", "/api/auth/password/reset", form: "token=abc-_9&newPassword=battery+staple")
        #expect(form.values(of: "Location") == ["/auth/reset?error=reset_token_invalid&token=abc-_9"])
        let odd = harness.send("POST", "/api/auth/password/reset", form: "token=a%0D%0ASet-Cookie:x&newPassword=battery+staple")
        #expect(odd.values(of: "Location") == ["/auth/reset?error=reset_token_invalid"], "a token that is not base64url is not echoed")
    }

    @Test(arguments: ["/api/auth/password/forgot", "/api/auth/password/reset"])
    func crossSitePostsAreRefused(path: String) throws {
        let harness = try HandlerHarness(env: mailOn)
        let response = harness.send(
            "POST", path, json: #"{"email":"a@example.com","token":"abc","newPassword":"battery staple"}"#,
            headers: [("HTTP_SEC_FETCH_SITE", "cross-site"), ("HTTP_ORIGIN", "https://evil.example")])
        #expect(response.status == 403 && response.errorCode == "cross_site_request")
        #expect(harness.domain.calls.isEmpty)
    }
}

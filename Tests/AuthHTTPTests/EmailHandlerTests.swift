import AuthCore
import FastCGI
import Testing

@testable import AuthHTTP

/// #16: the email verification and change routes, the gate's verified-address switch and registration that waits
/// for a verified address, over a fake domain (the domain's own tests run on MariaDB).
@Suite struct EmailHandlerTests {
    let mailOn = ["JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": "/tmp/unused"]

    @Test func verifyAnswersTheUserOrAFormRedirect() throws {
        let harness = try HandlerHarness(env: mailOn)
        let done = harness.send("POST", "/api/auth/email/verify", json: #"{"token":"abc"}"#)
        #expect(done.status == 200 && String(decoding: done.body, as: UTF8.self).contains(#""emailVerified":false"#))
        #expect(done.values(of: "Set-Cookie").isEmpty, "a verification signs no one in")
        let missing = harness.send("POST", "/api/auth/email/verify", json: "{}")
        #expect(missing.status == 400 && missing.errorCode == "invalid_request")
        let form = harness.send("POST", "/api/auth/email/verify", form: "token=abc")
        #expect(form.status == 303 && form.values(of: "Location") == ["/auth/verify-email?status=verified"])
        harness.domain.failure = AuthError.emailTokenInvalid
        let invalid = harness.send("POST", "/api/auth/email/verify", json: #"{"token":"abc"}"#)
        #expect(invalid.status == 400 && invalid.errorCode == "email_token_invalid")
        let invalidForm = harness.send("POST", "/api/auth/email/verify", form: "token=abc")
        #expect(invalidForm.values(of: "Location") == ["/auth/verify-email?error=email_token_invalid"])
        harness.domain.failure = AuthError.emailTaken
        #expect(harness.send("POST", "/api/auth/email/verify", json: #"{"token":"abc"}"#).status == 409)
    }

    @Test func resendTakesAnAddressOrTheSessionAndNeedsMail() throws {
        let off = try HandlerHarness()
        #expect(off.send("POST", "/api/auth/email/verify/resend", json: #"{"email":"a@example.com"}"#).errorCode == "mail_unavailable")
        let harness = try HandlerHarness(env: mailOn)
        let byAddress = harness.send("POST", "/api/auth/email/verify/resend", json: #"{"email":"a@example.com"}"#)
        #expect(byAddress.status == 202 && String(decoding: byAddress.body, as: UTF8.self) == #"{"status":"accepted"}"#)
        let bySession = harness.send("POST", "/api/auth/email/verify/resend", json: "{}", bearer: "good")
        #expect(bySession.status == 202)
        #expect(harness.domain.verificationRequests.map(\.email) == ["a@example.com", nil])
        #expect(harness.domain.verificationRequests.map(\.userID) == [nil, FakeDomain.user.id])
        #expect(harness.domain.verificationRequests.map(\.link.page) == ["/auth/verify-email", "/auth/verify-email"])
        let neither = harness.send("POST", "/api/auth/email/verify/resend", json: "{}")
        #expect(neither.status == 400 && neither.errorCode == "invalid_request")
        let bad = harness.send("POST", "/api/auth/email/verify/resend", json: #"{"email":"nope"}"#)
        #expect(bad.status == 400)
        for wrong in [#"{"email":{}}"#, #"{"email":42}"#, #"{"email":["a@example.com"]}"#, #"{"email":null}"#] {
            let typed = harness.send("POST", "/api/auth/email/verify/resend", json: wrong, bearer: "good")
            #expect(typed.status == 400, "a signed-in caller's wrongly typed address is refused, not ignored: \(wrong)")
        }
        #expect(harness.domain.verificationRequests.count == 2)
        let form = harness.send("POST", "/api/auth/email/verify/resend", form: "email=a%40example.com")
        #expect(form.values(of: "Location") == ["/auth/verify-email?status=sent"])
    }

    @Test func changeNeedsASessionThePasswordAndMail() throws {
        let harness = try HandlerHarness(env: mailOn)
        let body = #"{"newEmail":"b@example.com","password":"correct horse"}"#
        #expect(harness.send("POST", "/api/auth/email/change", json: body).status == 401)
        let accepted = harness.send("POST", "/api/auth/email/change", json: body, bearer: "good")
        #expect(accepted.status == 202 && harness.domain.calls.filter { $0 == "requestEmailChange" }.count == 1)
        let fields = harness.send("POST", "/api/auth/email/change", json: #"{"newEmail":"x"}"#, bearer: "good")
        #expect(fields.status == 400 && fields.errorCode == "invalid_request")
        harness.domain.failure = AuthError.invalidCredentials
        #expect(harness.send("POST", "/api/auth/email/change", json: body, bearer: "good").errorCode == "invalid_credentials")
        let off = try HandlerHarness()
        #expect(off.send("POST", "/api/auth/email/change", json: body, bearer: "good").errorCode == "mail_unavailable")
    }

    @Test func aRegistrationThatWaitsForVerificationSetsNoCookie() throws {
        let harness = try HandlerHarness(env: mailOn.merging(["JWT_REQUIRE_VERIFIED_EMAIL": "true"]) { $1 })
        harness.domain.registrationNeedsVerification = true
        let response = harness.send("POST", "/api/auth/register", json: #"{"email":"a@example.com","password":"correct horse"}"#)
        #expect(response.status == 202 && String(decoding: response.body, as: UTF8.self) == #"{"status":"verification_required"}"#)
        #expect(response.values(of: "Set-Cookie").isEmpty)
        #expect(harness.domain.registrationLinks.first??.verify.page == "/auth/verify-email")
        let form = harness.send("POST", "/api/auth/register", form: "email=a%40example.com&password=correct+horse")
        #expect(form.values(of: "Location") == ["/auth/verify-email?status=sent"])
        // Without mail, a registration gets no links (nothing can be mailed).
        let off = try HandlerHarness()
        _ = off.send("POST", "/api/auth/register", json: #"{"email":"a@example.com","password":"correct horse"}"#)
        #expect(off.domain.registrationLinks.count == 1 && off.domain.registrationLinks[0] == nil)
    }

    @Test func theGateTellsAndCanRequireAVerifiedAddress() throws {
        let harness = try HandlerHarness()
        let unverified = harness.send("GET", "/api/auth/verify", bearer: "good")
        #expect(unverified.status == 204 && unverified.values(of: "X-Auth-Email-Verified") == ["false"])
        #expect(harness.send("GET", "/api/auth/verify", bearer: "verified").values(of: "X-Auth-Email-Verified") == ["true"])
        for value in ["1", "on", "true", "ON"] {
            let required = harness.send("GET", "/api/auth/verify", bearer: "good", headers: [("HTTP_X_AUTH_REQUIRE_VERIFIED", value)])
            #expect(required.status == 403 && required.values(of: "X-Auth-Error") == ["email_unverified"], "\(value)")
            #expect(required.values(of: "X-Auth-Verify-Page") == ["/auth/verify-email"])
            let passes = harness.send("GET", "/api/auth/verify", bearer: "verified", headers: [("HTTP_X_AUTH_REQUIRE_VERIFIED", value)])
            #expect(passes.status == 204)
        }
        let off = harness.send("GET", "/api/auth/verify", bearer: "good", headers: [("HTTP_X_AUTH_REQUIRE_VERIFIED", "")])
        #expect(off.status == 204)
    }

    @Test(arguments: ["/api/auth/email/verify", "/api/auth/email/verify/resend"])
    func crossSitePostsAreRefused(path: String) throws {
        let harness = try HandlerHarness(env: mailOn)
        let response = harness.send(
            "POST", path, json: #"{"email":"a@example.com","token":"abc"}"#,
            headers: [("HTTP_SEC_FETCH_SITE", "cross-site"), ("HTTP_ORIGIN", "https://evil.example")])
        #expect(response.status == 403 && response.errorCode == "cross_site_request")
        #expect(harness.domain.calls.isEmpty)
    }

    @Test func theMetricsShowTheOutboxWhenMailIsOn() throws {
        let env = mailOn.merging(["JWT_METRICS_ALLOW": "203.0.113.0/24"]) { $1 }
        let harness = try HandlerHarness(env: env)
        let text = String(decoding: harness.send("GET", "/api/auth/metrics").body, as: UTF8.self)
        for line in [
            "jwt_authd_mail_queue_readable 1", #"jwt_authd_mail_messages{status="queued"} 2"#, #"jwt_authd_mail_messages{status="sent"} 5"#,
            #"jwt_authd_mail_messages{status="failed"} 1"#, "jwt_authd_mail_retries 3", "jwt_authd_mail_oldest_queued_age_seconds 42",
        ] {
            #expect(text.split(separator: "\n").contains { $0 == line }, "\(line)")
        }
        harness.domain.failure = AuthError(.databaseUnavailable, "down")
        let down = String(decoding: harness.send("GET", "/api/auth/metrics").body, as: UTF8.self)
        #expect(down.contains("jwt_authd_mail_queue_readable 0\n") && !down.contains("jwt_authd_mail_messages"))
        let off = try HandlerHarness(env: ["JWT_METRICS_ALLOW": "203.0.113.0/24"])
        let quiet = String(decoding: off.send("GET", "/api/auth/metrics").body, as: UTF8.self)
        #expect(quiet.contains("jwt_authd_requests_total") || quiet.contains("# TYPE"))
        #expect(!quiet.contains("jwt_authd_mail") && off.domain.calls.isEmpty, "no mail, no outbox read")
    }

    @Test func theRoutesThatMayMailAnswerAtTheSameTimeForKnownAndUnknownAddresses() throws {
        let harness = try HandlerHarness(env: mailOn)
        let signedIn = #"{"newEmail":"b@example.com","password":"correct horse"}"#
        let answers = [
            harness.send("POST", "/api/auth/password/forgot", json: #"{"email":"a@example.com"}"#),
            harness.send("POST", "/api/auth/password/forgot", form: "email=a%40example.com"),
            harness.send("POST", "/api/auth/email/verify/resend", json: #"{"email":"a@example.com"}"#),
            harness.send("POST", "/api/auth/email/change", json: signedIn, bearer: "good"),
        ]
        for answer in answers {
            // Held until 100 ms (accounts.mail_answer_time) after arrival; the fake answered within a few.
            #expect(answer.holdMilliseconds > 50 && answer.holdMilliseconds <= 100, "\(answer.status) \(answer.holdMilliseconds)")
        }
        harness.domain.registrationNeedsVerification = true
        let registered = harness.send("POST", "/api/auth/register", json: #"{"email":"a@example.com","password":"correct horse"}"#)
        #expect(registered.status == 202 && registered.holdMilliseconds > 50)
        // Refusals before any lookup are not held; nor is anything when the floor is off.
        #expect(harness.send("POST", "/api/auth/password/forgot", json: #"{"email":"nope"}"#).holdMilliseconds == 0)
        let off = try HandlerHarness(env: mailOn.merging(["JWT_MAIL_ANSWER_TIME": "0s"]) { $1 })
        #expect(off.send("POST", "/api/auth/password/forgot", json: #"{"email":"a@example.com"}"#).holdMilliseconds == 0)
    }
}

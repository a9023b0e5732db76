import AuthCore
import FastCGI
import StrictJSON
import Testing

@testable import AuthHTTP

/// #18: the passkey routes' HTTP behaviour over a fake domain (the ceremonies themselves are tested on MariaDB and
/// against the spec's vectors): who may call what, the body's shape, the answers and cookies, the metrics.
@Suite struct PasskeyHandlerTests {
    static let credential = #"{"id":"AQ","rawId":"AQ","type":"public-key","response":{}}"#

    @Test func registrationNeedsASessionAndAStepUp() throws {
        let harness = try HandlerHarness()
        #expect(harness.send("POST", "/api/auth/passkeys/register/options").status == 401)
        #expect(harness.send("POST", "/api/auth/passkeys/register", json: #"{"credential":\#(Self.credential)}"#).status == 401)
        let options = harness.send("POST", "/api/auth/passkeys/register/options", bearer: "good")
        #expect(options.status == 200 && options.text == #"{"challenge":"AAAA","rpId":"example.com"}"#)
        harness.domain.recentlyAuthenticated = false
        let stale = harness.send("POST", "/api/auth/passkeys/register/options", bearer: "good")
        #expect(stale.status == 403 && stale.errorCode == "reauthentication_required")
        harness.domain.recentlyAuthenticated = true
        harness.domain.stepUpFailure = AuthError(.mfaRequired, "")
        #expect(harness.send("POST", "/api/auth/passkeys/register/options", bearer: "good").errorCode == "mfa_required")
    }

    @Test func aRegistrationAnswersThePasskeyItsCodesAndANewAccessCookie() throws {
        let harness = try HandlerHarness()
        for body in [
            #"{}"#, #"{"credential":"AQ"}"#, #"{"credential":[]}"#, #"{"credential":\#(Self.credential),"name":7}"#,
            "{\"credential\":\(Self.credential),\"name\":\"\(String(repeating: "n", count: 101))\"}",
            #"{"credential":\#(Self.credential),"name":"a\u0001b"}"#,
        ] {
            let bad = harness.send("POST", "/api/auth/passkeys/register", json: body, bearer: "good")
            #expect(bad.status == 400 && bad.errorCode == "invalid_request", "\(body)")
        }
        #expect(!harness.domain.calls.contains { $0.hasPrefix("registerPasskey") })
        let done = harness.send(
            "POST", "/api/auth/passkeys/register", json: #"{"credential":\#(Self.credential),"name":"  laptop "}"#, bearer: "good")
        #expect(done.status == 201 && harness.domain.calls.contains("registerPasskey(laptop)"))
        #expect(done.text.contains(#""recoveryCodes":["aaaa-bbbb-cccc-dddd"]"#) && done.text.contains(#""synced":true"#))
        #expect(done.text.contains(#""aaguid":"00000000-0000-0000-0000-000000000000""#))
        #expect(done.values(of: "Set-Cookie").contains { $0.hasPrefix("access_token=aal2.access") })
        #expect(harness.metricsText.contains("jwt_authd_passkeys_registered_total 1"))
        harness.domain.failure = AuthError(
            .passkeyInvalid, "The passkey could not be verified: the origin https://evil.example is not one of this site's")
        let refused = harness.send("POST", "/api/auth/passkeys/register", json: #"{"credential":\#(Self.credential)}"#, bearer: "good")
        #expect(refused.status == 400 && refused.errorCode == "passkey_invalid" && refused.text.contains("evil.example"))
    }

    @Test func aPasswordlessSignInIsALogin() throws {
        let harness = try HandlerHarness()
        let options = harness.send("POST", "/api/auth/passkeys/login/options", json: #"{"email":"ann@example.com"}"#)
        #expect(options.status == 200 && harness.domain.calls.contains("passkeySignInOptions(ann@example.com)"))
        #expect(harness.send("POST", "/api/auth/passkeys/login/options").status == 200)
        #expect(harness.domain.calls.contains("passkeySignInOptions(-)"))
        #expect(harness.send("POST", "/api/auth/passkeys/login/options", json: #"{"email":5}"#).status == 400)
        #expect(harness.send("POST", "/api/auth/passkeys/login", json: #"{}"#).status == 400)
        #expect(harness.send("POST", "/api/auth/passkeys/login", form: "credential=x").status == 415)
        let signedIn = harness.send("POST", "/api/auth/passkeys/login", json: #"{"credential":\#(Self.credential)}"#)
        #expect(signedIn.status == 200 && signedIn.text.contains(#""user""#))
        let cookies = signedIn.values(of: "Set-Cookie")
        #expect(cookies.contains { $0.hasPrefix("access_token=access.token.value") } && cookies.contains { $0.hasPrefix("refresh_token=") })
        harness.domain.failure = AuthError.invalidCredentials
        let refused = harness.send("POST", "/api/auth/passkeys/login", json: #"{"credential":\#(Self.credential)}"#)
        #expect(refused.status == 401 && refused.errorCode == "invalid_credentials")
        harness.domain.failure = AuthError.throttled(retryAfter: 30)
        #expect(harness.send("POST", "/api/auth/passkeys/login", json: #"{"credential":\#(Self.credential)}"#).status == 429)
        harness.domain.failure = AuthError.passkeysUnavailable
        #expect(harness.send("POST", "/api/auth/passkeys/login/options").status == 503)
        let text = harness.metricsText
        #expect(text.contains(#"jwt_authd_passkey_logins_total{result="ok"} 1"#))
        #expect(text.contains(#"jwt_authd_passkey_logins_total{result="failed"} 1"#))
        #expect(text.contains(#"jwt_authd_passkey_logins_total{result="throttled"} 1"#))
    }

    @Test func aPasskeyAnswersTheSecondStepAndAReauthentication() throws {
        let harness = try HandlerHarness()
        let cookie = "mfa_pending=\(String(repeating: "t", count: 43))"
        let none = harness.send("POST", "/api/auth/mfa/passkey/options")
        #expect(none.status == 401 && none.errorCode == "invalid_code")
        #expect(harness.send("POST", "/api/auth/mfa/passkey/options", cookies: cookie).status == 200)
        for body in [#"{"passkey":"AQ"}"#, #"{"passkey":\#(Self.credential),"code":"123456"}"#] {
            let bad = harness.send("POST", "/api/auth/mfa/verify", json: body, cookies: cookie)
            #expect(bad.status == 400 && bad.errorCode == "invalid_request", "\(body)")
        }
        let done = harness.send("POST", "/api/auth/mfa/verify", json: #"{"passkey":\#(Self.credential)}"#, cookies: cookie)
        #expect(done.status == 200)
        guard case .passkey(let json)? = harness.domain.proofs.last?.proof else {
            Issue.record("no passkey proof")
            return
        }
        #expect(json["type"]?.stringValue == "public-key")
        #expect(harness.send("POST", "/api/auth/passkeys/reauthenticate/options").status == 401)
        #expect(harness.send("POST", "/api/auth/passkeys/reauthenticate/options", bearer: "good").status == 200)
        let both = harness.send("POST", "/api/auth/reauthenticate", json: #"{"password":"x","passkey":\#(Self.credential)}"#, bearer: "good")
        #expect(both.status == 400)
        #expect(harness.send("POST", "/api/auth/reauthenticate", json: #"{"passkey":\#(Self.credential)}"#, bearer: "good").status == 200)
    }

    @Test func theListRenamesAndRemovals() throws {
        let harness = try HandlerHarness()
        #expect(harness.send("GET", "/api/auth/passkeys").status == 401)
        let list = harness.send("GET", "/api/auth/passkeys", bearer: "good")
        #expect(list.status == 200 && list.text.contains(#""available":true"#) && list.text.contains(#""name":"laptop""#))
        let id = FakeDomain.sessionID
        #expect(harness.send("PATCH", "/api/auth/passkeys/\(id)", json: #"{"name":"work"}"#, bearer: "good").status == 200)
        #expect(harness.domain.calls.contains("renamePasskey(work)"))
        #expect(harness.send("PATCH", "/api/auth/passkeys/\(id)", json: #"{"name":null}"#, bearer: "good").status == 200)
        #expect(harness.domain.calls.contains("renamePasskey(-)"))
        #expect(harness.send("PATCH", "/api/auth/passkeys/other", json: #"{"name":"x"}"#, bearer: "good").status == 404)
        harness.domain.recentlyAuthenticated = false
        #expect(harness.send("DELETE", "/api/auth/passkeys/\(id)", bearer: "good").errorCode == "reauthentication_required")
        harness.domain.recentlyAuthenticated = true
        #expect(harness.send("DELETE", "/api/auth/passkeys/\(id)", bearer: "good").status == 200)
        #expect(harness.send("DELETE", "/api/auth/passkeys/other", bearer: "good").status == 404)
        // An API key cannot change how its user signs in.
        #expect(harness.send("GET", "/api/auth/passkeys", headers: [("HTTP_X_API_KEY", "ak_x")]).status == 401)
    }
}

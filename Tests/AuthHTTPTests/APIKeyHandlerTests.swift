import AuthCore
import FastCGI
import Testing

@testable import AuthHTTP

/// #15 item 5 at the HTTP side: re-authentication before a key is made, scopes, and keeping keys on purpose only.
@Suite struct APIKeyHandlerTests {
    @Test func creatingAKeyNeedsARecentSignInOrThePassword() throws {
        let harness = try HandlerHarness()
        harness.domain.recentlyAuthenticated = false
        let stale = harness.send("POST", "/api/auth/api-keys", json: #"{"name":"ci"}"#, bearer: "good")
        #expect(stale.status == 403 && stale.errorCode == "reauthentication_required")
        #expect(!harness.domain.calls.contains("createAPIKey"))
        let withPassword = harness.send("POST", "/api/auth/api-keys", json: #"{"name":"ci","password":"correct horse"}"#, bearer: "good")
        #expect(withPassword.status == 201)
        #expect(harness.domain.calls.contains("reauthenticate") && harness.domain.calls.last == "createAPIKey")
        harness.domain.recentlyAuthenticated = true
        let fresh = harness.send("POST", "/api/auth/api-keys", json: #"{"name":"ci","scope":"read"}"#, bearer: "good")
        #expect(fresh.status == 201 && fresh.text.contains(#""scope":"read""#))
    }

    @Test func aWrongPasswordOrABadScopeCreatesNothing() throws {
        let harness = try HandlerHarness()
        for body in [#"{"name":"ci","scope":"admin"}"#, #"{"name":"ci","scope":1}"#, #"{"name":"ci","password":""}"#, #"{"name":"ci","password":7}"#]
        {
            let response = harness.send("POST", "/api/auth/api-keys", json: body, bearer: "good")
            #expect(response.status == 400 && response.errorCode == "invalid_request", "\(body)")
        }
        harness.domain.failure = AuthError.invalidCredentials
        let wrong = harness.send("POST", "/api/auth/api-keys", json: #"{"name":"ci","password":"nope"}"#, bearer: "good")
        #expect(wrong.status == 401 && wrong.errorCode == "invalid_credentials")
        #expect(!harness.domain.calls.contains("createAPIKey"))
        // An API key cannot make keys, whatever it presents.
        let byKey = harness.send(
            "POST", "/api/auth/api-keys", json: #"{"name":"ci","password":"correct horse"}"#,
            headers: [("HTTP_X_API_KEY", "jwta_" + String(repeating: "k", count: 43))])
        #expect(byKey.status == 401)
    }

    @Test func aReadKeyPassesTheGateForSafeMethodsOnly() throws {
        let harness = try HandlerHarness()
        harness.domain.apiKeyScope = .read
        let key = ("HTTP_X_API_KEY", "jwta_" + String(repeating: "k", count: 43))
        for method in ["GET", "HEAD", "OPTIONS"] {
            let response = harness.send("GET", "/api/auth/verify", headers: [key, ("HTTP_X_ORIGINAL_METHOD", method)])
            #expect(response.status == 204 && response.values(of: "X-Auth-Scopes") == ["read"], "\(method)")
        }
        for method in ["POST", "PUT", "PATCH", "DELETE", "get", nil] {
            var headers = [key]
            if let method { headers.append(("HTTP_X_ORIGINAL_METHOD", method)) }
            let response = harness.send("GET", "/api/auth/verify", headers: headers)
            #expect(response.status == 403 && response.values(of: "X-Auth-Error") == ["insufficient_scope"], "\(method ?? "none")")
        }
        harness.domain.apiKeyScope = .full
        let full = harness.send("GET", "/api/auth/verify", headers: [key, ("HTTP_X_ORIGINAL_METHOD", "POST")])
        #expect(full.status == 204 && full.values(of: "X-Auth-Scopes") == ["full"])
        #expect(harness.send("GET", "/api/auth/verify", bearer: "good").values(of: "X-Auth-Scopes") == ["full"])
    }

    @Test func keysAreKeptOnlyWhenAskedAndOnlyByTheUser() throws {
        let harness = try HandlerHarness()
        #expect(harness.send("POST", "/api/auth/logout-all", bearer: "good").status == 200)
        #expect(harness.send("POST", "/api/auth/logout-all", json: #"{"keepApiKeys":true}"#, bearer: "good").status == 200)
        #expect(harness.send("POST", "/api/auth/logout-all", json: #"{"keepApiKeys":"yes"}"#, bearer: "good").status == 400)
        let change = #"{"currentPassword":"correct horse","newPassword":"battery staple","keepApiKeys":true}"#
        #expect(harness.send("POST", "/api/auth/password", json: change, bearer: "good").status == 200)
        #expect(
            harness.domain.calls.filter { $0.hasPrefix("revokeAll") || $0.hasPrefix("changePassword") } == [
                "revokeAll", "revokeAll(keepingAPIKeys)", "changePassword(keepingAPIKeys)",
            ])
    }
}

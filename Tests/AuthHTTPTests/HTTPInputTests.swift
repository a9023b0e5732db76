import AuthCore
import FastCGI
import Testing

@testable import AuthHTTP

@Suite struct HTTPInputTests {
    private func request(_ params: [(String, String)], body: String = "") -> Request {
        Request(params: params, body: Array(body.utf8))
    }

    @Test func cookiesAreParsedForgivingJunkAndKeepingTheFirstDuplicate() {
        let r = request([("HTTP_COOKIE", "  access_token=a.b.c; junk; =x; refresh_token=\"r\";access_token=second; theme=dark=1")])
        #expect(r.cookies["access_token"] == "a.b.c")
        #expect(r.cookies["refresh_token"] == "r")
        #expect(r.cookies["theme"] == "dark=1")
        #expect(request([]).cookies.isEmpty)
        // Blanks around names and values, quotes, and bytes that are not ASCII, next to the delimiters.
        let mixed = request([("HTTP_COOKIE", "\tname = \"é\" ;ü=ö;x=\"\"; q=\"; e=; t=a b ;")]).cookies
        #expect(mixed == ["name": "é", "ü": "ö", "x": "", "q": "\"", "e": "", "t": "a b"])
    }

    @Test func everyValueOfOneCookieIsFoundInOrder() {
        let request = Request(params: [("HTTP_COOKIE", "a=1; auth_device=x; b=2;auth_device=\"y\"; auth_device")], body: [])
        #expect(request.cookieValues("auth_device") == ["x", "y"])
        #expect(request.cookieValues("missing").isEmpty)
        #expect(Request(params: [], body: []).cookieValues("auth_device").isEmpty)
        let many = (0..<20).map { "auth_device=v\($0)" }.joined(separator: "; ")
        #expect(Request(params: [("HTTP_COOKIE", many)], body: []).cookieValues("auth_device").count == DeviceCookies.maxValues, "bounded")
    }

    @Test func oneCookieIsFoundAsTheDictionaryWouldHaveIt() {
        let headers = [
            "  access_token=a.b.c; junk; =x; refresh_token=\"r\";access_token=second; theme=dark=1",
            "access_token=\(String(repeating: "x", count: 8193)); access_token=small", "other=1", "",
        ]
        for header in headers {
            let r = request([("HTTP_COOKIE", header)])
            for name in ["access_token", "refresh_token", "theme", "junk", "other", "missing"] {
                #expect(r.cookie(name) == r.cookies[name], "\(name) in \(header.prefix(40))")
            }
        }
        #expect(
            request([("HTTP_COOKIE", "access_token=\(String(repeating: "x", count: 8193)); access_token=small")])
                .cookie("access_token") == "small")
        #expect(request([]).cookie("access_token") == nil)
    }

    @Test(arguments: [("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER \tabc \t", "abc"), ("Bearer  a.b.c", "a.b.c")])
    func bearerTokensAreTakenFromAnyCaseOfTheScheme(header: String, token: String) {
        #expect(Caller.bearerToken(in: header) == token)
    }

    @Test(arguments: ["Bearer", "Bearer ", "Bearer \t ", "Basic abc", "Bearer\tabc", "Bearerabc", "Token abc", "", " Bearer abc"])
    func otherAuthorizationsHaveNoBearerToken(header: String) {
        #expect(Caller.bearerToken(in: header) == nil)
    }

    @Test func mediaTypeIgnoresParametersAndCase() {
        #expect(request([("CONTENT_TYPE", "Application/JSON; charset=utf-8")]).mediaType == "application/json")
        #expect(request([("CONTENT_TYPE", "")]).mediaType == nil)
    }

    @Test func formsAndQueriesDecode() {
        #expect(FormDecoding.decode("email=a%40b.c&password=p+w%21&x=&email=second") == ["email": "a@b.c", "password": "p w!", "x": ""])
        #expect(FormDecoding.decode("bad=%zz%4") == ["bad": "%zz%4"])
        #expect(FormDecoding.encode("/dash?x=1 2") == "%2Fdash%3Fx%3D1%202")
    }

    @Test func bodiesMustBeJSONObjectsOrForms() throws {
        #expect(throws: APIError(status: 415, code: "unsupported_media_type", message: "")) {
            try BodyFields.parse(self.request([("CONTENT_TYPE", "text/plain")], body: "x"), allowForm: true)
        }
        #expect(throws: APIError(status: 415, code: "unsupported_media_type", message: "")) {
            try BodyFields.parse(self.request([("CONTENT_TYPE", "application/x-www-form-urlencoded")], body: "a=b"), allowForm: false)
        }
        #expect(throws: APIError(status: 400, code: "invalid_json", message: "")) {
            try BodyFields.parse(self.request([("CONTENT_TYPE", "application/json")], body: "{\"a\":"), allowForm: false)
        }
        #expect(throws: APIError(status: 400, code: "invalid_json", message: "")) {
            try BodyFields.parse(self.request([("CONTENT_TYPE", "application/json")], body: "[1]"), allowForm: false)
        }
        let fields = try BodyFields.parse(
            request([("CONTENT_TYPE", "application/json")], body: #"{"email":"e","n":1,"z":null,"extra":[]}"#), allowForm: false)
        #expect(fields.string("email").text == "e")
        if case .wrongType = fields.string("n") {} else { Issue.record("a number is not a string") }
        if case .absent = fields.string("z") {} else { Issue.record("null is absent") }
        #expect(try BodyFields.parse(request([]), allowForm: false).json == nil)
    }
}

@Suite struct RedirectTargetTests {
    @Test(arguments: ["/dashboard", "/dashboard/settings?tab=1#x", "/a/b%20c"])
    func sameSitePathsPass(path: String) {
        #expect(RedirectTarget.sameSite(path, fallback: "/home") == path)
    }

    @Test(arguments: [
        "//evil.example", "https://evil.example", "/\\evil.example", "/%2F%2Fevil.example", "javascript:alert(1)",
        "/%5cevil", "evil", "", "/ok\r\nSet-Cookie: x=1", "/\t/evil", "/a//b", "\\\\evil",
    ])
    func everythingElseFallsBack(path: String) {
        #expect(RedirectTarget.sameSite(path, fallback: "/home") == "/home")
    }
}

@Suite struct CrossSiteCheckTests {
    let check = CrossSiteCheck(allowedOrigins: ["https://app.example.com"])

    private func allows(_ headers: [(String, String)]) -> Bool {
        check.allows(Request(params: [("HTTP_HOST", "auth.example.com")] + headers))
    }

    @Test func fetchMetadataDecidesWhenPresent() {
        #expect(allows([("HTTP_SEC_FETCH_SITE", "same-origin")]))
        #expect(allows([("HTTP_SEC_FETCH_SITE", "none")]))
        #expect(!allows([("HTTP_SEC_FETCH_SITE", "cross-site")]))
        #expect(!allows([("HTTP_SEC_FETCH_SITE", "same-site")]))
        #expect(allows([("HTTP_SEC_FETCH_SITE", "cross-site"), ("HTTP_ORIGIN", "https://app.example.com")]))
    }

    @Test func originMustMatchTheHostOtherwise() {
        #expect(allows([("HTTP_ORIGIN", "https://auth.example.com")]))
        #expect(!allows([("HTTP_ORIGIN", "https://evil.example")]))
        #expect(!allows([("HTTP_ORIGIN", "null")]))
        #expect(allows([]), "no browser headers: not a browser")
    }
}

@Suite struct ClientAddressTests {
    let resolver = ClientAddressResolver(trustedProxies: ["10.0.0.0/8", "::1", "192.168.1.1"])

    @Test func remoteAddressUnlessATrustedProxyForwards() {
        #expect(resolver.resolve(remoteAddress: "203.0.113.5", forwardedFor: "1.2.3.4") == "203.0.113.5")
        #expect(resolver.resolve(remoteAddress: "10.1.2.3", forwardedFor: "1.2.3.4") == "1.2.3.4")
        #expect(
            resolver.resolve(remoteAddress: "10.1.2.3", forwardedFor: "6.6.6.6, 1.2.3.4, 10.9.9.9") == "1.2.3.4",
            "the nearest untrusted hop, not the client-controlled first one")
        #expect(resolver.resolve(remoteAddress: "::1", forwardedFor: "2001:db8::1") == "2001:db8::1")
        #expect(resolver.resolve(remoteAddress: "10.1.2.3", forwardedFor: "garbage, 1.2.3.4") == "1.2.3.4")
        #expect(resolver.resolve(remoteAddress: "10.1.2.3", forwardedFor: "1.2.3.4, garbage") == "10.1.2.3")
        #expect(resolver.resolve(remoteAddress: "10.1.2.3", forwardedFor: nil) == "10.1.2.3")
        #expect(resolver.resolve(remoteAddress: "::ffff:10.0.0.1", forwardedFor: "5.5.5.5") == "5.5.5.5")
    }

    @Test func addressesParse() {
        #expect(IPAddress(parsing: "2001:db8::8a2e:370:7334")?.bytes.count == 16)
        #expect(IPAddress(parsing: "::") != nil)
        #expect(IPAddress(parsing: "1.2.3") == nil)
        #expect(IPAddress(parsing: "256.1.1.1") == nil)
        #expect(IPAddress(parsing: "1::2::3") == nil)
    }
}

@Suite struct CookieFormatTests {
    @Test func attributesAreExactlyTheSeeds() {
        let cookies = AuthCookies(secure: true)
        #expect(
            cookies.clear().map(\.value) == [
                "access_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure",
                "refresh_token=; Path=/api/auth; Max-Age=0; HttpOnly; SameSite=Lax; Secure",
            ])
        #expect(AuthCookies(secure: false).clear()[0].value == "access_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    }
}

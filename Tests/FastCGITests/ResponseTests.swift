import Glibc
import Testing

@testable import FastCGI

@Suite struct ResponseTests {
    private func text(_ response: Response) -> String {
        String(decoding: response.serialized(), as: UTF8.self)
    }

    @Test func serializesStatusHeadersAndBody() {
        let response = Response(status: 404, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
        #expect(text(response) == "Status: 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    }

    @Test func keepsRepeatedHeadersInOrder() {
        let response = Response(status: 200, headers: [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        #expect(text(response).contains("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"))
    }

    @Test(arguments: ["evil\r\nSet-Cookie: x=1", "evil\nx", "nul\u{0}"])
    func dropsHeadersThatWouldSplitTheResponse(value: String) {
        let response = Response(status: 200, headers: [("X-Test", value), ("X-Ok", "fine")])
        let serialized = text(response)
        #expect(!serialized.contains("X-Test"))
        #expect(!serialized.contains("x=1"))
        #expect(serialized.contains("X-Ok: fine\r\n"))
    }

    @Test func contentLengthAlwaysComesFromTheBody() {
        let response = Response(status: 200, headers: [("Content-Length", "999")], body: [1, 2, 3])
        let serialized = text(response)
        #expect(serialized.contains("Content-Length: 3\r\n"))
        #expect(!serialized.contains("999"))
    }

    @Test func headerLookupIgnoresCase() {
        let response = Response(status: 405, headers: [("Allow", "GET, HEAD")])
        #expect(response.header("allow") == "GET, HEAD")
        #expect(response.header("x-missing") == nil)
    }
}

@Suite struct RequestTests {
    @Test(arguments: [
        ("Content-Type", "CONTENT_TYPE"), ("content-length", "CONTENT_LENGTH"),
        ("X-API-Key", "HTTP_X_API_KEY"), ("Cookie", "HTTP_COOKIE"), ("sec-fetch-site", "HTTP_SEC_FETCH_SITE"),
    ])
    func mapsHeaderNamesToCGIParams(header: String, param: String) {
        #expect(Request.cgiName(ofHeader: header) == param)
    }

    @Test func readsTypedFieldsFromParams() {
        let request = Request(
            params: [
                ("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/api/auth/login"),
                ("REQUEST_URI", "/api/auth/login?x=1"), ("QUERY_STRING", "x=1"),
                ("REMOTE_ADDR", "127.0.0.1"), ("HTTP_X_API_KEY", "k"), ("CONTENT_TYPE", "application/json"),
            ],
            body: Array("{}".utf8))
        #expect(request.method == "POST")
        #expect(request.path == "/api/auth/login")
        #expect(request.query == "x=1")
        #expect(request.remoteAddress == "127.0.0.1")
        #expect(request.header("X-Api-Key") == "k")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("Authorization") == nil)
        #expect(request.body == Array("{}".utf8))
    }

    @Test func pathFallsBackToRequestURIWithoutQuery() {
        let request = Request(params: [("REQUEST_URI", "/api/auth/health?verbose=1")])
        #expect(request.path == "/api/auth/health")
        #expect(request.method == "GET")
    }

    @Test func anInvalidatedRequestAnswersNothing() {
        let request = Request(params: [("REQUEST_METHOD", "DELETE")])
        request.invalidate()
        #expect(request.param("REQUEST_METHOD") == nil)
        #expect(request.allParams.isEmpty)
    }

    /// Runs `body` with a request over a libfcgi-style `NAME=value` array (the server's own representation).
    private func withEnvironment(_ entries: [String], _ body: (Request) -> Void) {
        let strings = entries.map { strdup($0) }
        defer { for string in strings { free(string) } }
        var envp: [UnsafeMutablePointer<CChar>?] = strings + [nil]
        envp.withUnsafeMutableBufferPointer { buffer in
            let request = Request(source: .environment(buffer.baseAddress!), body: [])
            body(request)
            request.invalidate()
            #expect(request.field(.authorization) == nil)
            #expect(request.header("Authorization") == nil)
        }
    }

    @Test func fieldsAndHeadersFromTheLibfcgiEnvironment() {
        withEnvironment([
            "SCRIPT_NAME=/api/auth/verify", "REQUEST_METHOD=GET", "CONTENT_LENGTH=", "HTTP_HOST=example.com",
            "HTTP_AUTHORIZATION=Bearer a=b", "HTTP_AUTHORIZATION=Bearer second", "HTTP_X_API_KEYS=not-the-key",
            "HTTP_X_AUTH_REQUIRE_ROLE_EXTRA=x", "HTTP_X_AUTH_REQUIRE_ROLE=admin", "DOCUMENT_URI=/api/auth/verify",
            "HTTP_COOKIE=access_token=t", "NOEQUALSSIGN", "HTTP_X_CUSTOM=c",
        ]) { request in
            #expect(request.method == "GET")
            #expect(request.path == "/api/auth/verify")
            #expect(request.field(.host) == "example.com")
            // The first of a repeated name wins (as FCGX_GetParam), and a value may hold '='.
            #expect(request.field(.authorization) == "Bearer a=b")
            #expect(request.header("Authorization") == "Bearer a=b")
            // Names are compared whole: a longer or shorter name with the same start is another parameter.
            #expect(request.field(.apiKey) == nil)
            #expect(request.field(.authRequireRole) == "admin")
            #expect(request.field(.contentLength) == "")
            #expect(request.field(.contentType) == nil)
            #expect(request.field(.cookie) == "access_token=t")
            #expect(request.header("X-Custom") == "c")
            #expect(request.header("x-custom") == "c")
            #expect(request.header("X-Missing") == nil)
            #expect(request.param("NOEQUALSSIGN") == nil)
        }
    }

    @Test func everyFieldIsFoundByItsCGIName() {
        let entries = Request.Field.allCases.map { "\($0.cgiName)=value-\($0.rawValue)" }
        withEnvironment(entries.reversed()) { request in
            for field in Request.Field.allCases {
                #expect(request.field(field) == "value-\(field.rawValue)")
            }
        }
        // And the same answers from pairs (the test representation).
        let request = Request(params: Request.Field.allCases.map { ($0.cgiName, "pair-\($0.rawValue)") })
        for field in Request.Field.allCases {
            #expect(request.field(field) == "pair-\(field.rawValue)")
        }
    }
}

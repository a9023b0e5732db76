import Testing

@testable import FastCGI

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("unix:/run/jwt-authd/jwt-authd.sock", ListenAddress.unix(path: "/run/jwt-authd/jwt-authd.sock")),
        ("/tmp/a.sock", .unix(path: "/tmp/a.sock")),
        ("127.0.0.1:9000", .tcp(host: "127.0.0.1", port: 9000)),
        (":9001", .tcp(host: "127.0.0.1", port: 9001)),
        ("[::1]:9002", .tcp(host: "::1", port: 9002)),
        ("localhost:80", .tcp(host: "localhost", port: 80)),
        ("fd0", .inherited),
        ("  127.0.0.1:9000 ", .tcp(host: "127.0.0.1", port: 9000)),
    ])
    func parsesValidAddresses(text: String, expected: ListenAddress) throws {
        #expect(try ListenAddress(parsing: text) == expected)
    }

    @Test(arguments: [
        "", "unix:relative.sock", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "host:port",
        "[::1]9000", "unix:/" + String(repeating: "x", count: 120),
    ])
    func rejectsInvalidAddresses(text: String) {
        #expect(throws: ListenAddress.ParseError.self) { try ListenAddress(parsing: text) }
    }

    @Test func describesAddressesForLogs() throws {
        #expect(try ListenAddress(parsing: "[::1]:9002").description == "[::1]:9002")
        #expect(try ListenAddress(parsing: "/tmp/a.sock").description == "unix:/tmp/a.sock")
    }
}

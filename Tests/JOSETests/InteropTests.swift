import Foundation
import StrictJSON
import Testing

@testable import JOSE

/// Interop both ways with independent implementations from Debian: PyJWT (python3-jwt) and panva/jose (node-jose,
/// the seed's own library). Tokens we sign verify there; tokens they sign, with keys they made, verify here.
@Suite(.serialized, .enabled(if: InteropTools.enabled))
struct InteropTests {
    static let tools: [InteropTools.Tool] = [.pyjwt, .jose]
    static let algorithms: [JWSAlgorithm] = [.hs256, .edDSA, .es256]

    @Test(arguments: tools, algorithms)
    func ourTokensVerifyThere(tool: InteropTools.Tool, algorithm: JWSAlgorithm) throws {
        let directory = try InteropTools.temporaryDirectory()
        let key = try JWTKey.generate(algorithm, id: "ours")
        let keyFile = directory.appending(path: "key.jwk")
        // HS256 has no public part: the other side gets the shared secret.
        try (try key.publicJWK() ?? key.privateJWK()).text.write(to: keyFile, atomically: true, encoding: .utf8)
        let claims = accessClaims(exp: Int64(Date().timeIntervalSince1970) + 900, iat: Int64(Date().timeIntervalSince1970) - 5)
        let token = try JWTSigner(keys: try KeySet(signingKey: key), type: .access).sign(claims)
        let request = JSON.object([
            ("token", .string(token)), ("issuer", .string("jwt-authd")),
            ("audience", .string("jwt-authd")), ("typ", .string("at+jwt")),
        ])
        let (status, output) = try InteropTools.run(tool, ["verify", keyFile.path], stdin: request.text)
        #expect(status == 0, "\(tool) refused our \(algorithm.rawValue) token: \(output)")
        let verified = try JSON.parse(Array(output.utf8))
        #expect(verified["sub"] == .string("0b6f3c8e-2f7a-4d52-9a55-3c1f2e9b7d10"))
        #expect(verified["sid"] == .string("4b2d1c0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d"))

        // The same token with one signature character changed is refused there too.
        var tampered = Array(token.utf8)
        tampered[tampered.count - 5] = tampered[tampered.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let bad = JSON.object([("token", .string(String(decoding: tampered, as: UTF8.self)))])
        #expect(try InteropTools.run(tool, ["verify", keyFile.path], stdin: bad.text).status == 1)
    }

    @Test(arguments: tools, algorithms)
    func theirTokensAndKeysVerifyHere(tool: InteropTools.Tool, algorithm: JWSAlgorithm) throws {
        let directory = try InteropTools.temporaryDirectory()
        let privateFile = directory.appending(path: "private.jwk")
        let publicFile = directory.appending(path: "public.jwk")
        let (made, message) = try InteropTools.run(tool, ["genkey", algorithm.rawValue, privateFile.path, publicFile.path])
        #expect(made == 0, "\(message)")
        let issued = Int64(Date().timeIntervalSince1970)
        let request = JSON.object([
            ("claims", .object(accessClaims(exp: issued + 900, iat: issued - 5))),
            ("header", .object([("typ", .string("at+jwt"))])),
        ])
        let (status, token) = try InteropTools.run(tool, ["sign", privateFile.path], stdin: request.text)
        #expect(status == 0, "\(token)")
        let key = try JWTKey.load(fileText: try String(contentsOf: publicFile, encoding: .utf8))
        #expect(key.algorithm == algorithm)
        let verifier = JWTVerifier(
            keys: try KeySet(
                signingKey: algorithm == .hs256 ? key : try JWTKey.generate(algorithm),
                verifyOnly: algorithm == .hs256 ? [] : [key]),
            type: .access, rules: rules)
        let verified = try verifier.verify(token.trimmingCharacters(in: .whitespacesAndNewlines), now: Date())
        #expect(verified.string("email") == "a@example.com")
        if algorithm != .hs256 {
            // Their kid is the RFC 7638 thumbprint, the same as ours for the key.
            #expect(key.id == (try key.thumbprint()))
        }
        // A token they signed as a refresh-type token is not an access token here.
        let refreshRequest = JSON.object([
            ("claims", .object(accessClaims(exp: issued + 900, iat: issued - 5))),
            ("header", .object([("typ", .string("refresh+jwt"))])),
        ])
        let (_, refreshToken) = try InteropTools.run(tool, ["sign", privateFile.path], stdin: refreshRequest.text)
        #expect(throws: JOSEError.wrongType) {
            try verifier.verify(refreshToken.trimmingCharacters(in: .whitespacesAndNewlines), now: Date())
        }
    }
}

/// Runs the interop tools of Tests/interop.
enum InteropTools {
    enum Tool: String, CustomTestStringConvertible, Sendable {
        case pyjwt, jose
        var testDescription: String { rawValue }
    }

    static let directory = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "interop")

    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
            && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/jwt")
            && FileManager.default.fileExists(atPath: "/usr/share/nodejs/jose")
            && nodePath != nil
    }

    /// Enabled when the tools are installed; under CI they must be (the test command installs them), so a missing
    /// tool fails the run instead of skipping.
    static var enabled: Bool { available || ProcessInfo.processInfo.environment["CI"] == "true" }

    static var nodePath: String? {
        ["/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appending(path: "jwt-authd-interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs a tool; returns its exit status and standard output (standard error appended on failure).
    static func run(_ tool: Tool, _ arguments: [String], stdin: String = "") throws -> (status: Int32, output: String) {
        let process = Process()
        switch tool {
        case .pyjwt:
            process.executableURL = URL(filePath: "/usr/bin/python3")
            process.arguments = [directory.appending(path: "pyjwt_tool.py").path] + arguments
        case .jose:
            guard let node = nodePath else { throw CocoaError(.fileNoSuchFile) }
            process.executableURL = URL(filePath: node)
            process.arguments = [directory.appending(path: "jose_tool.js").path] + arguments
        }
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var text = String(decoding: out, as: UTF8.self)
        if process.terminationStatus != 0 { text += String(decoding: err, as: UTF8.self) }
        return (process.terminationStatus, text)
    }
}

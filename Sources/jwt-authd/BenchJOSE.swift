import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import JOSE
import StrictJSON

/// `jwt-authd bench-jose`: sign and verify rates on one thread, with the verifier the server uses.
struct BenchJOSE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-jose",
        abstract: "Measure JWT sign and verify operations per second on the calling thread (see bench/jose/run.sh).",
        discussion: "Prints one JSON line per operation: {\"lib\":\"jwt-authd\",\"alg\":…,\"op\":…,\"per_second\":…,\"us_per_op\":…}")

    @Option(help: "HS256, EdDSA or ES256.")
    var alg: String = "HS256"

    @Option(help: "Seconds per operation.")
    var seconds: Double = 2

    @Option(help: "A JWK or PEM key file (default: a fresh random key).")
    var key: String?

    @Option(help: "sign, verify or both.")
    var op: String = "both"

    func run() throws {
        guard let algorithm = JWSAlgorithm(rawValue: alg) else { throw ValidationError("--alg must be HS256, EdDSA or ES256") }
        let jwtKey = try key.map { try JWTKey.load(fileText: try ConfigSources.readTextFile($0)) } ?? JWTKey.generate(algorithm)
        guard jwtKey.algorithm == algorithm else { throw ValidationError("the key is for \(jwtKey.algorithm.rawValue)") }
        let keys = try KeySet(signingKey: jwtKey)
        let signer = JWTSigner(keys: keys, type: .access)
        let verifier = JWTVerifier(
            keys: keys, type: .access,
            rules: ClaimRules(issuer: "jwt-authd", audience: "jwt-authd", leewaySeconds: 0))
        let issued = Int64(Date().timeIntervalSince1970)
        let claims: [(String, JSON)] = [
            ("sub", .string("0b6f3c8e-2f7a-4d52-9a55-3c1f2e9b7d10")), ("email", .string("a@example.com")),
            ("role", .string("user")), ("sid", .string("4b2d1c0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d")),
            ("jti", .string("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")), ("iss", .string("jwt-authd")),
            ("aud", .string("jwt-authd")), ("iat", .int(issued)), ("exp", .int(issued + 900)),
        ]
        let token = try signer.sign(claims)
        let now = Date()
        _ = try verifier.verify(token, now: now)
        if op != "verify" { report("sign", measure { _ = try? signer.sign(claims) }) }
        if op != "sign" {
            report(
                "verify",
                measure {
                    guard (try? verifier.verify(token, now: now)) != nil else { fatalError("verification failed during the benchmark") }
                })
        }
    }

    private func measure(_ operation: () -> Void) -> (count: Int, seconds: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let budget = Duration.milliseconds(Int64(seconds * 1000))
        var count = 0
        repeat {
            for _ in 0..<200 { operation() }
            count += 200
        } while clock.now - start < budget
        let elapsed = clock.now - start
        return (count, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    private func report(_ operation: String, _ result: (count: Int, seconds: Double)) {
        let perSecond = Double(result.count) / result.seconds
        let line = JSON.object([
            ("lib", .string("jwt-authd")), ("alg", .string(alg)), ("op", .string(operation)),
            ("per_second", .int(Int64(perSecond.rounded()))), ("us_per_op", .double((1e6 / perSecond * 100).rounded() / 100)),
        ])
        print(line.text)
    }
}

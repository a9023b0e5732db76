import CryptoPrimitives
import Foundation
import StrictJSON
import Testing

@testable import JOSE

@Suite struct PropertyTests {
    static let algorithms: [JWSAlgorithm] = [.hs256, .edDSA, .es256]

    private func randomString(_ generator: inout SeededGenerator) -> String {
        let pool = Array("abcXYZ019 _-\"\\/<>&é🔐\u{0}\n\t")
        return String((0..<Int.random(in: 0...24, using: &generator)).map { _ in pool.randomElement(using: &generator)! })
    }

    private func randomValue(_ generator: inout SeededGenerator, depth: Int = 0) -> JSON {
        switch Int.random(in: 0...(depth > 2 ? 4 : 6), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .int(Int64.random(in: Int64.min...Int64.max, using: &generator))
        case 3: return .double(Double.random(in: -1e6...1e6, using: &generator))
        case 4: return .string(randomString(&generator))
        case 5: return .array((0..<Int.random(in: 0...3, using: &generator)).map { _ in randomValue(&generator, depth: depth + 1) })
        default:
            var names = Set<String>()
            var members: [(String, JSON)] = []
            for _ in 0..<Int.random(in: 0...3, using: &generator) {
                let name = randomString(&generator)
                if names.insert(name).inserted { members.append((name, randomValue(&generator, depth: depth + 1))) }
            }
            return .object(members)
        }
    }

    @Test(arguments: algorithms)
    func signThenVerifyRoundTripsRandomClaims(algorithm: JWSAlgorithm) throws {
        var generator = SeededGenerator(seed: 0xC0FFEE &+ UInt64(algorithm.rawValue.count))
        let keys = try KeySet(signingKey: try JWTKey.generate(algorithm, id: "p"))
        let signer = JWTSigner(keys: keys, type: .access)
        let verifier = JWTVerifier(keys: keys, type: .access, rules: rules)
        for _ in 0..<150 {
            var claims = accessClaims()
            var names = Set(claims.map(\.0))
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                let name = randomString(&generator)
                if names.insert(name).inserted { claims.append((name, randomValue(&generator))) }
            }
            let token = try signer.sign(claims)
            let verified = try verifier.verify(token, now: now)
            #expect(verified.claims == .object(claims))
        }
    }

    /// Any change of any one character of a valid token makes verification fail.
    @Test(arguments: algorithms)
    func everySingleCharacterMutationIsRefused(algorithm: JWSAlgorithm) throws {
        let keys = try KeySet(signingKey: try JWTKey.generate(algorithm, id: "m"))
        let token = Array(try JWTSigner(keys: keys, type: .access).sign(accessClaims()).utf8)
        let verifier = JWTVerifier(keys: keys, type: .access, rules: rules)
        let replacements = Array("AQgw-_.=+/ \u{7F}".utf8) + [0xC3]
        // HS256 is cheap: every position; the signatures sample every third position.
        let stride = algorithm == .hs256 ? 1 : 3
        var tried = 0
        for position in Swift.stride(from: 0, to: token.count, by: stride) {
            for replacement in replacements where replacement != token[position] {
                var mutated = token
                mutated[position] = replacement
                let text = String(decoding: mutated, as: UTF8.self)
                #expect(throws: JOSEError.self, "position \(position)") { try verifier.verify(text, now: now) }
                tried += 1
            }
        }
        #expect(tried > 1000 / stride)
    }
}

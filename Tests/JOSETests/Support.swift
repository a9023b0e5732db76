import CryptoPrimitives
import Foundation
import StrictJSON

@testable import JOSE

/// Fixed clock for every test: no test waits for time to pass.
let now = Date(timeIntervalSince1970: 1_800_000_000)
let nowSeconds = Int64(1_800_000_000)

func secret(_ fill: UInt8) -> SecureBytes { SecureBytes([UInt8](repeating: fill, count: 32)) }

/// Seed-shaped access claims.
func accessClaims(exp: Int64 = nowSeconds + 900, iat: Int64 = nowSeconds - 10) -> [(String, JSON)] {
    [
        ("sub", .string("0b6f3c8e-2f7a-4d52-9a55-3c1f2e9b7d10")), ("email", .string("a@example.com")), ("role", .string("user")),
        ("sid", .string("4b2d1c0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d")), ("jti", .string("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")),
        ("iss", .string("jwt-authd")), ("aud", .string("jwt-authd")), ("iat", .int(iat)), ("exp", .int(exp)),
    ]
}

let rules = ClaimRules(issuer: "jwt-authd", audience: "jwt-authd", leewaySeconds: 0)

/// Builds a compact JWS from raw header and payload bytes, signed by `key` (or with the given signature).
func forge(header: String, payload: [UInt8], key: JWTKey?, signature: [UInt8]? = nil) throws -> String {
    let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(payload)
    let sig = try signature ?? key.map { try $0.sign(Array(input.utf8)) } ?? []
    return input + "." + Base64URL.encode(sig)
}

func forge(header: String, claims: [(String, JSON)], key: JWTKey?) throws -> String {
    try forge(header: header, payload: JSON.object(claims).bytes, key: key)
}

/// A deterministic generator for property tests (xorshift64*), so a failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = text.filter { !$0.isWhitespace }.makeIterator()
    while let high = iterator.next(), let low = iterator.next() { bytes.append(UInt8(String([high, low]), radix: 16)!) }
    return bytes
}

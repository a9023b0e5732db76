import Foundation
import Synchronization
import Testing

@testable import AuthCore

/// Access tokens verified once are answered from ``VerifiedAccessTokens`` with the same answer the full check gives:
/// expired at `exp`, refused before `nbf`/`iat` when the clock goes back, never for other bytes; bounded.
@Suite struct VerifiedAccessTokenTests {
    let clock = ManualClock()
    let settings: AuthSettings
    let issuer: TokenIssuer
    let user = User(
        id: "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", email: "ann@example.com", name: "Ann", role: "admin",
        emailVerifiedAt: Date(timeIntervalSince1970: 1_700_000_000), createdAt: Date(timeIntervalSince1970: 1_700_000_000))

    init() throws {
        let env = [
            "DATABASE_URL": "mariadb://root@localhost/x", "JWT_AUTHD_LISTEN": "127.0.0.1:9000",
            "JWT_ACCESS_SECRET": String(repeating: "a", count: 32), "JWT_REFRESH_SECRET": String(repeating: "r", count: 32),
            "JWT_ACCESS_TTL": "15m",
        ]
        let config = try Config.load(sources: ConfigSources(environment: env))
        settings = AuthSettings(config: config, keys: try TokenKeys.load(config.tokens, readFile: { _ in "" }))
        issuer = TokenIssuer(settings: settings, clock: clock)
    }

    private func token(at now: Date? = nil) throws -> String {
        let now = now ?? clock.now()
        return try issuer.accessToken(
            user: user, sessionID: "0190a1b2-c3d4-7e5f-8a6b-000000000001",
            authentication: Authentication(time: now, methods: ["pwd", "otp"]), now: now)
    }

    @Test func aSecondCheckIsAnsweredFromTheCacheWithTheSameClaims() throws {
        let token = try token()
        let first = try issuer.verifyAccessToken(token)
        #expect(settings.verifiedAccessTokens.count == 1)
        let second = try issuer.verifyAccessToken(token)
        #expect(second == first && settings.verifiedAccessTokens.count == 1)
        #expect(second.role == "admin" && second.emailVerified && second.methods == ["pwd", "otp"])
    }

    @Test func aCachedTokenExpiresAtItsExp() throws {
        let token = try token()
        _ = try issuer.verifyAccessToken(token)
        clock.advance(15 * 60 - 1)
        #expect(try issuer.verifyAccessToken(token).userID == user.id)
        clock.advance(1)
        #expect(throws: AuthError.tokenExpired) { try issuer.verifyAccessToken(token) }
        #expect(settings.verifiedAccessTokens.count == 0, "an expired entry is dropped")
        #expect(throws: AuthError.tokenExpired) { try issuer.verifyAccessToken(token) }
    }

    @Test func aClockThatGoesBackBeforeIatGetsTheFullCheck() throws {
        let token = try token()
        _ = try issuer.verifyAccessToken(token)
        clock.advance(-3600)
        #expect(throws: AuthError.invalidToken) { try issuer.verifyAccessToken(token) }
    }

    @Test func otherBytesAreNeverAnsweredFromTheCache() throws {
        let token = try token()
        _ = try issuer.verifyAccessToken(token)
        // The same token with its last signature character changed, with a byte added, and a refusal: all checked
        // in full, none kept.
        let last = token.last == "A" ? "B" : "A"
        for other in [String(token.dropLast()) + last, token + "A", token + " ", "x.y.z"] {
            #expect(throws: AuthError.invalidToken) { try issuer.verifyAccessToken(other) }
        }
        #expect(settings.verifiedAccessTokens.count == 1)
    }

    @Test func theCacheIsBounded() throws {
        let cache = VerifiedAccessTokens(capacity: 4)
        let claims = try issuer.verifyAccessToken(try token())
        for index in 0..<10 {
            let until = index < 6 ? 100.0 : 1_000.0  // the first six expire at 100
            cache.keep(.init(claims: claims, validFrom: 0, validUntil: until), for: .init(of: "t\(index)"), now: 200)
            #expect(cache.count <= 4)
        }
        #expect(cache.entry(.init(of: "t9")) != nil && cache.entry(.init(of: "t0")) == nil)
    }

    /// A full cache of live tokens drops about half of them, never all (a busy process keeps half of its hits) and
    /// never fewer than needed to stay under three quarters.
    @Test func aFullCacheOfLiveTokensKeepsAboutHalf() throws {
        let cache = VerifiedAccessTokens(capacity: 256)
        let claims = try issuer.verifyAccessToken(try token())
        for index in 0..<256 {
            cache.keep(.init(claims: claims, validFrom: 0, validUntil: 1_000), for: .init(of: "live\(index)"), now: 200)
        }
        #expect(cache.count == 256)
        cache.keep(.init(claims: claims, validFrom: 0, validUntil: 1_000), for: .init(of: "one more"), now: 200)
        #expect(cache.count > 64 && cache.count <= 256 * 3 / 4 + 1, "kept \(cache.count)")
        #expect(cache.entry(.init(of: "one more")) != nil)
        let kept = (0..<256).filter { cache.entry(.init(of: "live\($0)")) != nil }.count
        for index in 256..<600 {
            cache.keep(.init(claims: claims, validFrom: 0, validUntil: 1_000), for: .init(of: "live\(index)"), now: 200)
            #expect(cache.count <= 256)
        }
        #expect(kept > 64 && cache.count > 64)
    }

    /// Threads looking up, adding and forgetting at once (the lookups share the lock, the changes take it alone):
    /// every entry found is the one kept for that digest, and the bound holds throughout.
    @Test func concurrentLookupsAndChangesStayConsistent() throws {
        let cache = VerifiedAccessTokens(capacity: 64)
        let claims = try issuer.verifyAccessToken(try token())
        let keys = (0..<200).map { VerifiedAccessTokens.Digest(of: "key\($0)") }
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            var wrong = 0
            for round in 0..<5_000 {
                let index = (round * 7 + thread * 13) % keys.count
                if let found = cache.entry(keys[index]), found.validUntil != Double(index) { wrong += 1 }
                switch round % 10 {
                case 0: cache.keep(.init(claims: claims, validFrom: 0, validUntil: Double(index)), for: keys[index], now: -1)
                case 5: cache.forget(keys[(index + 1) % keys.count])
                default: break
                }
                if cache.count > 64 { wrong += 1 }
            }
            let found = wrong
            mismatches.withLock { $0 += found }
        }
        #expect(mismatches.withLock { $0 } == 0)
        #expect(cache.count <= 64)
    }
}

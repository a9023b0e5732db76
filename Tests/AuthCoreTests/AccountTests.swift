import AuthCore
import Foundation
import MariaDB
import Passwords
import TestSupport
import Testing

@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class AccountTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let client = AuthFixture.client

    init() throws {
        fixture = try AuthFixture(env: [
            "JWT_THROTTLE_LOGIN_PER_ACCOUNT": "3", "JWT_THROTTLE_LOGIN_PER_IP": "5",
            "JWT_THROTTLE_REGISTER_PER_IP": "4",
        ])
        auth = try fixture.auth()
    }

    @Test func usersAreCreatedNormalisedAndUnique() throws {
        let user = try auth.accounts.createUser(email: "  Alice@Example.COM ", password: "correct horse", name: "Alice")
        #expect(user.email == "alice@example.com" && user.role == "user" && user.name == "Alice")
        #expect(try auth.accounts.user(email: "ALICE@example.com")?.id == user.id)
        #expect(try auth.accounts.user(id: user.id)?.email == "alice@example.com")
        #expect(throws: AuthError.emailTaken) { try self.auth.accounts.createUser(email: "alice@EXAMPLE.com", password: "other password") }
        #expect(throws: AuthError(.weakPassword, "")) { try self.auth.accounts.createUser(email: "b@example.com", password: "short") }
        #expect(throws: AuthError(.invalidInput, "")) { try self.auth.accounts.createUser(email: "not-an-email", password: "correct horse") }
        #expect(throws: AuthError(.invalidInput, "")) { try self.auth.accounts.createUser(email: "a b@example.com", password: "correct horse") }
        try auth.accounts.setRole(userID: user.id, "admin")
        try auth.accounts.markEmailVerified(userID: user.id)
        let updated = try #require(try auth.accounts.user(id: user.id))
        #expect(updated.role == "admin" && updated.emailVerifiedAt != nil)
        #expect(throws: AuthError(.invalidInput, "")) { try self.auth.accounts.setRole(userID: user.id, "admin; DROP TABLE users") }
        // The stored hash is Argon2id, never the password.
        let stored = try Connection(url: fixture.url).query("SELECT password_hash FROM users WHERE id = ?", [.string(user.id)])
        #expect(try stored.first?.string("password_hash").hasPrefix("$argon2id$v=19$") == true)
    }

    @Test func unknownEmailAndWrongPasswordLookTheSameAndCostTheSame() throws {
        _ = try auth.accounts.createUser(email: "bob@example.com", password: "correct horse")
        let checksBefore = fixture.hasher.checks + fixture.hasher.dummies
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "bob@example.com", password: "wrong horse", client: self.client)
        }
        let afterWrong = fixture.hasher.checks + fixture.hasher.dummies
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "nobody@example.com", password: "wrong horse", client: self.client)
        }
        let afterUnknown = fixture.hasher.checks + fixture.hasher.dummies
        #expect(afterWrong - checksBefore == 1)
        #expect(afterUnknown - afterWrong == 1, "an unknown email must cost one hash check too")
        #expect(fixture.hasher.dummies == 1)
        let pair = try auth.accounts.login(email: "BOB@example.com", password: "correct horse", client: client)
        #expect(pair.user.email == "bob@example.com")
        #expect(!fixture.logs.all.contains { $0.contains("correct horse") || $0.contains("wrong horse") })
    }

    @Test func failedLoginsAreThrottledPerAccountAndSuccessResetsTheCount() throws {
        _ = try auth.accounts.createUser(email: "carol@example.com", password: "correct horse")
        for _ in 0..<2 {
            #expect(throws: AuthError.invalidCredentials) {
                try self.auth.accounts.login(email: "carol@example.com", password: "nope nope", client: self.client)
            }
        }
        _ = try auth.accounts.login(email: "carol@example.com", password: "correct horse", client: client)  // resets the account count
        for _ in 0..<3 {
            #expect(throws: AuthError.invalidCredentials) {
                try self.auth.accounts.login(email: "carol@example.com", password: "nope nope", client: self.client)
            }
        }
        let checks = fixture.hasher.checks
        do {
            _ = try auth.accounts.login(email: "carol@example.com", password: "correct horse", client: client)
            Issue.record("a throttled login succeeded")
        } catch {
            #expect(error == .throttled(retryAfter: 0))
            #expect((error.retryAfter ?? 0) > 0 && (error.retryAfter ?? 0) <= 15 * 60)
        }
        #expect(fixture.hasher.checks == checks, "no password is checked while throttled")
        // Another client address is throttled per account too, but the window ends.
        fixture.clock.advance(15 * 60 + 1)
        _ = try auth.accounts.login(email: "carol@example.com", password: "correct horse", client: ClientContext(ip: "198.51.100.9"))
    }

    @Test func oneReservationCountsAndChecksBothLoginThrottles() throws {
        let settings = auth.settings.throttle
        let home = "203.0.113.50"
        let elsewhere = "203.0.113.51"
        // The first attempt of both counts.
        var state = try auth.throttle.reserveLogin(email: "dave@example.com", ip: home)
        #expect(state.accountWait == nil && state.addressWait == nil)

        // Attempts up to both limits: counted, no wait.
        for _ in 2..<settings.loginPerAccount { try auth.throttle.recordFailure(.loginAccount, "dave@example.com") }
        for _ in 2..<settings.loginPerIP { try auth.throttle.recordFailure(.loginIP, home) }
        state = try auth.throttle.reserveLogin(email: "dave@example.com", ip: home)
        #expect(state.accountWait == nil && state.addressWait == nil, "the limit-th attempt may go on")

        // The account over its limit waits from any address; the address over its limit waits for any account.
        state = try auth.throttle.reserveLogin(email: "dave@example.com", ip: elsewhere)
        #expect((state.accountWait ?? 0) > 0 && state.addressWait == nil)
        state = try auth.throttle.reserveLogin(email: "erin@example.com", ip: home)
        #expect(state.accountWait == nil && (state.addressWait ?? 0) > 0)
        state = try auth.throttle.reserveLogin(email: "dave@example.com", ip: home)
        #expect((state.accountWait ?? 0) > 0 && (state.addressWait ?? 0) > 0)
        // Each answer is about its own scope: the account's count is not the address's and vice versa.
        #expect(try auth.throttle.delay(.loginAccount, home) == nil)
        #expect(try auth.throttle.delay(.loginIP, "dave@example.com") == nil)

        // Once the window has ended nobody waits: the attempt starts a new window.
        fixture.clock.advance(settings.window.timeInterval + 1)
        state = try auth.throttle.reserveLogin(email: "dave@example.com", ip: home)
        #expect(state.accountWait == nil && state.addressWait == nil)
    }

    @Test func aSuccessfulLoginGivesItsReservationBack() throws {
        _ = try auth.accounts.createUser(email: "frank@example.com", password: "correct horse")
        let other = ClientContext(ip: "192.0.2.77")
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "frank@example.com", password: "wrong horse", client: other)
        }
        // A success from another address forgets the account's count and gives its own address's attempt back.
        _ = try auth.accounts.login(email: "frank@example.com", password: "correct horse", client: client)
        let rows = try Connection(url: fixture.url).query(
            "SELECT scope, failures FROM auth_throttle ORDER BY scope, failures DESC"
        ).map { (try $0.string("scope"), try $0.int("failures")) }
        // The account's count is forgotten (0), the other address keeps its failure, this one got its attempt back.
        #expect(rows.map(\.0) == ["login_account", "login_ip", "login_ip"] && rows.map(\.1) == [0, 1, 0], "\(rows)")
        // Successes never add up to a throttle of their own address.
        for _ in 0..<(auth.settings.throttle.loginPerIP + 2) {
            _ = try auth.accounts.login(email: "frank@example.com", password: "correct horse", client: client)
        }
    }

    /// DELETE statements run so far on the service's own connection (its session counter).
    private func deleteStatements() throws -> Int64 {
        let row = try #require(try auth.database.connection.query("SHOW SESSION STATUS LIKE 'Com_delete'").first)
        return Int64(try row.string("Value")) ?? -1
    }

    @Test func failedLoginsAreThrottledPerAddressAcrossAccounts() throws {
        let attacker = ClientContext(ip: "192.0.2.66")
        for index in 0..<5 {
            #expect(throws: AuthError.invalidCredentials) {
                try self.auth.accounts.login(email: "victim\(index)@example.com", password: "guess guess", client: attacker)
            }
        }
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.login(email: "victim9@example.com", password: "guess guess", client: attacker)
        }
        // The throttle table holds digests, not emails or addresses.
        let rows = try Connection(url: fixture.url).query("SELECT subject FROM auth_throttle")
        #expect(try rows.allSatisfy { try $0.bytes("subject").count == 32 })
    }

    @Test func phpHashesAreRehashedOnLogin() throws {
        let user = try auth.accounts.createUser(email: "legacy@example.com", password: nil)
        let connection = try Connection(url: fixture.url)
        try connection.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?",
            [.string("$2y$04$I7mqIMHu9.BH1tIpYcl1WeTqWQkuBjql7JFCxFytphl1iHJcvZeKS"), .string(user.id)])
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "legacy@example.com", password: "wrong", client: self.client)
        }
        _ = try auth.accounts.login(email: "legacy@example.com", password: "correct horse battery staple", client: client)
        let stored = try #require(try connection.query("SELECT password_hash FROM users WHERE id = ?", [.string(user.id)]).first)
        #expect(try stored.string("password_hash").hasPrefix("$argon2id$"))
        _ = try auth.accounts.login(email: "legacy@example.com", password: "correct horse battery staple", client: client)
        // A user without a password (created by an admin, not yet set) cannot log in.
        _ = try auth.accounts.createUser(email: "nopass@example.com", password: nil)
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "nopass@example.com", password: "anything", client: self.client)
        }
    }

    @Test func aLongPasswordOfAPHPBcryptHashLogsInAsPHPTruncatedItThenIsRehashedWhole() throws {
        // PHP's bcrypt (like libxcrypt's) uses the first 72 bytes: "a" × 80 was stored as the hash of "a" × 72.
        let user = try auth.accounts.createUser(email: "long@example.com", password: nil)
        let connection = try Connection(url: fixture.url)
        try connection.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?",
            [.string("$2y$04$I7mqIMHu9.BH1tIpYcl1WeSZl1zP7aSaPMbWAaPBtR0kG1kOxeL/q"), .string(user.id)])
        let typed = String(repeating: "a", count: 80)
        _ = try auth.accounts.login(email: "long@example.com", password: typed, client: client)
        let stored = try #require(try connection.query("SELECT password_hash FROM users WHERE id = ?", [.string(user.id)]).first)
        #expect(try stored.string("password_hash").hasPrefix("$argon2id$"), "rehashed at once")
        // The new hash is of the whole password: the 72-byte prefix no longer logs in, the whole one does.
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "long@example.com", password: String(repeating: "a", count: 72), client: self.client)
        }
        _ = try auth.accounts.login(email: "long@example.com", password: typed, client: client)
    }

    @Test func aPasswordWithANULIsRefusedBeforeAnyLookupOrHashing() throws {
        _ = try auth.accounts.createUser(email: "nul@example.com", password: "correct horse")
        let work = fixture.hasher.checks + fixture.hasher.dummies
        let error = #expect(throws: AuthError.self) {
            try self.auth.accounts.login(email: "nul@example.com", password: "correct\u{0}horse", client: self.client)
        }
        #expect(error?.code == .invalidInput)
        #expect(fixture.hasher.checks + fixture.hasher.dummies == work, "no hashing, so no timing to read")
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM auth_throttle") == 0, "nothing counted either")
    }

    @Test func registrationIsThrottledPerAddress() throws {
        let client = ClientContext(ip: "192.0.2.99")
        for index in 0..<4 {
            _ = try auth.accounts.register(email: "new\(index)@example.com", password: "correct horse", name: nil, client: client, links: nil)
        }
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.register(email: "new9@example.com", password: "correct horse", name: nil, client: client, links: nil)
        }
    }

    @Test func changingTheOwnPasswordKeepsOnlyTheCurrentSession() throws {
        let user = try auth.accounts.createUser(email: "dave@example.com", password: "correct horse")
        let here = try auth.accounts.login(email: "dave@example.com", password: "correct horse", client: client)
        let there = try auth.accounts.login(email: "dave@example.com", password: "correct horse", client: client)
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.changePassword(userID: user.id, current: "wrong horse", new: "battery staple", keepingSession: here.sessionID)
        }
        #expect(throws: AuthError(.weakPassword, "")) {
            try self.auth.accounts.changePassword(userID: user.id, current: "correct horse", new: "short", keepingSession: here.sessionID)
        }
        try auth.accounts.changePassword(userID: user.id, current: "correct horse", new: "battery staple", keepingSession: here.sessionID)
        #expect(try auth.sessions.isSessionActive(here.sessionID))
        #expect(try !auth.sessions.isSessionActive(there.sessionID))
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "dave@example.com", password: "correct horse", client: self.client)
        }
        _ = try auth.accounts.login(email: "dave@example.com", password: "battery staple", client: client)
        // An admin reset and logout-everywhere revoke every session.
        try auth.accounts.setPassword(userID: user.id, "admin chosen password")
        #expect(try auth.sessions.sessions(of: user.id).isEmpty)
        let again = try auth.accounts.login(email: "dave@example.com", password: "admin chosen password", client: client)
        #expect(try auth.sessions.revokeAllSessions(of: user.id) == 1)
        #expect(try !auth.sessions.isSessionActive(again.sessionID))
    }

    @Test func wrongCurrentPasswordsAreThrottled() throws {
        let user = try auth.accounts.createUser(email: "erin@example.com", password: "correct horse")
        for _ in 0..<5 {
            #expect(throws: AuthError.invalidCredentials) {
                try self.auth.accounts.changePassword(userID: user.id, current: "bad guess!", new: "whatever else", keepingSession: nil)
            }
        }
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.changePassword(userID: user.id, current: "correct horse", new: "whatever else", keepingSession: nil)
        }
    }

    @Test func apiKeysAuthenticateUntilRevokedOrExpired() throws {
        let user = try auth.accounts.createUser(email: "frank@example.com", password: "correct horse")
        let created = try auth.apiKeys.createAPIKey(userID: user.id, name: " CI deploy ")
        #expect(created.rawKey.hasPrefix("jwta_") && created.rawKey.count == 48)
        #expect(created.info.name == "CI deploy" && created.rawKey.hasPrefix(created.info.prefix))
        #expect(try auth.apiKeys.authenticate(apiKey: created.rawKey)?.user.id == user.id)
        #expect(try auth.apiKeys.apiKeys(of: user.id).first?.lastUsedAt != nil)
        var wrong = Array(created.rawKey)
        wrong[20] = wrong[20] == "A" ? "B" : "A"
        #expect(try auth.apiKeys.authenticate(apiKey: String(wrong)) == nil)
        #expect(try auth.apiKeys.authenticate(apiKey: "jwta_short") == nil)
        #expect(try auth.apiKeys.authenticate(apiKey: "' OR 1=1 --") == nil)
        // Only the digest is stored.
        let rows = try Connection(url: fixture.url).query("SELECT key_hash, prefix FROM api_keys")
        #expect(try rows.allSatisfy { try $0.bytes("key_hash") != Array(created.rawKey.utf8) && $0.string("prefix").count == 12 })
        let stranger = try auth.accounts.createUser(email: "grace@example.com", password: "correct horse")
        #expect(try !auth.apiKeys.revokeAPIKey(id: created.info.id, of: stranger.id))
        #expect(try auth.apiKeys.revokeAPIKey(id: created.info.id, of: user.id))
        #expect(try auth.apiKeys.authenticate(apiKey: created.rawKey) == nil)
        let expiring = try auth.apiKeys.createAPIKey(userID: user.id, name: "short-lived", expiresAt: fixture.clock.now().addingTimeInterval(60))
        #expect(try auth.apiKeys.authenticate(apiKey: expiring.rawKey) != nil)
        fixture.clock.advance(61)
        #expect(try auth.apiKeys.authenticate(apiKey: expiring.rawKey) == nil)
        #expect(try auth.apiKeys.apiKeys(of: user.id).isEmpty)
        #expect(throws: AuthError(.invalidInput, "")) { try self.auth.apiKeys.createAPIKey(userID: user.id, name: "") }
    }

    @Test func cleanupRemovesOnlyWhatCannotBeUsed() throws {
        let user = try auth.accounts.createUser(email: "henry@example.com", password: "correct horse")
        let old = try auth.sessions.startSession(for: user, client: client)
        _ = try auth.sessions.refresh(old.refreshToken, client: client)
        fixture.clock.advance(31 * 86_400)
        let live = try auth.sessions.startSession(for: user, client: client)
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "henry@example.com", password: "wrongpass", client: self.client)
        }
        fixture.clock.advance(16 * 60)
        let report = try auth.cleanup.cleanup(batchSize: 1)
        #expect(report.sessions == 1 && report.refreshTokens == 0, "tokens of the deleted session cascade: \(report)")
        #expect(report.throttleRows == 2)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens") == 1)
        #expect(try auth.sessions.isSessionActive(live.sessionID))
        #expect(try auth.cleanup.cleanup() == CleanupReport())
    }

    /// `me`'s one-read check must agree with `isSessionActive` + `user(id:)` (no stale answer after a revocation).
    @Test func theActiveSessionUserReadAgreesWithTheTwoChecks() throws {
        let user = try auth.accounts.createUser(email: "jack@example.com", password: "correct horse")
        let other = try auth.accounts.createUser(email: "kate@example.com", password: "correct horse")
        let pair = try auth.sessions.startSession(for: user, client: client)
        #expect(try auth.sessions.activeSessionUser(sessionID: pair.sessionID, userID: user.id)?.id == user.id)
        #expect(try auth.sessions.activeSessionUser(sessionID: pair.sessionID, userID: other.id) == nil)
        #expect(try auth.sessions.activeSessionUser(sessionID: "not-an-id", userID: user.id) == nil)
        // Idle past the refresh lifetime: no longer active.
        fixture.clock.advance(auth.settings.refreshTTL.timeInterval + 1)
        #expect(try !auth.sessions.isSessionActive(pair.sessionID))
        #expect(try auth.sessions.activeSessionUser(sessionID: pair.sessionID, userID: user.id) == nil)
        // Revoked: at once.
        let second = try auth.sessions.startSession(for: user, client: client)
        #expect(try auth.sessions.activeSessionUser(sessionID: second.sessionID, userID: user.id)?.id == user.id)
        try auth.sessions.logout(sessionID: second.sessionID)
        #expect(try auth.sessions.activeSessionUser(sessionID: second.sessionID, userID: user.id) == nil)
        // Deleted user: nothing.
        let third = try auth.sessions.startSession(for: other, client: client)
        try auth.accounts.deleteUser(id: other.id)
        #expect(try auth.sessions.activeSessionUser(sessionID: third.sessionID, userID: other.id) == nil)
    }

    @Test func deletingAUserTakesEverythingWithIt() throws {
        let user = try auth.accounts.createUser(email: "ivy@example.com", password: "correct horse")
        let pair = try auth.sessions.startSession(for: user, client: client)
        _ = try auth.apiKeys.createAPIKey(userID: user.id, name: "k")
        try auth.accounts.deleteUser(id: user.id)
        #expect(try !auth.sessions.isSessionActive(pair.sessionID))
        #expect(try fixture.count("SELECT (SELECT COUNT(*) FROM refresh_tokens) + (SELECT COUNT(*) FROM api_keys) AS n") == 0)
        #expect(throws: AuthError.invalidToken) { try self.auth.sessions.refresh(pair.refreshToken, client: self.client) }
        #expect(throws: AuthError.notFound) { try self.auth.accounts.deleteUser(id: user.id) }
    }
}

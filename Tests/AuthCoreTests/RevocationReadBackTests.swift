import AuthCore
import Foundation
import MariaDB
import TestSupport
import Testing

/// Revocations read back after their commit: through two Galera nodes, a refresh of a session (or a use of an API
/// key) that read its rows a moment before a revocation was applied on its node can commit after it and write them
/// back unrevoked. The hook between a revocation's commit and its read-back does that here, once, as such a refresh
/// would; the revocation must end the session (or key) anyway, and leave alone what started after it and what it keeps.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class RevocationReadBackTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let other: Connection
    let user: User
    let client = ClientContext(ip: "198.51.100.30", userAgent: "tests")

    init() throws {
        fixture = try AuthFixture()
        auth = try fixture.auth()
        other = try Connection(url: fixture.url)
        user = try auth.accounts.createUser(email: "rev@example.com", password: "correct horse")
    }

    deinit { other.close() }

    /// Runs `body` with a hook that, the first time it runs, writes `sessions` (and their tokens) and `keys` back
    /// unrevoked, then runs `meanwhile` (what starts after the revocation). Returns how many times the hook ran.
    func racing(
        sessions: [String] = [], keys: [String] = [], everyTime: Bool = false, meanwhile: @escaping () throws -> Void = {},
        revoking body: () throws -> Void
    ) throws -> Int {
        var runs = 0
        let other = other
        auth.database.afterRevocationCommitForTesting = { _ in
            runs += 1
            guard runs == 1 || everyTime else { return }
            for id in sessions {
                try other.execute("UPDATE sessions SET revoked_at = NULL WHERE id = ?", [.string(id)])
                try other.execute("UPDATE refresh_tokens SET revoked_at = NULL WHERE family = ?", [.string(id)])
            }
            for id in keys { try other.execute("UPDATE api_keys SET revoked_at = NULL WHERE id = ?", [.string(id)]) }
            try meanwhile()
        }
        defer { auth.database.afterRevocationCommitForTesting = nil }
        try body()
        return runs
    }

    var undoneLogged: Bool { fixture.logs.all.contains { $0.contains("revocation_not_committed") } }

    @Test func logoutEverywhereEndsASessionARacingRefreshWroteBackAndSparesALaterLogin() throws {
        let first = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let key = try auth.apiKeys.createAPIKey(userID: user.id, name: "ci")
        var later: TokenPair?
        let runs = try racing(
            sessions: [first.sessionID], keys: [key.info.id],
            meanwhile: {
                self.fixture.clock.advance(1)
                later = try self.auth.accounts.login(email: "rev@example.com", password: "correct horse", client: self.client)
            },
            revoking: { try self.auth.sessions.revokeAllSessions(of: self.user.id) }
        )
        #expect(runs == 2, "read back, revoked again, read back")
        #expect(undoneLogged)
        #expect(try !auth.sessions.isSessionActive(first.sessionID))
        #expect(throws: AuthError.sessionRevoked) { try self.auth.sessions.refresh(first.refreshToken, client: self.client) }
        #expect(try auth.apiKeys.apiKeys(of: user.id).isEmpty, "the key is revoked again")
        let after = try #require(later)
        #expect(try auth.sessions.isSessionActive(after.sessionID), "a login after the revocation stays")
    }

    @Test func aLogoutEndsItsSessionAfterARacingRefresh() throws {
        let pair = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let runs = try racing(sessions: [pair.sessionID]) { try auth.sessions.logout(sessionID: pair.sessionID) }
        #expect(runs == 2 && undoneLogged)
        #expect(try !auth.sessions.isSessionActive(pair.sessionID))
    }

    @Test func aPasswordResetEndsEverySessionAndKeyAfterARacingRefresh() throws {
        let old = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let key = try auth.apiKeys.createAPIKey(userID: user.id, name: "ci")
        try auth.accounts.requestPasswordReset(
            email: "rev@example.com", client: client, link: MailComposer.Link(base: "https://site.example/", page: "/auth/reset"))
        let token = try fixture.mailedToken(to: "rev@example.com", page: "https://site.example/auth/reset?token=")
        var signIn: SignIn?
        _ = try racing(sessions: [old.sessionID], keys: [key.info.id]) {
            signIn = try auth.accounts.resetPassword(token: token, newPassword: "battery staple", client: client)
        }
        #expect(undoneLogged)
        #expect(try !auth.sessions.isSessionActive(old.sessionID))
        #expect(try auth.apiKeys.apiKeys(of: user.id).isEmpty)
        let pair = try #require(signIn?.pair)
        #expect(try auth.sessions.isSessionActive(pair.sessionID), "the reset's own session starts after it")
    }

    @Test func aReusedTokensFamilyStaysRevokedAfterARacingRefresh() throws {
        let first = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let second = try auth.sessions.refresh(first.refreshToken, client: client)
        fixture.clock.advance(60)  // past the grace window: presenting the first token again is reuse
        _ = try racing(sessions: [first.sessionID]) {
            #expect(throws: AuthError.tokenReused) { try self.auth.sessions.refresh(first.refreshToken, client: self.client) }
        }
        #expect(undoneLogged)
        #expect(throws: AuthError.sessionRevoked) { try self.auth.sessions.refresh(second.refreshToken, client: self.client) }
    }

    @Test func aRevocationThatHeldIsReadOnce() throws {
        let pair = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let runs = try racing { try auth.sessions.revokeAllSessions(of: user.id) }
        #expect(runs == 1 && !undoneLogged)
        #expect(try !auth.sessions.isSessionActive(pair.sessionID))
    }

    @Test func aPasswordChangeKeepsItsOwnSessionAndTheKeysItWasToldToKeep() throws {
        let current = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let elsewhere = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let key = try auth.apiKeys.createAPIKey(userID: user.id, name: "ci")
        _ = try racing(sessions: [elsewhere.sessionID]) {
            try auth.sessions.revokeAllSessions(of: user.id, keeping: current.sessionID, keepingAPIKeys: true)
        }
        #expect(undoneLogged)
        #expect(try !auth.sessions.isSessionActive(elsewhere.sessionID))
        #expect(try auth.sessions.isSessionActive(current.sessionID), "the kept session is not revoked by the read-back")
        #expect(try auth.apiKeys.apiKeys(of: user.id).map(\.id) == [key.info.id], "nor the keys it was told to keep")
    }

    @Test func aSessionRevokedFromTheListStaysRevoked() throws {
        let pair = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        var found = false
        _ = try racing(sessions: [pair.sessionID]) { found = try auth.sessions.revokeSession(pair.sessionID, of: user.id) }
        #expect(found)
        #expect(undoneLogged)
        #expect(try !auth.sessions.isSessionActive(pair.sessionID))
    }

    @Test func aRevokedAPIKeyStaysRevokedAfterARacingUse() throws {
        let key = try auth.apiKeys.createAPIKey(userID: user.id, name: "ci")
        let kept = try auth.apiKeys.createAPIKey(userID: user.id, name: "other")
        var found = false
        let runs = try racing(keys: [key.info.id]) { found = try auth.apiKeys.revokeAPIKey(id: key.info.id, of: user.id) }
        #expect(found)
        #expect(runs == 2 && undoneLogged)
        #expect(try auth.apiKeys.authenticate(apiKey: key.rawKey) == nil)
        #expect(try auth.apiKeys.apiKeys(of: user.id).map(\.id) == [kept.info.id])
    }

    @Test func aRevocationUndoneEveryTimeGivesUpAfterThreeMoreAndSaysSo() throws {
        let pair = try auth.accounts.login(email: "rev@example.com", password: "correct horse", client: client)
        let runs = try racing(sessions: [pair.sessionID], everyTime: true) { try auth.sessions.logout(sessionID: pair.sessionID) }
        #expect(runs == 4)
        #expect(fixture.logs.all.filter { $0.contains("revocation_not_committed") }.count == 3)
        #expect(fixture.logs.all.contains { $0.contains("revocation_not_held") })
    }
}

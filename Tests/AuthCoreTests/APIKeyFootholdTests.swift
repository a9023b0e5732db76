import AuthCore
import FoundationEssentials
import MariaDB
import TestSupport
import Testing

/// #15 item 5: an API key needs a recent authentication, expires by default, has a scope, and ends with a password
/// change, an admin reset and logout everywhere.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class APIKeyFootholdTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let client = AuthFixture.client

    init() throws {
        fixture = try AuthFixture(env: [:])
        auth = try fixture.auth()
    }

    @Test func keysExpireAfterNinetyDaysByDefaultAndCarryTheirScope() throws {
        let user = try auth.accounts.createUser(email: "ines@example.com", password: "correct horse")
        let now = fixture.clock.now()
        let full = try auth.apiKeys.createAPIKey(userID: user.id, name: "deploy")
        #expect(full.info.expiresAt == now.addingTimeInterval(90 * 86_400) && full.info.scope == .full)
        let read = try auth.apiKeys.createAPIKey(userID: user.id, name: "dashboard", expiresAt: now.addingTimeInterval(3600), scope: .read)
        #expect(try auth.apiKeys.authenticate(apiKey: read.rawKey)?.scope == .read)
        #expect(try auth.apiKeys.authenticate(apiKey: full.rawKey)?.scope == .full)
        #expect(try Set(auth.apiKeys.apiKeys(of: user.id).map(\.scope)) == [.full, .read])
        fixture.clock.advance(90 * 86_400 + 1)
        #expect(try auth.apiKeys.authenticate(apiKey: full.rawKey) == nil, "a key without an expiry of its own ends after 90 days")
    }

    @Test func aLifetimeOfZeroMeansNoExpiryOnPurpose() throws {
        let fixture = try AuthFixture(env: ["JWT_API_KEY_LIFETIME": "0s"])
        let auth = try fixture.auth()
        let user = try auth.accounts.createUser(email: "jon@example.com", password: "correct horse")
        #expect(try auth.apiKeys.createAPIKey(userID: user.id, name: "forever").info.expiresAt == nil)
    }

    @Test func aSessionIsRecentlyAuthenticatedOnlyAfterTheUserProvedTheirPassword() throws {
        let user = try auth.accounts.createUser(email: "kai@example.com", password: "correct horse")
        let pair = try auth.accounts.login(email: "kai@example.com", password: "correct horse", client: client)
        #expect(try auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        fixture.clock.advance(5 * 60 + 1)
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        // A refresh carries the session on, not its authentication.
        let renewed = try auth.sessions.refresh(pair.refreshToken, client: client)
        #expect(renewed.sessionID == pair.sessionID)
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.reauthenticate(userID: user.id, sessionID: pair.sessionID, password: "wrong horse", client: self.client)
        }
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        try auth.accounts.reauthenticate(userID: user.id, sessionID: pair.sessionID, password: "correct horse", client: self.client)
        #expect(try auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        // Another user's session, or a revoked one, never counts.
        let other = try auth.accounts.createUser(email: "lea@example.com", password: "correct horse")
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: other.id))
        try auth.sessions.logout(sessionID: pair.sessionID)
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        // Wrong passwords here count like a password change's (5 per window; one was above).
        let again = try auth.sessions.startSession(for: user, client: client)
        for _ in 0..<4 {
            #expect(throws: AuthError.invalidCredentials) {
                try self.auth.accounts.reauthenticate(userID: user.id, sessionID: again.sessionID, password: "guess", client: self.client)
            }
        }
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.reauthenticate(userID: user.id, sessionID: again.sessionID, password: "correct horse", client: self.client)
        }
    }

    @Test func aPasswordChangeAnAdminResetAndLogoutEverywhereEndTheKeys() throws {
        let user = try auth.accounts.createUser(email: "mia@example.com", password: "correct horse")
        let session = try auth.sessions.startSession(for: user, client: client)
        func key() throws -> String { try auth.apiKeys.createAPIKey(userID: user.id, name: "k").rawKey }
        func works(_ raw: String) throws -> Bool { try auth.apiKeys.authenticate(apiKey: raw) != nil }

        var raw = try key()
        try auth.accounts.changePassword(
            userID: user.id, current: "correct horse", new: "battery staple", keepingSession: session.sessionID, keepingAPIKeys: true)
        #expect(try works(raw), "keepApiKeys on the user's own change keeps them")
        try auth.accounts.changePassword(userID: user.id, current: "battery staple", new: "correct horse", keepingSession: session.sessionID)
        #expect(try !works(raw))
        #expect(try auth.sessions.isSessionActive(session.sessionID), "the changing session stays")

        raw = try key()
        try auth.accounts.setPassword(userID: user.id, "admin reset 1")
        #expect(try !works(raw), "an admin reset revokes every key")
        #expect(try !auth.sessions.isSessionActive(session.sessionID))

        raw = try key()
        try auth.sessions.revokeAllSessions(of: user.id, keeping: nil, keepingAPIKeys: true)
        #expect(try works(raw))
        try auth.sessions.revokeAllSessions(of: user.id)
        #expect(try !works(raw))
        #expect(try auth.apiKeys.apiKeys(of: user.id).isEmpty)
    }

    @Test func theCurrentPasswordOfAChangeCountsAsAReauthentication() throws {
        let user = try auth.accounts.createUser(email: "noa@example.com", password: "correct horse")
        let session = try auth.sessions.startSession(for: user, client: client)
        fixture.clock.advance(10 * 60)
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: session.sessionID, userID: user.id))
        try auth.accounts.changePassword(userID: user.id, current: "correct horse", new: "battery staple", keepingSession: session.sessionID)
        #expect(try auth.sessions.isRecentlyAuthenticated(sessionID: session.sessionID, userID: user.id))
    }
}

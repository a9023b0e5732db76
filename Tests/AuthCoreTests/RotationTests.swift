import AuthCore
import Foundation
import MariaDB
import TestSupport
import Testing

/// The rotation table, against real MariaDB, with an injected clock.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class RotationTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let user: User

    init() throws {
        fixture = try AuthFixture()
        auth = try fixture.auth()
        user = try auth.accounts.createUser(email: "Rotation@Example.com", password: "correct horse")
    }

    private var client: ClientContext { AuthFixture.client }

    @Test func aFreshTokenRotates() throws {
        let first = try auth.sessions.startSession(for: user, client: client)
        let second = try auth.sessions.refresh(first.refreshToken, client: client)
        #expect(!second.isGraceReplay)
        #expect(second.sessionID == first.sessionID)
        #expect(try fixture.jti(of: second.refreshToken) != fixture.jti(of: first.refreshToken))
        #expect(try auth.tokens.verifyAccessToken(second.accessToken).sessionID == first.sessionID)
        let old = try fixture.jti(of: first.refreshToken)
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM refresh_tokens WHERE id = ? AND replaced_by = ? AND rotated_at IS NOT NULL",
                [.string(old), .string(try fixture.jti(of: second.refreshToken))]) == 1)
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ? AND revoked_at IS NULL",
                [.string(first.sessionID)]) == 1)
    }

    @Test func aReplayWithinTheGraceWindowGetsTheSameActivePair() throws {
        let first = try auth.sessions.startSession(for: user, client: client)
        let second = try auth.sessions.refresh(first.refreshToken, client: client)
        fixture.clock.advance(5)
        let replay = try auth.sessions.refresh(first.refreshToken, client: client)
        #expect(replay.isGraceReplay)
        #expect(try fixture.jti(of: replay.refreshToken) == fixture.jti(of: second.refreshToken))
        #expect(try auth.sessions.isSessionActive(first.sessionID))
        // No new branch: still exactly one active token, and the grace answer itself rotates normally afterwards.
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ?", [.string(first.sessionID)]) == 2)
        #expect(try !auth.sessions.refresh(replay.refreshToken, client: client).isGraceReplay)
    }

    @Test func aReplayOfAnOlderAncestorRevokesTheFamily() throws {
        let first = try auth.sessions.startSession(for: user, client: client)
        let second = try auth.sessions.refresh(first.refreshToken, client: client)
        let third = try auth.sessions.refresh(second.refreshToken, client: client)
        #expect(throws: AuthError.tokenReused) { try self.auth.sessions.refresh(first.refreshToken, client: self.client) }
        #expect(try !auth.sessions.isSessionActive(first.sessionID))
        #expect(throws: AuthError.self) { try self.auth.sessions.refresh(third.refreshToken, client: self.client) }
        #expect(fixture.logs.all.contains { $0.contains("refresh_token_reuse") && $0.contains(self.user.id) })
        #expect(!fixture.logs.all.contains { $0.contains(first.refreshToken) || $0.contains(third.refreshToken) })
    }

    @Test func aReplayAfterTheGraceWindowRevokesTheFamily() throws {
        let first = try auth.sessions.startSession(for: user, client: client)
        let second = try auth.sessions.refresh(first.refreshToken, client: client)
        fixture.clock.advance(11)
        #expect(throws: AuthError.tokenReused) { try self.auth.sessions.refresh(first.refreshToken, client: self.client) }
        #expect(throws: AuthError.sessionRevoked) { try self.auth.sessions.refresh(second.refreshToken, client: self.client) }
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ? AND revoked_at IS NULL",
                [.string(first.sessionID)]) == 0)
    }

    @Test func aRevokedFamilyStaysDeadInsideTheWindow() throws {
        let first = try auth.sessions.startSession(for: user, client: client)
        let second = try auth.sessions.refresh(first.refreshToken, client: client)
        try auth.sessions.logout(sessionID: first.sessionID)
        fixture.clock.advance(1)
        // The predecessor, inside its grace window, does not get the (revoked) current pair back.
        #expect(throws: AuthError.tokenReused) { try self.auth.sessions.refresh(first.refreshToken, client: self.client) }
        #expect(throws: AuthError.sessionRevoked) { try self.auth.sessions.refresh(second.refreshToken, client: self.client) }
        // And after a reuse revocation, the window does not revive the family either.
        let other = try auth.sessions.startSession(for: user, client: client)
        let otherSecond = try auth.sessions.refresh(other.refreshToken, client: client)
        let otherThird = try auth.sessions.refresh(otherSecond.refreshToken, client: client)
        #expect(throws: AuthError.tokenReused) { try self.auth.sessions.refresh(other.refreshToken, client: self.client) }
        #expect(throws: AuthError.tokenReused) { try self.auth.sessions.refresh(otherSecond.refreshToken, client: self.client) }
        #expect(throws: AuthError.sessionRevoked) { try self.auth.sessions.refresh(otherThird.refreshToken, client: self.client) }
    }

    @Test func anExpiredRefreshTokenIsRefused() throws {
        let first = try auth.sessions.startSession(for: user, client: client)
        fixture.clock.advance(7 * 86_400 + 1)
        #expect(throws: AuthError.tokenExpired) { try self.auth.sessions.refresh(first.refreshToken, client: self.client) }
        #expect(try !auth.sessions.isSessionActive(first.sessionID), "idle past the refresh lifetime")
    }

    @Test func rotationNeverExtendsASessionPastItsAbsoluteLifetime() throws {
        var pair = try auth.sessions.startSession(for: user, client: client)
        let sessionEnd = fixture.clock.now().addingTimeInterval(30 * 86_400)
        for _ in 0..<4 {  // days 6, 12, 18, 24: the last successor is capped at day 30, not day 31
            fixture.clock.advance(6 * 86_400)
            pair = try auth.sessions.refresh(pair.refreshToken, client: client)
            #expect(pair.refreshExpiresIn <= Int(sessionEnd.timeIntervalSince(fixture.clock.now())) + 1)
        }
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ? AND expires_at > ?",
                [.string(pair.sessionID), .date(sessionEnd)]) == 0)
        #expect(pair.refreshExpiresIn == Int(sessionEnd.timeIntervalSince(fixture.clock.now())))
        fixture.clock.advance(6 * 86_400)  // day 30: the absolute lifetime is reached
        #expect(throws: AuthError.self) { try self.auth.sessions.refresh(pair.refreshToken, client: self.client) }
        #expect(try !auth.sessions.isSessionActive(pair.sessionID))
    }

    @Test func forgedAndForeignTokensAreInvalid() throws {
        let first = try auth.sessions.startSession(for: user, client: client)
        #expect(throws: AuthError.invalidToken) { try self.auth.sessions.refresh(first.accessToken, client: self.client) }
        #expect(throws: AuthError.invalidToken) { try self.auth.sessions.refresh("not a token", client: self.client) }
        #expect(throws: AuthError.invalidToken) { try self.auth.tokens.verifyAccessToken(first.refreshToken) }
        let claims = try auth.tokens.verifyAccessToken(first.accessToken)
        #expect(claims.userID == user.id && claims.email == "rotation@example.com" && claims.role == "user")
    }

    @Test func logoutRevokesOnlyThatSession() throws {
        let a = try auth.sessions.startSession(for: user, client: client)
        let b = try auth.sessions.startSession(for: user, client: ClientContext(ip: "198.51.100.1", userAgent: "phone"))
        try auth.sessions.logout(refreshToken: a.refreshToken)
        try auth.sessions.logout(refreshToken: "garbage")  // idempotent, no error
        #expect(try !auth.sessions.isSessionActive(a.sessionID))
        #expect(try auth.sessions.isSessionActive(b.sessionID))
        #expect(try auth.sessions.sessions(of: user.id).map(\.id) == [b.sessionID])
        let stranger = try auth.accounts.createUser(email: "stranger@example.com", password: "correct horse")
        #expect(try !auth.sessions.revokeSession(b.sessionID, of: stranger.id), "another user's session is never touched")
        #expect(try auth.sessions.isSessionActive(b.sessionID))
        #expect(try auth.sessions.revokeSession(b.sessionID, of: user.id))
        #expect(try auth.sessions.sessions(of: user.id).isEmpty)
    }
}

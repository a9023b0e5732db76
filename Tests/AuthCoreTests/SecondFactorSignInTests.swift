import CryptoPrimitives
import Foundation
import JOSE
import Logging
import MariaDB
import StrictJSON
import TestSupport
import Testing

@testable import AuthCore

/// #17: the sign-in's second step, reauthentication and how sessions record their authentication (`amr`,
/// `auth_time`), against a real MariaDB with a manual clock.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class SecondFactorSignInTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let client = ClientContext(ip: "203.0.113.7", userAgent: "tests")

    init() throws {
        fixture = try AuthFixture(
            env: ["JWT_AUTHD_MAIL_FROM": "Site <noreply@example.com>"],
            mfaKeys: MFAKeyRing(keys: [MFAKeyRing.Key(id: "k1", secret: SecureBytes(randomCount: 32))]))
        auth = try fixture.auth()
    }

    func enrolled(_ email: String) throws -> (User, TOTP, [String]) { try fixture.enrolledWithTOTP(auth, email: email) }

    func code(_ totp: TOTP, offset: Int64 = 0) -> String { fixture.code(totp, offset: offset) }

    func challenge(_ email: String) throws -> MFAChallenge { try fixture.challenge(auth, email: email, client: client) }

    func count(_ sql: String) throws -> Int { try fixture.count(sql) }

    @Test func aUserWithAFactorGetsAChallengeAndTheCodeStartsAnAAL2Session() throws {
        let plain = try auth.accounts.createUser(email: "plain@example.com", password: "correct horse")
        let direct = try auth.accounts.login(email: "plain@example.com", password: "correct horse", client: client)
        var claims = try auth.tokens.verifyAccessToken(direct.accessToken)
        #expect(claims.methods == ["pwd"] && claims.assuranceLevel == 1 && claims.authTime == fixture.clock.now().rounded)
        #expect(direct.user.id == plain.id)

        let (user, totp, _) = try enrolled("ann@example.com")
        #expect(throws: AuthError(.mfaRequired, "")) {
            try self.auth.accounts.login(email: "ann@example.com", password: "correct horse", client: self.client)
        }
        let pending = try challenge("ann@example.com")
        #expect(pending.factors == ["totp", "recovery_code"] && pending.expiresIn == 300)
        #expect(try count("SELECT COUNT(*) AS n FROM sessions WHERE user_id = '\(user.id)'") == 0, "no session before the code")
        #expect(try count("SELECT COUNT(*) AS n FROM mfa_challenges WHERE token_hash = X'\(hex(SHA256.hash(Array(pending.token.utf8))))'") == 1)

        #expect(throws: AuthError.invalidCode) {
            try self.auth.accounts.completeSignIn(challenge: pending.token, proof: .code("000000"), client: self.client)
        }
        fixture.clock.advance(7)
        let pair = try auth.accounts.completeSignIn(challenge: pending.token, proof: .code(code(totp)), client: client)
        claims = try auth.tokens.verifyAccessToken(pair.accessToken)
        #expect(claims.methods == ["pwd", "otp"] && claims.assuranceLevel == 2 && claims.authTime == fixture.clock.now().rounded)
        #expect(try auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        #expect(throws: AuthError.invalidCode, "a challenge completes once") {
            try self.auth.accounts.completeSignIn(challenge: pending.token, proof: .code(self.code(totp, offset: 1)), client: self.client)
        }

        // A refresh carries the authentication on: the same amr and auth_time, however much later.
        fixture.clock.advance(600)
        let renewed = try auth.tokens.verifyAccessToken(try auth.sessions.refresh(pair.refreshToken, client: client).accessToken)
        #expect(renewed.methods == claims.methods && renewed.authTime == claims.authTime)
    }

    @Test func aChallengeChecksAtMostFiveCodesHoweverManyArriveAtOnce() throws {
        let (user, totp, _) = try enrolled("bo@example.com")
        let pending = try challenge("bo@example.com")
        let auths = UncheckedBox(try (0..<32).map { _ in try fixture.auth() })
        let client = client
        let outcomes = onThreads(32) { index -> AuthError.Code? in
            do throws(AuthError) {
                _ = try auths.value[index].accounts.completeSignIn(
                    challenge: pending.token, proof: .code(String(format: "%06d", index)), client: client)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(outcomes.allSatisfy { $0 == .invalidCode }, "\(outcomes)")
        #expect(try count("SELECT attempts AS n FROM mfa_challenges WHERE user_id = '\(user.id)'") == 5)
        #expect(throws: AuthError.invalidCode, "void: even the right code") {
            try self.auth.accounts.completeSignIn(challenge: pending.token, proof: .code(self.code(totp)), client: self.client)
        }
        #expect(try count("SELECT COUNT(*) AS n FROM sessions WHERE user_id = '\(user.id)'") == 0)
    }

    @Test func twoRightAnswersAtOnceStartOneSession() throws {
        let (user, _, codes) = try enrolled("cy@example.com")
        let pending = try challenge("cy@example.com")
        let auths = UncheckedBox(try (0..<2).map { _ in try fixture.auth() })
        let client = client
        let outcomes = onThreads(2) { index -> Bool in
            (try? auths.value[index].accounts.completeSignIn(challenge: pending.token, proof: .recoveryCode(codes[index]), client: client))
                != nil
        }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
        #expect(try count("SELECT COUNT(*) AS n FROM sessions WHERE user_id = '\(user.id)'") == 1)
    }

    @Test func aChallengeDiesWithAPasswordChangeAndAfterFiveMinutes() throws {
        let (user, totp, _) = try enrolled("di@example.com")
        let first = try challenge("di@example.com")
        try auth.accounts.setPassword(userID: user.id, "correct horse")
        #expect(throws: AuthError.invalidCode) {
            try self.auth.accounts.completeSignIn(challenge: first.token, proof: .code(self.code(totp)), client: self.client)
        }
        let second = try challenge("di@example.com")
        fixture.clock.advance(301)
        #expect(throws: AuthError.invalidCode) {
            try self.auth.accounts.completeSignIn(challenge: second.token, proof: .code(self.code(totp, offset: 1)), client: self.client)
        }
        for junk in ["", "short", String(repeating: "A", count: 43), first.token + "x"] {
            #expect(throws: AuthError.invalidCode) {
                try self.auth.accounts.completeSignIn(challenge: junk, proof: .code(self.code(totp)), client: self.client)
            }
        }
        #expect(try auth.cleanup.cleanup().challenges == 2)
    }

    @Test func wrongCodesAreLimitedPerAccountAcrossChallengesAndReauthentication() throws {
        let (user, totp, _) = try enrolled("ed@example.com")
        let session = try auth.sessions.startSession(for: user, client: client)
        var wrong = 0
        while wrong < 20 {
            let pending = try challenge("ed@example.com")
            for _ in 0..<4 where wrong < 20 {
                #expect(throws: AuthError.invalidCode) {
                    try self.auth.accounts.completeSignIn(challenge: pending.token, proof: .code("999999"), client: self.client)
                }
                wrong += 1
            }
        }
        let pending = try challenge("ed@example.com")
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.completeSignIn(challenge: pending.token, proof: .code(self.code(totp)), client: self.client)
        }
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.reauthenticate(
                userID: user.id, sessionID: session.sessionID, with: .secondFactor(.code(self.code(totp, offset: 1))), client: self.client)
        }
        fixture.clock.advance(15 * 60 + 1)
        _ = try auth.accounts.completeSignIn(challenge: try challenge("ed@example.com").token, proof: .code(code(totp)), client: client)
    }

    @Test func reauthenticationRefreshesAuthTimeAndACodeRaisesTheSessionToAAL2() throws {
        let user = try auth.accounts.createUser(email: "flo@example.com", password: "correct horse")
        let pair = try auth.accounts.login(email: "flo@example.com", password: "correct horse", client: client)
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        let totp = TOTP(secret: SecureBytes(try #require(Base32.decode(enrolment.secretBase32))))
        let confirmed = try auth.accounts.confirmTOTP(userID: user.id, sessionID: pair.sessionID, code: code(totp))
        var claims = try auth.tokens.verifyAccessToken(confirmed.accessToken.token)
        #expect(claims.methods == ["pwd", "otp"] && claims.sessionID == pair.sessionID && confirmed.recoveryCodes.count == 10)

        fixture.clock.advance(6 * 60)
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.reauthenticate(userID: user.id, sessionID: pair.sessionID, with: .password("wrong"), client: self.client)
        }
        let access = try auth.accounts.reauthenticate(userID: user.id, sessionID: pair.sessionID, with: .password("correct horse"), client: client)
        claims = try auth.tokens.verifyAccessToken(access.token)
        #expect(claims.methods == ["pwd", "otp"], "a password keeps the session's second factor")
        #expect(claims.authTime == fixture.clock.now().rounded && access.expiresIn == 900)
        #expect(try auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))

        // A revoked session cannot be reauthenticated.
        try auth.sessions.logout(sessionID: pair.sessionID)
        #expect(throws: AuthError.sessionRevoked) {
            try self.auth.accounts.reauthenticate(
                userID: user.id, sessionID: pair.sessionID, with: .secondFactor(.code(self.code(totp, offset: 1))), client: self.client)
        }
        // Another user's session neither.
        let other = try auth.accounts.createUser(email: "gus@example.com", password: "correct horse")
        let theirs = try auth.sessions.startSession(for: other, client: client)
        #expect(throws: AuthError.sessionRevoked) {
            try self.auth.accounts.reauthenticate(userID: user.id, sessionID: theirs.sessionID, with: .password("correct horse"), client: self.client)
        }
    }

    @Test func aSessionThatNeverUsedTheFactorCannotUndoIt() throws {
        let user = try auth.accounts.createUser(email: "lu@example.com", password: "correct horse")
        // A session from before the factor (someone who had the password alone, say).
        let old = try auth.accounts.login(email: "lu@example.com", password: "correct horse", client: client)
        try auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: true)
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        let totp = TOTP(secret: SecureBytes(try #require(Base32.decode(enrolment.secretBase32))))
        _ = try auth.mfa.confirmTOTP(userID: user.id, code: code(totp))
        #expect(throws: AuthError(.mfaRequired, "")) {
            try self.auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: false)
        }
        fixture.clock.advance(6 * 60)
        #expect(throws: AuthError(.mfaRequired, ""), "stale and AAL1: the factor is asked for, not a password that would not do") {
            try self.auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: true)
        }
        _ = try auth.accounts.reauthenticate(userID: user.id, sessionID: old.sessionID, with: .password("correct horse"), client: client)
        #expect(throws: AuthError(.mfaRequired, ""), "the password again is not the factor") {
            try self.auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: true)
        }
        fixture.clock.advance(30)
        _ = try auth.accounts.reauthenticate(userID: user.id, sessionID: old.sessionID, with: .secondFactor(.code(code(totp))), client: client)
        try auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: true)
        fixture.clock.advance(5 * 60 + 1)
        #expect(throws: AuthError(.reauthenticationRequired, "")) {
            try self.auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: true)
        }
        try auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: false)
        try auth.sessions.logout(sessionID: old.sessionID)
        #expect(throws: AuthError.sessionRevoked) { try self.auth.accounts.requireStepUp(userID: user.id, sessionID: old.sessionID, recent: false) }
    }

    @Test func aResetForAUserWithAFactorEndsWithAChallengeAndItsSessionIsNotRecent() throws {
        let (user, totp, _) = try enrolled("hal@example.com")
        try auth.accounts.requestPasswordReset(
            email: "hal@example.com", client: client, link: MailComposer.Link(base: "https://site.example", page: "/auth/reset"))
        let token = try fixture.mailedToken(to: "hal@example.com", page: "https://site.example/auth/reset?token=")
        guard case .secondFactorRequired(let pending) = try auth.accounts.resetPassword(token: token, newPassword: "battery staple", client: client)
        else {
            Issue.record("the reset signed in without the second factor")
            return
        }
        #expect(try count("SELECT COUNT(*) AS n FROM sessions WHERE user_id = '\(user.id)' AND revoked_at IS NULL") == 0)
        let pair = try auth.accounts.completeSignIn(challenge: pending.token, proof: .code(code(totp)), client: client)
        #expect(try auth.tokens.verifyAccessToken(pair.accessToken).methods == ["pwd", "otp"])
        #expect(try !auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id), "a reset is no recent authentication")
        _ = try auth.accounts.reauthenticate(userID: user.id, sessionID: pair.sessionID, with: .password("battery staple"), client: client)
        #expect(try auth.sessions.isRecentlyAuthenticated(sessionID: pair.sessionID, userID: user.id))
    }

    @Test func removingTheLastFactorDropsTheRecoveryCodesAndAnAdminResetRemovesEverything() throws {
        let (user, _, codes) = try enrolled("ivy@example.com")
        let factor = try #require(try auth.mfa.summary(userID: user.id).factors.first)
        #expect(try auth.accounts.removeFactor(id: factor.id, of: user.id))
        #expect(try auth.mfa.summary(userID: user.id).recoveryCodesLeft == 0)
        #expect(try !auth.mfa.useRecoveryCode(userID: user.id, code: codes[0]))
        #expect(throws: AuthError.notFound, "no codes without a factor") { try self.auth.mfa.replaceRecoveryCodes(userID: user.id) }
        _ = try auth.accounts.login(email: "ivy@example.com", password: "correct horse", client: client)

        let (other, _, _) = try enrolled("jo@example.com")
        _ = try auth.mfa.beginTOTP(userID: other.id, name: "pending")
        #expect(try auth.mfa.removeAll(userID: other.id) == 1)
        #expect(try count("SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id = '\(other.id)'") == 0)
        #expect(try count("SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = '\(other.id)'") == 0)
        #expect(throws: Never.self) { try self.auth.accounts.login(email: "jo@example.com", password: "correct horse", client: self.client) }
    }

    @Test func factorsWithoutKeysStopTheSignInRatherThanBeSkipped() throws {
        let (_, _, _) = try enrolled("kim@example.com")
        let logger = Logger(label: "test")
        let keyless = AuthServices(
            settings: AuthSettings(config: fixture.config, keys: fixture.tokenKeys),
            database: Database(connection: try Connection(url: fixture.url), logger: logger), hasher: fixture.hasher,
            clock: fixture.clock, logger: logger)
        #expect(throws: AuthError.mfaUnavailable) {
            try keyless.accounts.signIn(email: "kim@example.com", password: "correct horse", client: self.client)
        }
        // A reset link is not spent meanwhile, and the password stays: the link works once the keys are back.
        try auth.accounts.requestPasswordReset(
            email: "kim@example.com", client: client, link: MailComposer.Link(base: "https://site.example", page: "/auth/reset"))
        let token = try fixture.mailedToken(to: "kim@example.com", page: "https://site.example/auth/reset?token=")
        #expect(throws: AuthError.mfaUnavailable) {
            try keyless.accounts.resetPassword(token: token, newPassword: "battery staple", client: self.client)
        }
        _ = try challenge("kim@example.com")  // the old password still signs in (to its second step)
        guard case .secondFactorRequired = try auth.accounts.resetPassword(token: token, newPassword: "battery staple", client: client) else {
            Issue.record("the link did not work once the keys were back")
            return
        }
    }

    @Test func accessTokensWithAMalformedAmrOrAuthTimeAreRefused() throws {
        let now = Int64(fixture.clock.now().timeIntervalSince1970)
        func token(_ extra: [(String, JSON)]) throws -> String {
            try fixture.settings.accessSigner.sign(
                [
                    ("sub", .string("u")), ("email", .string("a@example.com")), ("role", .string("user")), ("sid", .string("s")),
                    ("jti", .string("j")), ("iss", .string(fixture.settings.issuer)), ("aud", .string(fixture.settings.audience)),
                    ("iat", .int(now)), ("exp", .int(now + 60)),
                ] + extra)
        }
        let old = try auth.tokens.verifyAccessToken(try token([]))
        #expect(old.methods.isEmpty && old.authTime == nil && old.assuranceLevel == 1)
        let unknown = try auth.tokens.verifyAccessToken(try token([("amr", .array([.string("pwd"), .string("face"), .string("pwd")]))]))
        #expect(unknown.methods == ["pwd"], "unknown values dropped, duplicates once")
        for bad: [(String, JSON)] in [
            [("amr", .string("otp"))], [("amr", .array([.int(1)]))], [("auth_time", .string("now"))], [("auth_time", .int(-1))],
        ] {
            #expect(throws: AuthError.invalidToken) { try self.auth.tokens.verifyAccessToken(try token(bad)) }
        }
    }
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

extension Date {
    /// Whole seconds (the claims' precision).
    fileprivate var rounded: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}

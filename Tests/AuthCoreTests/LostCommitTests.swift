import CryptoPrimitives
import Foundation
import MariaDB
import TestSupport
import Testing

@testable import AuthCore

/// Single-use writes whose `COMMIT` answered OK but did not hold: through two Galera nodes, two conditional updates of
/// one row can both find it unconsumed and both commit, and the cluster keeps the write set ordered last (measured in
/// the cluster tier: a reset link posted 8 times at once signed two posts in). Each single-use write stores a random
/// claim and reads it back after its commit; here the hook between the two takes the write back on one server as the
/// other node's write set would, and the loser must answer as if the row had been consumed before it.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class LostCommitTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let other: Connection
    let client = ClientContext(ip: "203.0.113.9", userAgent: "tests")
    let link = MailComposer.Link(base: "https://site.example/", page: "/auth/reset")

    init() throws {
        fixture = try AuthFixture(
            env: ["JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>"],
            mfaKeys: MFAKeyRing(keys: [MFAKeyRing.Key(id: "k1", secret: SecureBytes(randomCount: 32))]))
        auth = try fixture.auth()
        other = try Connection(url: fixture.url)
    }

    deinit { other.close() }

    /// Runs `body` with a hook that, between the commit and the read-back of the single-use write `expected`, runs
    /// the statements of `takingBack` on another connection, as the write set of another node ordered after this one
    /// would (none: the write holds, and the read-back must find its own claim).
    func afterCommit<T>(of expected: String, takingBack: [(String, [DatabaseValue])], _ body: () throws -> T) throws -> T {
        var seen: [String] = []
        let other = other
        auth.database.afterSingleUseCommitForTesting = { what in
            seen.append(what)
            guard what == expected else { return }
            for (sql, values) in takingBack { try other.execute(sql, values) }
        }
        defer { auth.database.afterSingleUseCommitForTesting = nil }
        let result = try body()
        #expect(seen.contains(expected), "the read-back ran for \(expected): \(seen)")
        return result
    }

    /// Another claim in the row of `table` where `condition` (its values `values`).
    func otherClaim(_ table: String, _ condition: String, _ values: [DatabaseValue], column: String = "claim") -> (String, [DatabaseValue]) {
        ("UPDATE \(table) SET \(column) = ? WHERE \(condition)", [.bytes(Random.bytes(16))] + values)
    }

    func lostCommitLogged(_ what: String) -> Bool {
        fixture.logs.all.contains { $0.contains("single_use_not_committed") && $0.contains("\"single_use\": \(what)") }
    }

    func enrolled(_ email: String) throws -> (User, TOTP, [String]) { try fixture.enrolledWithTOTP(auth, email: email) }

    func code(_ totp: TOTP, offset: Int64 = 0) -> String { fixture.code(totp, offset: offset) }

    func challenge(_ email: String) throws -> MFAChallenge { try fixture.challenge(auth, email: email, client: client) }

    func sessions(of user: User, live: Bool) throws -> Int {
        try fixture.count(
            "SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?" + (live ? " AND revoked_at IS NULL" : ""), [.string(user.id)])
    }

    @Test func aResetWhoseConsumptionDidNotHoldIsAUsedLinkAndChangesNothing() throws {
        let user = try auth.accounts.createUser(email: "ada@example.com", password: "correct horse")
        let old = try auth.accounts.login(email: "ada@example.com", password: "correct horse", client: client)
        try auth.accounts.requestPasswordReset(email: "ada@example.com", client: client, link: link)
        let token = try fixture.mailedToken(to: "ada@example.com", page: "https://site.example/auth/reset?token=")
        let digest = try #require(OneTimeToken.digest(of: token))
        #expect(throws: AuthError.resetTokenInvalid) {
            // The other post's consumption of the link, kept by the token's row.
            try self.afterCommit(of: "password_reset", takingBack: [self.otherClaim("one_time_tokens", "token_hash = ?", [.bytes(digest)])]) {
                try self.auth.accounts.resetPassword(token: token, newPassword: "battery staple", client: self.client)
            }
        }
        #expect(lostCommitLogged("password_reset"))
        // The post that lost wrote nothing else: the password and the sessions are as they were (the other post's
        // reset, in its own transaction, is what changes them).
        _ = try auth.accounts.login(email: "ada@example.com", password: "correct horse", client: client)
        #expect(try auth.sessions.isSessionActive(old.sessionID))
        #expect(try sessions(of: user, live: true) == 2)
    }

    @Test func aResetWhoseConsumptionHeldSetsThePasswordAndSignsIn() throws {
        let user = try auth.accounts.createUser(email: "bo@example.com", password: "correct horse")
        try auth.accounts.requestPasswordReset(email: "bo@example.com", client: client, link: link)
        let token = try fixture.mailedToken(to: "bo@example.com", page: "https://site.example/auth/reset?token=")
        let signIn = try afterCommit(of: "password_reset", takingBack: []) {
            try auth.accounts.resetPassword(token: token, newPassword: "battery staple", client: client)
        }
        #expect(signIn.pair?.user.id == user.id)
        #expect(!lostCommitLogged("password_reset"))
        _ = try auth.accounts.login(email: "bo@example.com", password: "battery staple", client: client)
        #expect(throws: AuthError.resetTokenInvalid) {
            try self.auth.accounts.resetPassword(token: token, newPassword: "another one", client: self.client)
        }
    }

    @Test func aSecondFactorSignInThatLostRevokesItsSessionAndIsRefused() throws {
        let (user, totp, _) = try enrolled("cy@example.com")
        let pending = try challenge("cy@example.com")
        let digest = SHA256.hash(Array(pending.token.utf8))
        #expect(throws: AuthError.invalidCode) {
            try self.afterCommit(
                of: "mfa_sign_in", takingBack: [self.otherClaim("mfa_challenges", "token_hash = ?", [.bytes(digest)])]
            ) { try self.auth.accounts.completeSignIn(challenge: pending.token, proof: .code(self.code(totp)), client: self.client) }
        }
        #expect(lostCommitLogged("mfa_sign_in"))
        #expect(try sessions(of: user, live: false) == 1 && sessions(of: user, live: true) == 0, "its session exists, revoked")

        let again = try challenge("cy@example.com")
        fixture.clock.advance(30)
        let pair = try afterCommit(of: "mfa_sign_in", takingBack: []) {
            try auth.accounts.completeSignIn(challenge: again.token, proof: .code(code(totp)), client: client)
        }
        #expect(try auth.sessions.isSessionActive(pair.sessionID))
    }

    @Test func aTOTPCodeWhoseUseDidNotHoldIsRefused() throws {
        let (user, totp, _) = try enrolled("di@example.com")
        let factorID = try #require(try auth.mfa.summary(userID: user.id).factors.first?.id)
        let lost = try afterCommit(
            of: "totp_step", takingBack: [otherClaim("mfa_factors", "id = ?", [.string(factorID)], column: "step_claim")]
        ) { try auth.mfa.verifyTOTP(userID: user.id, code: code(totp)) }
        #expect(!lost)
        #expect(lostCommitLogged("totp_step"))
        #expect(try !auth.mfa.verifyTOTP(userID: user.id, code: code(totp)), "the step stays used")
        fixture.clock.advance(30)
        #expect(try afterCommit(of: "totp_step", takingBack: []) { try auth.mfa.verifyTOTP(userID: user.id, code: code(totp)) })
    }

    @Test func aRecoveryCodeWhoseUseDidNotHoldIsRefusedAndStaysUsed() throws {
        let (user, _, codes) = try enrolled("ed@example.com")
        let lost = try afterCommit(
            of: "recovery_code", takingBack: [otherClaim("mfa_recovery_codes", "user_id = ? AND used_at IS NOT NULL", [.string(user.id)])]
        ) { try auth.mfa.useRecoveryCode(userID: user.id, code: codes[0]) }
        #expect(!lost)
        #expect(lostCommitLogged("recovery_code"))
        #expect(try !auth.mfa.useRecoveryCode(userID: user.id, code: codes[0]))
        #expect(try afterCommit(of: "recovery_code", takingBack: []) { try auth.mfa.useRecoveryCode(userID: user.id, code: codes[1]) })
        #expect(try auth.mfa.summary(userID: user.id).recoveryCodesLeft == 8)
    }

    @Test func aTOTPConfirmationThatDidNotHoldShowsNoCodesAndWritesNone() throws {
        let user = try auth.accounts.createUser(email: "fa@example.com", password: "correct horse")
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        let totp = TOTP(secret: SecureBytes(try #require(Base32.decode(enrolment.secretBase32))))
        let keptCode = Random.bytes(32)
        #expect(throws: AuthError.invalidCode) {
            // The other node's confirmation: its claim, and a recovery code of its set.
            try self.afterCommit(
                of: "totp_activation",
                takingBack: [
                    self.otherClaim("mfa_factors", "id = ?", [.string(enrolment.id)], column: "activation_claim"),
                    (
                        "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, NOW(6))",
                        [.string(user.id), .bytes(keptCode)]
                    ),
                ]
            ) { try self.auth.mfa.confirmTOTP(userID: user.id, code: self.code(totp)) }
        }
        #expect(lostCommitLogged("totp_activation"))
        #expect(
            try fixture.count("SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = ?", [.string(user.id)]) == 1,
            "the confirmation that lost stored no codes; the kept one's stay")
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE code_hash = ?", [.bytes(keptCode)]) == 1)
    }

    /// A confirmation that won but could not store its codes (here the table is gone: any database failure) puts the
    /// factor back to pending: no factor without the codes its owner was to be shown, and the enrolment can be
    /// confirmed again.
    @Test func aTOTPConfirmationThatCannotStoreItsCodesLeavesTheFactorPending() throws {
        let user = try auth.accounts.createUser(email: "ka@example.com", password: "correct horse")
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        let totp = TOTP(secret: SecureBytes(try #require(Base32.decode(enrolment.secretBase32))))
        #expect(throws: AuthError.self) {
            try self.afterCommit(of: "totp_activation", takingBack: [("RENAME TABLE mfa_recovery_codes TO mfa_recovery_codes_away", [])]) {
                try self.auth.mfa.confirmTOTP(userID: user.id, code: self.code(totp))
            }
        }
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_factors WHERE id = ? AND status = 'pending'", [.string(enrolment.id)]) == 1)
        try other.execute("RENAME TABLE mfa_recovery_codes_away TO mfa_recovery_codes")
        fixture.clock.advance(30)
        #expect(try auth.mfa.confirmTOTP(userID: user.id, code: code(totp)).count == 10, "confirmed again once it can be")
    }

    @Test func aTOTPConfirmationThatHeldShowsItsCodes() throws {
        let user = try auth.accounts.createUser(email: "ha@example.com", password: "correct horse")
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        let totp = TOTP(secret: SecureBytes(try #require(Base32.decode(enrolment.secretBase32))))
        let codes = try afterCommit(of: "totp_activation", takingBack: []) { try auth.mfa.confirmTOTP(userID: user.id, code: code(totp)) }
        #expect(codes.count == 10)
        let summary = try auth.mfa.summary(userID: user.id)
        #expect(summary.factors.map(\.kind) == ["totp"] && summary.recoveryCodesLeft == 10)
        #expect(try auth.mfa.useRecoveryCode(userID: user.id, code: codes[0]), "the codes shown are the stored ones")
    }

    /// A later code's use that lands between this use's commit and its read-back moves the factor's claim on, but not
    /// back: this use held (it was a different step), while the same step used twice never does.
    @Test func aTOTPUseOvertakenByALaterStepStillHeld() throws {
        let (user, totp, _) = try enrolled("ia@example.com")
        let factorID = try #require(try auth.mfa.summary(userID: user.id).factors.first?.id)
        let held = try afterCommit(
            of: "totp_step",
            takingBack: [
                ("UPDATE mfa_factors SET step_claim = ?, last_step = last_step + 1 WHERE id = ?", [.bytes(Random.bytes(16)), .string(factorID)])
            ]
        ) { try auth.mfa.verifyTOTP(userID: user.id, code: code(totp)) }
        #expect(held)
        #expect(!lostCommitLogged("totp_step"))
    }

    @Test func aPasskeyChallengeWhoseUseDidNotHoldIsNotConsumedHere() throws {
        let store = PasskeyStore(database: auth.database)
        let now = fixture.clock.now()
        let lostChallenge = Random.bytes(32)
        try store.insertChallenge(lostChallenge, purpose: .login, userID: nil, pendingHash: nil, now: now, expiresAt: now.addingTimeInterval(60))
        let lost = try afterCommit(
            of: "passkey_challenge",
            takingBack: [otherClaim("webauthn_challenges", "challenge_hash = ?", [.bytes(SHA256.hash(lostChallenge))])]
        ) { try store.consumeChallenge(lostChallenge, purpose: .login, now: now) }
        #expect(lost == nil)
        #expect(lostCommitLogged("passkey_challenge"))
        #expect(try store.consumeChallenge(lostChallenge, purpose: .login, now: now) == nil, "and it is used")

        let kept = Random.bytes(32)
        try store.insertChallenge(kept, purpose: .login, userID: nil, pendingHash: nil, now: now, expiresAt: now.addingTimeInterval(60))
        #expect(try afterCommit(of: "passkey_challenge", takingBack: []) { try store.consumeChallenge(kept, purpose: .login, now: now) } != nil)
    }
}

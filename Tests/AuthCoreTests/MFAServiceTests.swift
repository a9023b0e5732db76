import CryptoPrimitives
import Foundation
import Logging
import MariaDB
import TestSupport
import Testing

@testable import AuthCore

/// #17: TOTP factors and recovery codes against a real MariaDB, with a manual clock (never a sleep to the next step).
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class MFAServiceTests {
    static let first = MFAKeyRing.Key(id: "k1", secret: SecureBytes(randomCount: 32))
    static let second = MFAKeyRing.Key(id: "k2", secret: SecureBytes(randomCount: 32))
    let fixture: AuthFixture
    let auth: AuthServices

    init() throws {
        fixture = try AuthFixture(env: ["JWT_AUTHD_MAIL_FROM": "Example Site <noreply@example.com>"], mfaKeys: MFAKeyRing(keys: [Self.first]))
        auth = try fixture.auth()
    }

    func code(_ enrolment: MFAService.Enrolment, offset: Int64 = 0) throws -> String {
        let totp = TOTP(secret: SecureBytes(try #require(Base32.decode(enrolment.secretBase32))))
        return totp.code(step: totp.step(at: fixture.clock.now()) + offset)
    }

    func enrolled(_ email: String) throws -> (User, MFAService.Enrolment, [String]) {
        let user = try auth.accounts.createUser(email: email, password: "correct horse")
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: "phone")
        let codes = try auth.mfa.confirmTOTP(userID: user.id, code: try code(enrolment))
        fixture.clock.advance(30)
        return (user, enrolment, codes)
    }

    @Test func enrolmentSealsTheSecretAndActivatesOnAValidCode() throws {
        let user = try auth.accounts.createUser(email: "ann@example.com", password: "correct horse")
        let enrolment = try auth.mfa.beginTOTP(userID: user.id, name: "phone")
        #expect(enrolment.secretBase32.count == 32, "160 bits")
        #expect(
            enrolment.otpauthURI.hasPrefix("otpauth://totp/Example%20Site:ann%40example.com?secret=\(enrolment.secretBase32)&issuer=Example%20Site"))
        let connection = try Connection(url: fixture.url)
        defer { connection.close() }
        let row = try #require(try connection.query("SELECT status, key_id, secret FROM mfa_factors WHERE id = ?", [.string(enrolment.id)]).first)
        #expect(try row.string("status") == "pending" && row.string("key_id") == "k1")
        let sealed = try row.bytes("secret")
        let raw = try #require(Base32.decode(enrolment.secretBase32))
        #expect(sealed.count == 20 + AESGCM.overhead && !sealed.starts(with: raw), "stored sealed, never in the clear")
        #expect(try auth.mfa.summary(userID: user.id).factors.isEmpty, "nothing active before the first code")

        #expect(throws: AuthError.invalidCode) { try self.auth.mfa.confirmTOTP(userID: user.id, code: "000000") }
        let codes = try auth.mfa.confirmTOTP(userID: user.id, code: try code(enrolment))
        #expect(codes.count == 10 && Set(codes).count == 10)
        #expect(codes.allSatisfy { $0.wholeMatch(of: /[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}/) != nil })
        let summary = try auth.mfa.summary(userID: user.id)
        #expect(summary.factors.map(\.kind) == ["totp"] && summary.factors[0].name == "phone" && summary.recoveryCodesLeft == 10)
        #expect(throws: AuthError.invalidCode, "confirmed once") { try self.auth.mfa.confirmTOTP(userID: user.id, code: try self.code(enrolment)) }
    }

    @Test func aCodeWorksOnceAndOlderCodesNeverAfterANewerOne() throws {
        let (user, enrolment, _) = try enrolled("bob@example.com")
        let now = try code(enrolment)
        #expect(try auth.mfa.verifyTOTP(userID: user.id, code: now))
        #expect(try !auth.mfa.verifyTOTP(userID: user.id, code: now), "replayed")
        #expect(try !auth.mfa.verifyTOTP(userID: user.id, code: try code(enrolment, offset: -1)), "older than the last used")
        #expect(try auth.mfa.verifyTOTP(userID: user.id, code: try code(enrolment, offset: 1)), "the next step, within the skew")
        #expect(try !auth.mfa.verifyTOTP(userID: user.id, code: try code(enrolment, offset: 3)))
        #expect(try !auth.mfa.verifyTOTP(userID: user.id, code: "12345"))
    }

    @Test func thirtyTwoRacersWithOneCodeGetOneSuccess() throws {
        let (user, enrolment, _) = try enrolled("cy@example.com")
        let code = try code(enrolment)
        let auths = UncheckedBox(try (0..<32).map { _ in try fixture.auth() })
        let outcomes = onThreads(32) { index -> Bool in (try? auths.value[index].mfa.verifyTOTP(userID: user.id, code: code)) ?? false }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
    }

    @Test func recoveryCodesWorkOnceAndANewSetEndsTheOld() throws {
        let (user, _, codes) = try enrolled("dee@example.com")
        #expect(try auth.mfa.useRecoveryCode(userID: user.id, code: codes[0]))
        #expect(try !auth.mfa.useRecoveryCode(userID: user.id, code: codes[0]), "once")
        #expect(try auth.mfa.useRecoveryCode(userID: user.id, code: " " + codes[1].uppercased().replacingOccurrences(of: "-", with: "") + " "))
        #expect(try !auth.mfa.useRecoveryCode(userID: user.id, code: "aaaa-aaaa-aaaa-aaaa"))
        #expect(try auth.mfa.summary(userID: user.id).recoveryCodesLeft == 8)
        let fresh = try auth.mfa.replaceRecoveryCodes(userID: user.id)
        #expect(try !auth.mfa.useRecoveryCode(userID: user.id, code: codes[2]), "the old set died")
        #expect(try auth.mfa.useRecoveryCode(userID: user.id, code: fresh[0]))
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE code_hash = ?", [.bytes(Array(fresh[1].utf8))]) == 0)
    }

    @Test func anEnrolmentWaitsTenMinutesAndANewOneReplacesIt() throws {
        let user = try auth.accounts.createUser(email: "eve@example.com", password: "correct horse")
        let old = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        let new = try auth.mfa.beginTOTP(userID: user.id, name: nil)
        #expect(throws: AuthError.invalidCode, "the replaced enrolment's secret") {
            try self.auth.mfa.confirmTOTP(userID: user.id, code: try self.code(old))
        }
        fixture.clock.advance(601)
        #expect(throws: AuthError.invalidCode, "expired") { try self.auth.mfa.confirmTOTP(userID: user.id, code: try self.code(new)) }
        #expect(try auth.cleanup.cleanup().pendingFactors == 1, "the periodic cleanup removes it")
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_factors") == 0)
    }

    @Test func aSealedSecretOpensOnlyForItsFactorAndKeysRotate() throws {
        let (ann, annEnrolment, annCodes) = try enrolled("fay@example.com")
        let (bob, _, _) = try enrolled("gus@example.com")
        // Bob's row given Ann's sealed secret: it does not open for Bob's factor (the additional data binds it).
        let connection = try Connection(url: fixture.url)
        defer { connection.close() }
        try connection.execute(
            "UPDATE mfa_factors b JOIN mfa_factors a ON a.user_id = ? SET b.secret = a.secret WHERE b.user_id = ?",
            [.string(ann.id), .string(bob.id)])
        #expect(try !auth.mfa.verifyTOTP(userID: bob.id, code: try code(annEnrolment)))
        #expect(fixture.logs.all.contains { $0.contains("mfa_secret_unreadable") })
        // A second key first: rows sealed under the first still open, recovery codes made under it still work, new
        // enrolments are sealed under the second.
        let rotated = try AuthFixture.reusing(fixture, mfaKeys: MFAKeyRing(keys: [Self.second, Self.first]))
        #expect(try rotated.mfa.verifyTOTP(userID: ann.id, code: try code(annEnrolment)))
        #expect(try rotated.mfa.useRecoveryCode(userID: ann.id, code: annCodes[0]))
        let hal = try auth.accounts.createUser(email: "hal@example.com", password: "correct horse")
        let halEnrolment = try rotated.mfa.beginTOTP(userID: hal.id, name: nil)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_factors WHERE id = ? AND key_id = 'k2'", [.string(halEnrolment.id)]) == 1)
        // Without the key a row names, it does not open.
        let secondOnly = try AuthFixture.reusing(fixture, mfaKeys: MFAKeyRing(keys: [Self.second]))
        fixture.clock.advance(30)
        #expect(try !secondOnly.mfa.verifyTOTP(userID: ann.id, code: try code(annEnrolment)))
        // Re-sealing under the current key, page by page (Bob's tampered row cannot be, and holds nothing up); then
        // the old key can go.
        var resealed = 0
        var unreadable = 0
        var cursor: String? = ""
        while let after = cursor {
            let batch = try rotated.mfa.resealBatch(after: after, batchSize: 1)
            resealed += batch.resealed
            unreadable += batch.unreadable
            cursor = batch.next
        }
        #expect(resealed == 1 && unreadable == 1, "Ann's re-sealed, Bob's tampered one left alone; Hal's was under k2")
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM mfa_factors WHERE key_id = 'k1'") == 1)
        #expect(try secondOnly.mfa.verifyTOTP(userID: ann.id, code: try code(annEnrolment)))
    }

    @Test func withoutKeysFactorsAreUnavailable() throws {
        let plain = try AuthFixture()
        let auth = try plain.auth()
        let user = try auth.accounts.createUser(email: "ivy@example.com", password: "correct horse")
        #expect(!auth.mfa.isAvailable)
        #expect(throws: AuthError.mfaUnavailable) { try auth.mfa.beginTOTP(userID: user.id, name: nil) }
        #expect(throws: AuthError.mfaUnavailable) { try auth.mfa.verifyTOTP(userID: user.id, code: "123456") }
    }

    @Test func removingAFactorIsPerUser() throws {
        let (user, enrolment, _) = try enrolled("jo@example.com")
        let other = try auth.accounts.createUser(email: "kim@example.com", password: "correct horse")
        #expect(try !auth.mfa.remove(factorID: enrolment.id, userID: other.id), "another user's factor")
        #expect(try !auth.mfa.remove(factorID: "not-an-id", userID: user.id))
        #expect(try auth.mfa.remove(factorID: enrolment.id, userID: user.id))
        #expect(try auth.mfa.summary(userID: user.id).factors.isEmpty)
        #expect(try !auth.mfa.verifyTOTP(userID: user.id, code: try code(enrolment)))
    }
}

extension AuthFixture {
    /// Services over this fixture's database and clock with other MFA keys (a host after a key rotation).
    static func reusing(_ fixture: AuthFixture, mfaKeys: MFAKeyRing?) throws -> AuthServices {
        let rotated = AuthSettings(config: fixture.config, keys: fixture.tokenKeys, mfaKeys: mfaKeys)
        return AuthServices(
            settings: rotated, database: Database(connection: try Connection(url: fixture.url), logger: Logger(label: "test")),
            hasher: fixture.hasher, clock: fixture.clock, logger: Logger(label: "test", factory: { [logs = fixture.logs] _ in logs }))
    }
}

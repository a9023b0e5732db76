import AuthCore
import Foundation
import MariaDB
import TestSupport
import Testing

/// #16: email verification and email change by mail, against a real MariaDB: tokens bound to the address they were
/// sent to, consumed once (also under a race), written with their message in one transaction; login refused for an
/// unverified address when the site requires it; enumeration-safe registration.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class EmailVerificationTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let links = AccountMailLinks(
        verify: MailComposer.Link(base: "https://site.example", page: "/auth/verify-email"),
        forgot: MailComposer.Link(base: "https://site.example", page: "/auth/forgot"))
    let client = ClientContext(ip: "192.0.2.41", userAgent: "tests")
    static let page = "https://site.example/auth/verify-email?token="

    init() throws {
        fixture = try AuthFixture(env: ["JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>"])
        auth = try fixture.auth()
    }

    func token(to recipient: String) throws -> String { try fixture.mailedToken(to: recipient, page: Self.page) }

    func queued(to recipient: String) throws -> Int {
        try fixture.count("SELECT COUNT(*) AS n FROM mail_outbox WHERE recipient = ?", [.string(recipient)])
    }

    @Test func registrationMailsALinkThatVerifiesTheAddressOnce() throws {
        guard
            case .signedIn(let pair) = try auth.accounts.register(
                email: "Ada@Example.com", password: "correct horse", name: nil, client: client, links: links)
        else {
            Issue.record("without require_verified_email a registration signs in")
            return
        }
        #expect(pair.user.emailVerifiedAt == nil)
        let token = try token(to: "ada@example.com")
        #expect(try fixture.mailedText(to: "ada@example.com").contains("It works once, for 48 hours"))
        let user = try auth.accounts.verifyEmail(token: token)
        #expect(user.id == pair.user.id && user.emailVerifiedAt != nil)
        #expect(throws: AuthError.emailTokenInvalid, "used once") { try self.auth.accounts.verifyEmail(token: token) }
        // Verified: a resend mails nothing (and answers the same).
        try auth.accounts.resendVerification(email: "ada@example.com", userID: nil, client: client, link: links.verify)
        try auth.accounts.resendVerification(email: nil, userID: user.id, client: client, link: links.verify)
        #expect(try queued(to: "ada@example.com") == 1)
        // No mail without links (the site sends none).
        _ = try auth.accounts.register(email: "quiet@example.com", password: "correct horse", name: nil, client: client, links: nil)
        #expect(try queued(to: "quiet@example.com") == 0)
    }

    @Test func aTokenIsBoundToItsAddressItsPurposeAndItsLifetime() throws {
        let user = try auth.accounts.createUser(email: "bob@example.com", password: "correct horse")
        try auth.accounts.resendVerification(email: "bob@example.com", userID: nil, client: client, link: links.verify)
        let first = try token(to: "bob@example.com")
        fixture.clock.advance(1)
        try auth.accounts.resendVerification(email: nil, userID: user.id, client: client, link: links.verify)
        let second = try token(to: "bob@example.com")
        #expect(throws: AuthError.emailTokenInvalid, "a newer link ends the older") { try self.auth.accounts.verifyEmail(token: first) }
        #expect(throws: AuthError.resetTokenInvalid, "a verification token is no reset token") {
            try self.auth.accounts.resetPassword(token: second, newPassword: "battery staple", client: self.client)
        }
        fixture.clock.advance(48 * 3600 + 1)
        #expect(throws: AuthError.emailTokenInvalid, "expired") { try self.auth.accounts.verifyEmail(token: second) }
        for junk in ["", "x", String(repeating: "A", count: 43), second + "A"] {
            #expect(throws: AuthError.emailTokenInvalid) { try self.auth.accounts.verifyEmail(token: junk) }
        }
        // A link sent to an address the account no longer has confirms nothing.
        try auth.accounts.resendVerification(email: nil, userID: user.id, client: client, link: links.verify)
        let third = try token(to: "bob@example.com")
        let connection = try Connection(url: fixture.url)
        defer { connection.close() }
        try connection.execute("UPDATE users SET email = 'robert@example.com' WHERE id = ?", [.string(user.id)])
        #expect(throws: AuthError.emailTokenInvalid) { try self.auth.accounts.verifyEmail(token: third) }
        #expect(try auth.accounts.user(id: user.id)?.emailVerifiedAt == nil)
    }

    @Test func anEmailChangeConfirmsTheNewAddressAndTellsTheOldOne() throws {
        let user = try auth.accounts.createUser(email: "cy@example.com", password: "correct horse")
        let other = try auth.accounts.createUser(email: "taken@example.com", password: "correct horse")
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.requestEmailChange(userID: user.id, newEmail: "new@example.com", password: "wrong one", link: self.links.verify)
        }
        #expect(throws: AuthError(.invalidInput, "")) {
            try self.auth.accounts.requestEmailChange(userID: user.id, newEmail: "CY@example.com", password: "correct horse", link: self.links.verify)
        }
        // An address in use: the same answer, no mail, no change.
        try auth.accounts.requestEmailChange(userID: user.id, newEmail: "Taken@example.com", password: "correct horse", link: links.verify)
        #expect(try queued(to: "taken@example.com") == 0 && queued(to: "cy@example.com") == 0)
        // A reset link sent to the old address before the change must not outlive it.
        try auth.accounts.requestPasswordReset(email: "cy@example.com", client: client, link: links.forgot)
        let reset = try fixture.mailedToken(to: "cy@example.com", page: "https://site.example/auth/forgot?token=")
        fixture.clock.advance(1)  // (the newest message to the old address is then the notice)
        try auth.accounts.requestEmailChange(userID: user.id, newEmail: "New@Example.com", password: "correct horse", link: links.verify)
        let notice = try fixture.mailedText(to: "cy@example.com")
        #expect(notice.contains("asked to change its address to new@example.com") && !notice.contains("token="))
        let change = try token(to: "new@example.com")
        #expect(try auth.accounts.user(id: user.id)?.email == "cy@example.com", "nothing changes before the link is used")
        let changed = try auth.accounts.verifyEmail(token: change)
        #expect(changed.email == "new@example.com" && changed.emailVerifiedAt != nil)
        #expect(throws: AuthError.resetTokenInvalid) {
            try self.auth.accounts.resetPassword(token: reset, newPassword: "battery staple", client: self.client)
        }
        _ = try auth.accounts.login(email: "new@example.com", password: "correct horse", client: client)
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "cy@example.com", password: "correct horse", client: self.client)
        }
        // A change whose address was taken meanwhile: 409, and the link is not used up.
        try auth.accounts.requestEmailChange(userID: other.id, newEmail: "late@example.com", password: "correct horse", link: links.verify)
        let late = try token(to: "late@example.com")
        _ = try auth.accounts.createUser(email: "late@example.com", password: "correct horse")
        #expect(throws: AuthError.emailTaken) { try self.auth.accounts.verifyEmail(token: late) }
        // A password change ends a pending change's link.
        try auth.accounts.requestEmailChange(userID: other.id, newEmail: "later@example.com", password: "correct horse", link: links.verify)
        let later = try token(to: "later@example.com")
        try auth.accounts.changePassword(userID: other.id, current: "correct horse", new: "changed meanwhile", keepingSession: nil)
        #expect(throws: AuthError.emailTokenInvalid) { try self.auth.accounts.verifyEmail(token: later) }
    }

    @Test func thirtyTwoRacersOnOneChangeLinkGetOneSuccess() throws {
        let user = try auth.accounts.createUser(email: "dee@example.com", password: "correct horse")
        try auth.accounts.requestEmailChange(userID: user.id, newEmail: "dee2@example.com", password: "correct horse", link: links.verify)
        let token = try token(to: "dee2@example.com")
        let auths = UncheckedBox(try (0..<32).map { _ in try fixture.auth() })
        let outcomes = onThreads(32) { index -> String in
            do {
                _ = try auths.value[index].accounts.verifyEmail(token: token)
                return "ok"
            } catch let error as AuthError {
                return error.code.rawValue
            } catch {
                return "\(error)"
            }
        }
        #expect(outcomes.filter { $0 == "ok" }.count == 1, "\(outcomes)")
        #expect(outcomes.filter { $0 == "email_token_invalid" }.count == 31, "\(outcomes)")
    }

    @Test func aRequiredVerificationKeepsLoginAndRegistrationFromSigningIn() throws {
        let strict = try AuthFixture(env: ["JWT_REQUIRE_VERIFIED_EMAIL": "true"])
        let auth = try strict.auth()
        guard
            case .verificationRequired = try auth.accounts.register(
                email: "eve@example.com", password: "correct horse", name: nil, client: client, links: links)
        else {
            Issue.record("a registration must not sign in before verification")
            return
        }
        #expect(throws: AuthError.invalidCredentials, "a wrong password tells nothing about verification") {
            try auth.accounts.login(email: "eve@example.com", password: "wrong password", client: self.client)
        }
        #expect(throws: AuthError.emailUnverified) {
            try auth.accounts.login(email: "eve@example.com", password: "correct horse", client: self.client)
        }
        _ = try auth.accounts.verifyEmail(token: try strict.mailedToken(to: "eve@example.com", page: Self.page))
        let pair = try auth.accounts.login(email: "eve@example.com", password: "correct horse", client: client)
        #expect(pair.user.emailVerifiedAt != nil)
        // A password reset by mail proves the address too.
        _ = try auth.accounts.createUser(email: "fay@example.com", password: "correct horse")
        try auth.accounts.requestPasswordReset(email: "fay@example.com", client: client, link: links.forgot)
        let reset = try strict.mailedToken(to: "fay@example.com", page: "https://site.example/auth/forgot?token=")
        #expect(try auth.accounts.resetPassword(token: reset, newPassword: "battery staple", client: client).pair?.user.emailVerifiedAt != nil)
    }

    @Test func enumerationSafeRegistrationAnswersAlikeAndMailsTheOwner() throws {
        let safe = try AuthFixture(env: [
            "JWT_REQUIRE_VERIFIED_EMAIL": "true", "JWT_REGISTRATION_ENUMERATION_SAFE": "true", "JWT_AUTHD_MAIL_TRANSPORT": "file",
            "JWT_AUTHD_MAIL_DIR": "/nonexistent", "JWT_AUTHD_PUBLIC_URL": "https://site.example",
        ])
        let auth = try safe.auth()
        _ = try auth.accounts.createUser(email: "gus@example.com", password: "correct horse")
        let before = try safe.count("SELECT COUNT(*) AS n FROM users")
        guard
            case .verificationRequired = try auth.accounts.register(
                email: "GUS@example.com", password: "another password", name: nil, client: client, links: links)
        else {
            Issue.record("a taken address answers like a new one")
            return
        }
        #expect(try safe.count("SELECT COUNT(*) AS n FROM users") == before)
        let text = try safe.mailedText(to: "gus@example.com")
        #expect(text.contains("you already have one") && text.contains("https://site.example/auth/forgot"))
        #expect(try safe.count("SELECT COUNT(*) AS n FROM one_time_tokens") == 0, "no token: nothing to use")
        // Without enumeration safety a taken address is 409.
        #expect(throws: AuthError.emailTaken) {
            try self.auth.accounts.register(email: "gus2@example.com", password: "correct horse", name: nil, client: self.client, links: self.links)
            try self.auth.accounts.register(email: "gus2@example.com", password: "correct horse", name: nil, client: self.client, links: self.links)
        }
    }

    @Test func theAccessTokenCarriesEmailVerified() throws {
        let user = try auth.accounts.createUser(email: "hal@example.com", password: "correct horse")
        let before = try auth.accounts.login(email: "hal@example.com", password: "correct horse", client: client)
        #expect(try TokenIssuer(settings: fixture.settings, clock: fixture.clock).verifyAccessToken(before.accessToken).emailVerified == false)
        try auth.accounts.markEmailVerified(userID: user.id)
        // The next rotation reads the user again.
        let after = try auth.sessions.refresh(before.refreshToken, client: client)
        #expect(try TokenIssuer(settings: fixture.settings, clock: fixture.clock).verifyAccessToken(after.accessToken).emailVerified == true)
    }
}

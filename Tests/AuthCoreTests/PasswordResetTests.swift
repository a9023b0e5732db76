import AuthCore
import Foundation
import MariaDB
import TestSupport
import Testing

/// #16: password reset by mail, against a real MariaDB: single-use tokens that cannot be raced, no enumeration, and
/// the message written to the outbox in the token's transaction.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class PasswordResetTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let link = MailComposer.Link(base: "https://site.example/", page: "/auth/reset")
    let client = ClientContext(ip: "192.0.2.40", userAgent: "tests")

    init() throws {
        fixture = try AuthFixture(env: ["JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>"])
        auth = try fixture.auth()
    }

    /// The token in the newest queued message to `recipient`, read from its text part as a user would.
    func mailedToken(to recipient: String) throws -> String {
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM mail_outbox WHERE recipient = ? AND message LIKE '%From: \"Site\" <noreply@site.example>%'",
                [.string(recipient)]) > 0)
        return try fixture.mailedToken(to: recipient, page: "https://site.example/auth/reset?token=")
    }

    func count(_ table: String) throws -> Int { try fixture.count("SELECT COUNT(*) AS n FROM \(table)") }

    @Test func aMailedTokenSetsTheNewPasswordOnceAndEndsEverySessionAndKey() throws {
        let user = try auth.accounts.createUser(email: "ada@example.com", password: "correct horse")
        let old = try auth.accounts.login(email: "ada@example.com", password: "correct horse", client: client)
        _ = try auth.apiKeys.createAPIKey(userID: user.id, name: "ci")
        try auth.accounts.requestPasswordReset(email: "ADA@example.com", client: client, link: link)
        let token = try mailedToken(to: "ada@example.com")
        #expect(token.utf8.count == 43)
        #expect(
            try fixture.count("SELECT COUNT(*) AS n FROM one_time_tokens WHERE token_hash = ?", [.bytes(Array(token.utf8))]) == 0,
            "only the digest is stored")

        let pair = try #require(try auth.accounts.resetPassword(token: token, newPassword: "battery staple", client: client).pair)
        #expect(pair.user.id == user.id)
        #expect(try !auth.sessions.isSessionActive(old.sessionID), "the old session is revoked")
        #expect(try auth.apiKeys.apiKeys(of: user.id).isEmpty, "and every API key")
        #expect(try auth.sessions.isSessionActive(pair.sessionID), "this browser is signed in")
        _ = try auth.accounts.login(email: "ada@example.com", password: "battery staple", client: client)
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "ada@example.com", password: "correct horse", client: self.client)
        }
        // Used once: never again.
        #expect(throws: AuthError.resetTokenInvalid) {
            try self.auth.accounts.resetPassword(token: token, newPassword: "another one", client: self.client)
        }
    }

    @Test func expiredOlderAndOutlivedTokensAreRefused() throws {
        let user = try auth.accounts.createUser(email: "bob@example.com", password: "correct horse")
        try auth.accounts.requestPasswordReset(email: "bob@example.com", client: client, link: link)
        let first = try mailedToken(to: "bob@example.com")
        fixture.clock.advance(1)
        try auth.accounts.requestPasswordReset(email: "bob@example.com", client: client, link: link)
        let second = try mailedToken(to: "bob@example.com")
        #expect(first != second)
        #expect(throws: AuthError.resetTokenInvalid, "a newer request ends the older link") {
            try self.auth.accounts.resetPassword(token: first, newPassword: "battery staple", client: self.client)
        }
        // A password change by any other means ends the link too.
        try auth.accounts.changePassword(userID: user.id, current: "correct horse", new: "changed meanwhile", keepingSession: nil)
        #expect(throws: AuthError.resetTokenInvalid) {
            try self.auth.accounts.resetPassword(token: second, newPassword: "battery staple", client: self.client)
        }
        // After its lifetime (30 min by default), nothing.
        try auth.accounts.requestPasswordReset(email: "bob@example.com", client: client, link: link)
        let third = try mailedToken(to: "bob@example.com")
        fixture.clock.advance(30 * 60 + 1)
        #expect(throws: AuthError.resetTokenInvalid) {
            try self.auth.accounts.resetPassword(token: third, newPassword: "battery staple", client: self.client)
        }
        for junk in ["", "x", String(repeating: "A", count: 43), third + "A", String(third.dropLast()) + "?"] {
            #expect(throws: AuthError.resetTokenInvalid) {
                try self.auth.accounts.resetPassword(token: junk, newPassword: "battery staple", client: self.client)
            }
        }
        #expect(throws: AuthError(.weakPassword, "")) {
            try self.auth.accounts.resetPassword(token: third, newPassword: "short", client: self.client)
        }
        _ = try auth.accounts.login(email: "bob@example.com", password: "changed meanwhile", client: client)
    }

    @Test func thirtyTwoRacersOnOneTokenGetOneSuccess() throws {
        _ = try auth.accounts.createUser(email: "cy@example.com", password: "correct horse")
        try auth.accounts.requestPasswordReset(email: "cy@example.com", client: client, link: link)
        let token = try mailedToken(to: "cy@example.com")
        let auths = UncheckedBox(try (0..<32).map { _ in try fixture.auth() })
        let client = self.client
        let outcomes = onThreads(32) { index -> String in
            do {
                _ = try auths.value[index].accounts.resetPassword(token: token, newPassword: "racer number \(index)", client: client)
                return "ok \(index)"
            } catch let error as AuthError {
                return error.code.rawValue
            } catch {
                return "\(error)"
            }
        }
        let winners = outcomes.filter { $0.hasPrefix("ok ") }
        #expect(winners.count == 1, "\(outcomes)")
        #expect(outcomes.filter { $0 == "reset_token_invalid" }.count == 31, "\(outcomes)")
        let winner = try #require(winners.first.map { String($0.dropFirst(3)) })
        _ = try auth.accounts.login(email: "cy@example.com", password: "racer number \(winner)", client: client)
    }

    /// An unknown address gets the same answer after the same lookup and throttle work: the same SELECTs, the same
    /// throttle writes; only the token and outbox rows differ.
    @Test func anUnknownAddressCostsTheSameStatementsButTheInserts() throws {
        _ = try auth.accounts.createUser(email: "dee@example.com", password: "correct horse")
        func statements(_ email: String) throws -> [String: Int64] {
            let auth = try fixture.auth()
            func status() throws -> [String: Int64] {
                var values: [String: Int64] = [:]
                for row in try auth.database.connection.query(
                    "SHOW SESSION STATUS WHERE Variable_name IN ('Com_select', 'Com_insert', 'Com_update', 'Com_stmt_execute')")
                {
                    values[try row.string("Variable_name")] = Int64(try row.string("Value")) ?? -1
                }
                return values
            }
            let before = try status()
            try auth.accounts.requestPasswordReset(email: email, client: client, link: link)
            let after = try status()
            return after.merging(before) { $0 - $1 }
        }
        let tokens = try count("one_time_tokens")
        let mails = try count("mail_outbox")
        let unknown = try statements("nobody@example.com")
        #expect(try count("one_time_tokens") == tokens && count("mail_outbox") == mails, "nothing written for nobody")
        let known = try statements("dee@example.com")
        #expect(try count("one_time_tokens") == tokens + 1 && count("mail_outbox") == mails + 1)
        #expect(known["Com_select"] == unknown["Com_select"], "known \(known), unknown \(unknown)")
        // The known address adds exactly: retire older tokens (UPDATE), insert the token and the message (INSERT x2).
        #expect(known["Com_stmt_execute"] == (unknown["Com_stmt_execute"] ?? 0) + 3, "known \(known), unknown \(unknown)")
    }

    @Test func theCleanupRemovesSpentTokensButNeverQueuedMail() throws {
        _ = try auth.accounts.createUser(email: "fay@example.com", password: "correct horse")
        try auth.accounts.requestPasswordReset(email: "fay@example.com", client: client, link: link)
        _ = try auth.accounts.resetPassword(token: try mailedToken(to: "fay@example.com"), newPassword: "battery staple", client: client)
        try auth.accounts.requestPasswordReset(email: "fay@example.com", client: client, link: link)
        fixture.clock.advance(86_401)
        #expect(try auth.cleanup.cleanup().oneTimeTokens == 1, "the consumed one, a day later; the other is still live")
        fixture.clock.advance(86_400)
        let report = try auth.cleanup.cleanup()
        #expect(report.oneTimeTokens == 1, "the expired one, a day after its expiry")
        #expect(try count("one_time_tokens") == 0)
        #expect(try report.mail == 0 && count("mail_outbox") == 2, "queued mail is never cleaned up")
    }

    @Test func requestsAreThrottledPerAccountKnownOrNotAndPerAddress() throws {
        _ = try auth.accounts.createUser(email: "eve@example.com", password: "correct horse")
        for email in ["eve@example.com", "nobody@example.com"] {
            for n in 0..<5 {
                try auth.accounts.requestPasswordReset(email: email, client: ClientContext(ip: "198.51.100.\(n)"), link: link)
            }
            #expect(throws: AuthError.throttled(retryAfter: 0), "\(email)") {
                try self.auth.accounts.requestPasswordReset(
                    email: email.uppercased(), client: ClientContext(ip: "198.51.100.99"), link: self.link)
            }
        }
        for n in 0..<20 {
            try auth.accounts.requestPasswordReset(email: "n\(n)@example.com", client: ClientContext(ip: "203.0.113.5"), link: link)
        }
        #expect(throws: AuthError.throttled(retryAfter: 0)) {
            try self.auth.accounts.requestPasswordReset(email: "n99@example.com", client: ClientContext(ip: "203.0.113.5"), link: self.link)
        }
        #expect(throws: AuthError(.invalidInput, "")) {
            try self.auth.accounts.requestPasswordReset(email: "not an address", client: self.client, link: self.link)
        }
    }
}

import AuthCore
import Foundation
import MariaDB
import TestSupport
import Testing

/// A password checked against a hash read moments ago: on a Galera node the account may have been written through
/// another node (a reset, a change) and not be applied to this one yet, so a refused password is checked once more
/// against the account read causally when its hash is another. The hook between the refusal and the re-read writes
/// the newer hash here, as that other node's write arriving would.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class StalePasswordReadTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let other: Connection
    let client = ClientContext(ip: "198.51.100.20", userAgent: "tests")

    init() throws {
        fixture = try AuthFixture()
        auth = try fixture.auth()
        other = try Connection(url: fixture.url)
    }

    deinit { other.close() }

    /// The hash of `password`, made by the service for a throwaway account.
    func hash(of password: String) throws -> String {
        let holder = try auth.accounts.createUser(email: "holder-\(UUID().uuidString.prefix(8))@example.com", password: password)
        return try #require(try other.query("SELECT password_hash FROM users WHERE id = ?", [.string(holder.id)]).first).string("password_hash")
    }

    /// Runs `body` with the hook, which sets `user`'s hash to `newer` (nil: changes nothing) and counts its runs.
    func whenRefused<T>(set newer: String?, of user: User, _ body: () throws -> T) throws -> (T, runs: Int) {
        var runs = 0
        let other = other
        auth.accounts.afterPasswordRefusedForTesting = {
            runs += 1
            if let newer { try other.execute("UPDATE users SET password_hash = ? WHERE id = ?", [.string(newer), .string(user.id)]) }
        }
        defer { auth.accounts.afterPasswordRefusedForTesting = nil }
        return (try body(), runs)
    }

    @Test func aSignInWithTheNewPasswordPassesWhenTheFirstReadWasStale() throws {
        let user = try auth.accounts.createUser(email: "ada@example.com", password: "correct horse")
        let newer = try hash(of: "battery staple")
        let (pair, runs) = try whenRefused(set: newer, of: user) {
            try auth.accounts.login(email: "ada@example.com", password: "battery staple", client: client)
        }
        #expect(pair.user.id == user.id && runs == 1)
        #expect(!fixture.logs.all.contains { $0.contains("login_failed") }, "not counted as a failure")
    }

    @Test func aWrongPasswordIsStillRefused() throws {
        let user = try auth.accounts.createUser(email: "bo@example.com", password: "correct horse")
        #expect(throws: AuthError.invalidCredentials) {
            _ = try self.whenRefused(set: nil, of: user) {
                try self.auth.accounts.login(email: "bo@example.com", password: "wrong horse", client: self.client)
            }
        }
        // The old password after a newer one arrived: refused against both.
        let newer = try hash(of: "battery staple")
        #expect(throws: AuthError.invalidCredentials) {
            _ = try self.whenRefused(set: newer, of: user) {
                try self.auth.accounts.login(email: "bo@example.com", password: "wrong horse", client: self.client)
            }
        }
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "bo@example.com", password: "correct horse", client: self.client)
        }
    }

    @Test func theCurrentPasswordOfAChangeIsCheckedAgainstTheNewerHash() throws {
        let user = try auth.accounts.createUser(email: "cy@example.com", password: "correct horse")
        let newer = try hash(of: "battery staple")
        let (_, runs) = try whenRefused(set: newer, of: user) {
            try auth.accounts.changePassword(userID: user.id, current: "battery staple", new: "a third one", keepingSession: nil)
        }
        #expect(runs == 1)
        _ = try auth.accounts.login(email: "cy@example.com", password: "a third one", client: client)
    }

    @Test func aRightPasswordNeedsNoSecondRead() throws {
        let user = try auth.accounts.createUser(email: "di@example.com", password: "correct horse")
        let (pair, runs) = try whenRefused(set: nil, of: user) {
            try auth.accounts.login(email: "di@example.com", password: "correct horse", client: client)
        }
        #expect(pair.user.id == user.id && runs == 0)
    }
}

import AuthCore
import MariaDB
import Synchronization
import TestSupport
import Testing

/// #15 item 4 in the domain: a login that cannot get a hashing place or turn is refused as busy, writes nothing
/// (no place), or gives its throttle reservation back (no turn).
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class LoginFloodTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let client = AuthFixture.client

    init() throws {
        fixture = try AuthFixture(env: ["JWT_THROTTLE_LOGIN_PER_ACCOUNT": "3", "JWT_THROTTLE_LOGIN_PER_IP": "1000"])
        auth = try fixture.auth()
    }

    func failures() throws -> Int { try fixture.count("SELECT CAST(COALESCE(SUM(failures), 0) AS SIGNED) AS n FROM auth_throttle") }

    @Test func aFullQueueRefusesBeforeAnyWrite() throws {
        _ = try auth.accounts.createUser(email: "olga@example.com", password: "correct horse")
        fixture.hasher.queueOpen.withLock { $0 = false }
        let rows = try fixture.count("SELECT COUNT(*) AS n FROM auth_throttle")
        for _ in 0..<10 {
            #expect(throws: AuthError.busy) {
                try self.auth.accounts.login(email: "olga@example.com", password: "correct horse", client: self.client)
            }
            #expect(throws: AuthError.busy) {
                try self.auth.accounts.register(email: "new@example.com", password: "correct horse", name: nil, client: self.client, links: nil)
            }
        }
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM auth_throttle") == rows, "nothing written")
        #expect(fixture.hasher.checks + fixture.hasher.dummies == 0)
        fixture.hasher.queueOpen.withLock { $0 = true }
        _ = try auth.accounts.login(email: "olga@example.com", password: "correct horse", client: client)
        #expect(fixture.hasher.placesTaken.withLock { $0 } == 0, "every place given back")
    }

    @Test func aTurnThatNeverCameDoesNotCountAgainstTheLimits() throws {
        _ = try auth.accounts.createUser(email: "pia@example.com", password: "correct horse")
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "pia@example.com", password: "wrong horse", client: self.client)
        }
        let before = try failures()
        fixture.hasher.turnsRunOut.withLock { $0 = true }
        for email in ["pia@example.com", "nobody@example.com"] {
            for _ in 0..<5 {
                #expect(throws: AuthError.busy) {
                    try self.auth.accounts.login(email: email, password: "correct horse", client: self.client)
                }
            }
        }
        #expect(try failures() == before, "each reservation was given back")
        fixture.hasher.turnsRunOut.withLock { $0 = false }
        // Two more wrong guesses stay within the limit of 3: the busy answers did not use it up.
        #expect(throws: AuthError.invalidCredentials) {
            try self.auth.accounts.login(email: "pia@example.com", password: "wrong horse", client: self.client)
        }
        _ = try auth.accounts.login(email: "pia@example.com", password: "correct horse", client: client)
        #expect(fixture.hasher.placesTaken.withLock { $0 } == 0)
    }

    /// A reservation given back after its window ended (another login from the address started a new window in the
    /// meantime, at 1) must not take the count below 0: `failures` is unsigned, so `failures - 1` at 0 is an error
    /// that would fail a successful login.
    @Test func reservationsGivenBackAcrossAWindowNeverGoBelowZero() throws {
        let home = "203.0.113.77"
        _ = try auth.throttle.reserveLogin(email: "qin@example.com", ip: home)
        fixture.clock.advance(15 * 60 + 1)
        _ = try auth.throttle.reserveLogin(email: "ray@example.com", ip: home)  // a new window for the address, at 1
        try auth.throttle.release(email: "ray@example.com", ip: home)  // 0
        try auth.throttle.release(email: "qin@example.com", ip: home)  // the older reservation: still 0
        try auth.throttle.giveBack(email: "qin@example.com", ip: home)
        #expect(try failures() == 0)
    }
}

import AuthCore
import Foundation
import Logging
import MariaDB
import TestSupport
import Testing

/// #15 item 6, second part: a rotation's database work ends inside nginx's wait, and a rotation whose answer was lost
/// (a COMMIT whose acknowledgement never came back) is not taken for reuse when the client tries again.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class LockWaitTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let client = AuthFixture.client

    init() throws {
        fixture = try AuthFixture(env: ["JWT_REFRESH_GRACE": "10s"])
        auth = try fixture.auth()
    }

    @Test func everyConnectionWaitsForLocksAndStatementsLessThanNginxDoes() throws {
        let connection = try Connection(url: fixture.url)
        let row = try #require(
            try connection.query("SELECT @@innodb_lock_wait_timeout AS lockWait, @@max_statement_time AS statementTime").first)
        #expect(try row.int("lockWait") == 3)
        #expect(try row.double("statementTime") == 5)
        #expect(throws: MariaDBError.invalidURL) { try DatabaseURL(parsing: "mariadb://u@h/db?lock-wait-timeout=0") }
        #expect(try DatabaseURL(parsing: "mariadb://u@h/db?lock-wait-timeout=7&statement-timeout=9").lockWaitTimeoutSeconds == 7)
    }

    @Test func aHeldSessionLockEndsTheRotationWithA503BeforeNginxGivesUp() throws {
        let user = try auth.accounts.createUser(email: "lock@example.com", password: "correct horse")
        let pair = try auth.sessions.startSession(for: user, client: client)
        var url = fixture.url
        url.lockWaitTimeoutSeconds = 1
        let logger = Logger(label: "test", factory: { [logs = fixture.logs] _ in logs })
        let impatient = AuthServices(
            settings: fixture.settings, database: Database(connection: try Connection(url: url), logger: logger),
            hasher: fixture.hasher, clock: fixture.clock, logger: logger)
        let holder = try Connection(url: fixture.url)
        try holder.transaction {
            _ = try holder.query("SELECT id FROM sessions WHERE id = ? FOR UPDATE", [.string(pair.sessionID)])
            let started = ContinuousClock.now
            #expect(throws: AuthError(.databaseUnavailable, "")) {
                try impatient.sessions.refresh(pair.refreshToken, client: self.client)
            }
            let took = ContinuousClock.now - started
            // Retried while the budget lasts (8 s), then given up: far inside nginx's fastcgi_read_timeout (30 s).
            #expect(took >= .seconds(1) && took < .seconds(12), "\(took)")
        }
        // Every attempt rolled back: the same token still rotates, once the lock is gone.
        #expect(try impatient.sessions.refresh(pair.refreshToken, client: client).sessionID == pair.sessionID)
    }

    @Test func aRotationWhoseAnswerWasLostGivesTheCurrentPairOnTheRetry() throws {
        let user = try auth.accounts.createUser(email: "lost@example.com", password: "correct horse")
        let pair = try auth.sessions.startSession(for: user, client: client)
        // The rotation commits, but its answer never reaches the client (a COMMIT whose acknowledgement was lost:
        // the service answered 503, or the connection to the browser broke).
        let lost = try auth.sessions.refresh(pair.refreshToken, client: client)
        fixture.clock.advance(3)
        let retried = try auth.sessions.refresh(pair.refreshToken, client: client)
        #expect(retried.isGraceReplay)
        #expect(try fixture.jti(of: retried.refreshToken) == fixture.jti(of: lost.refreshToken), "the current pair")
        #expect(try auth.sessions.isSessionActive(pair.sessionID), "not taken for reuse")
        _ = try auth.sessions.refresh(retried.refreshToken, client: client)
    }
}

import AuthCore
import Foundation
import MariaDB
import TestSupport
import Testing

/// Deadlocks and a lost connection in the middle of a rotation, between two real connections.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class FaultTests {
    let fixture: AuthFixture
    let auth: AuthServices
    let user: User

    convenience init() throws { try self.init(grace: "10s") }

    init(grace: String) throws {
        fixture = try AuthFixture(env: ["JWT_REFRESH_GRACE": grace])
        auth = try fixture.auth()
        user = try auth.accounts.createUser(email: "faults@example.com", password: "correct horse")
        let scratch = try Connection(url: fixture.url)
        try scratch.executeTrustedSQL("CREATE TABLE scratch (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        try scratch.executeTrustedSQL("INSERT INTO scratch VALUES " + (1...40).map { "(\($0), 0)" }.joined(separator: ","))
        scratch.close()
    }

    /// A real deadlock: inside the rotation (after its conditional update, holding the token row) the hook asks for
    /// scratch row 1, which `other` holds while waiting for the token row. `other` has changed 40 rows, so InnoDB
    /// picks the rotation as the victim (1213). `otherWork` then runs on the token row and commits.
    private func forceDeadlock(token: String, otherWork: @escaping @Sendable (Connection) throws -> Void) throws -> TokenPair {
        let other = try Connection(url: fixture.url)
        let tokenID = try fixture.jti(of: token)
        let otherReady = DispatchSemaphore(value: 0)
        let otherDone = DispatchSemaphore(value: 0)
        var firstAttempt = true
        auth.sessions.afterConditionalUpdateForTesting = { database in
            guard firstAttempt else { return }
            firstAttempt = false
            let box = UncheckedBox(other)
            Thread.detachNewThread {
                let other = box.value
                do {
                    try other.transaction {
                        try other.execute("UPDATE scratch SET v = v + 1")  // 40 rows: the heavier transaction
                        otherReady.signal()
                        try other.execute("UPDATE refresh_tokens SET expires_at = expires_at WHERE id = ?", [.string(tokenID)])
                        try otherWork(other)
                    }
                } catch {
                    Issue.record("the other transaction failed: \(error)")
                }
                otherDone.signal()
            }
            otherReady.wait()
            Thread.sleep(forTimeInterval: 0.2)  // let the other transaction block on the token row
            _ = try database.connection.query("SELECT v FROM scratch WHERE id = 1 FOR UPDATE")  // closes the cycle: 1213 here
        }
        defer {
            auth.sessions.afterConditionalUpdateForTesting = nil
            otherDone.wait()
            other.close()
        }
        return try auth.sessions.refresh(token, client: AuthFixture.client)
    }

    @Test func aRotationThatHitsADeadlockRetriesAndSucceeds() throws {
        let first = try auth.sessions.startSession(for: user, client: AuthFixture.client)
        let pair = try forceDeadlock(token: first.refreshToken) { _ in }
        #expect(!pair.isGraceReplay)
        #expect(fixture.logs.all.contains { $0.contains("transaction_retry") && $0.contains("1213") })
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ?", [.string(first.sessionID)]) == 2)
    }

    /// As on a Galera cluster: our update won locally, then lost to the other party's rotation. The retry finds the
    /// token rotated by them and gets their successor (the grace answer), and the family stays alive — even with
    /// the grace window off.
    @Test(arguments: ["10s", "0s"])
    func aRetryThatFindsTheTokenRotatedByTheOtherPartyGetsTheGraceAnswer(grace: String) throws {
        try FaultTests(grace: grace).retryFindsTokenRotatedByTheOtherParty()
    }

    private func retryFindsTokenRotatedByTheOtherParty() throws {
        let first = try auth.sessions.startSession(for: user, client: AuthFixture.client)
        let tokenID = try fixture.jti(of: first.refreshToken)
        let successor = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
        let now = fixture.clock.now()
        let userID = user.id
        let pair = try forceDeadlock(token: first.refreshToken) { other in
            try other.execute(
                """
                UPDATE refresh_tokens SET revoked_at = ?, rotated_at = ?, replaced_by = ? WHERE id = ?
                """, [.date(now), .date(now), .string(successor), .string(tokenID)])
            try other.execute(
                """
                INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at) VALUES (?, ?, ?, ?, ?)
                """,
                [
                    .string(successor), .string(userID), .string(first.sessionID), .date(now.addingTimeInterval(3600)),
                    .date(now),
                ])
        }
        #expect(pair.isGraceReplay)
        #expect(try fixture.jti(of: pair.refreshToken) == successor)
        #expect(try auth.sessions.isSessionActive(first.sessionID))
    }

    /// What two rotations of one token committing on two nodes would leave (the token still active, a successor
    /// already there): the schema refuses a second successor (unique `replaces`), as a conflict, so the rotation
    /// runs again, never commits, and answers 503 — never two successors.
    @Test func aSecondSuccessorOfOneTokenIsRefusedByTheSchema() throws {
        let first = try auth.sessions.startSession(for: user, client: AuthFixture.client)
        let tokenID = try fixture.jti(of: first.refreshToken)
        let now = fixture.clock.now()
        let other = try Connection(url: fixture.url)
        try other.execute(
            "INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at, replaces) VALUES (?, ?, ?, ?, ?, ?)",
            [
                .string("0190a1b2-c3d4-7e5f-8a6b-000000000001"), .string(user.id), .string(first.sessionID),
                .date(now.addingTimeInterval(3600)), .date(now), .string(tokenID),
            ])
        other.close()
        let error = #expect(throws: AuthError.self) { try self.auth.sessions.refresh(first.refreshToken, client: AuthFixture.client) }
        #expect(error?.code == .databaseUnavailable && error?.internalCause == "second successor of a refresh token")
        #expect(fixture.logs.all.contains { $0.contains("transaction_retry") })
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE replaces = ?", [.string(tokenID)]) == 1)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE id = ? AND rotated_at IS NULL", [.string(tokenID)]) == 1)
    }

    @Test func aConnectionKilledMidRotationLeavesTheOldTokenValidAndNoOrphans() throws {
        let first = try auth.sessions.startSession(for: user, client: AuthFixture.client)
        let killer = try Connection(url: fixture.url)
        auth.sessions.afterConditionalUpdateForTesting = { database in
            try killer.executeTrustedSQL("KILL CONNECTION \(database.connection.serverThreadID ?? 0)")
        }
        // The storage failure leaves AuthCore translated: a domain code for the client, the cause for the log.
        let error = #expect(throws: AuthError.self) { try self.auth.sessions.refresh(first.refreshToken, client: AuthFixture.client) }
        #expect(error?.code == .databaseUnavailable)
        #expect(error?.internalCause?.contains("connection_lost") == true)
        auth.sessions.afterConditionalUpdateForTesting = nil
        killer.close()
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ?", [.string(first.sessionID)]) == 1)
        #expect(
            try fixture.count(
                "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ? AND revoked_at IS NULL AND replaced_by IS NULL",
                [.string(first.sessionID)]) == 1)
        // The user is not logged out by our fault: the same token rotates now.
        let second = try auth.sessions.refresh(first.refreshToken, client: AuthFixture.client)
        #expect(!second.isGraceReplay)
    }
    /// A rotation whose commit did not hold (as a Galera node answered one in the cluster tier): the hook takes the
    /// committed rotation back and lets another request rotate the token first. The read-back finds the other
    /// successor, and the request answers with that pair (it had won its update), never with a token that does not
    /// exist.
    @Test func aRotationWhoseCommitDidNotHoldAnswersWithTheWinnersPair() throws {
        let race = try refreshLosingItsCommit(keepingTheLostSuccessor: false)
        #expect(race.lost != race.winner.refreshTokenID)
        #expect(race.answer.refreshTokenID == race.winner.refreshTokenID && race.answer.isGraceReplay)
        #expect(try fixture.jti(of: race.answer.refreshToken) == race.winner.refreshTokenID)
        #expect(fixture.logs.all.contains { $0.contains("rotation_not_committed") })
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ?", [.string(race.family)]) == 2)
    }

    /// Should the lost rotation's successor row survive (here: left in place, detached from the token it replaced so
    /// that the winner's can be inserted), it is revoked: the family never has two live tokens.
    @Test func aLostRotationsSuccessorNeverStaysLive() throws {
        let race = try refreshLosingItsCommit(keepingTheLostSuccessor: true)
        #expect(race.answer.refreshTokenID == race.winner.refreshTokenID && race.answer.refreshTokenID != race.lost)
        #expect(
            try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = ? AND revoked_at IS NULL", [.string(race.family)])
                == 1)
        #expect(
            try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE id = ? AND revoked_at IS NOT NULL", [.string(race.lost)])
                == 1)
    }

    /// What ``refreshLosingItsCommit(keepingTheLostSuccessor:)`` saw: the family, the successor whose commit was taken
    /// back, the pair of the request that rotated first in its place, and the answer of the refresh under test.
    private struct LostCommit {
        let family: String
        let lost: String
        let winner: TokenPair
        let answer: TokenPair
    }

    /// Refreshes a new session's token with a hook that takes the committed rotation back, as a Galera node that
    /// answered OK to a lost commit would leave it, and lets another request rotate the token first. The lost
    /// successor's row is deleted, or kept and detached from the token it replaced (`keepingTheLostSuccessor`).
    private func refreshLosingItsCommit(keepingTheLostSuccessor: Bool) throws -> LostCommit {
        let first = try auth.sessions.startSession(for: user, client: AuthFixture.client)
        let tokenID = try fixture.jti(of: first.refreshToken)
        let other = try fixture.auth()
        let undo = try Connection(url: fixture.url)
        defer { undo.close() }
        var winner: TokenPair?
        var lost: String?
        auth.sessions.afterRotationCommitForTesting = { _ in
            lost = try undo.query("SELECT id FROM refresh_tokens WHERE replaces = ?", [.string(tokenID)]).first?.string("id")
            try undo.execute(
                keepingTheLostSuccessor
                    ? "UPDATE refresh_tokens SET replaces = NULL WHERE replaces = ?" : "DELETE FROM refresh_tokens WHERE replaces = ?",
                [.string(tokenID)])
            try undo.execute(
                "UPDATE refresh_tokens SET revoked_at = NULL, rotated_at = NULL, replaced_by = NULL WHERE id = ?", [.string(tokenID)])
            winner = try other.sessions.refresh(first.refreshToken, client: AuthFixture.client)
        }
        defer { auth.sessions.afterRotationCommitForTesting = nil }
        let answer = try auth.sessions.refresh(first.refreshToken, client: AuthFixture.client)
        return LostCommit(family: first.sessionID, lost: try #require(lost), winner: try #require(winner), answer: answer)
    }

    /// A read-back that cannot tell (the presented token's row is gone, as after a purge, or the read fails) hands out
    /// the pair whose COMMIT answered OK: refusing it would make the client's retry a reuse.
    @Test func aRotationThatCannotBeReadBackIsAnsweredAsCommitted() throws {
        let first = try auth.sessions.startSession(for: user, client: AuthFixture.client)
        let tokenID = try fixture.jti(of: first.refreshToken)
        let purge = try Connection(url: fixture.url)
        defer { purge.close() }
        auth.sessions.afterRotationCommitForTesting = { _ in
            try purge.execute("DELETE FROM refresh_tokens WHERE id = ?", [.string(tokenID)])
        }
        defer { auth.sessions.afterRotationCommitForTesting = nil }
        let pair = try auth.sessions.refresh(first.refreshToken, client: AuthFixture.client)
        #expect(!pair.isGraceReplay && pair.refreshTokenID != tokenID)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE id = ?", [.string(pair.refreshTokenID)]) == 1)
        #expect(!fixture.logs.all.contains { $0.contains("rotation_not_committed") })
        auth.sessions.afterRotationCommitForTesting = nil
        let next = try auth.sessions.refresh(pair.refreshToken, client: AuthFixture.client)
        #expect(next.refreshTokenID != pair.refreshTokenID)
    }

    /// The read-back of a rotation that held changes nothing: its own pair, no second run.
    @Test func aRotationWhoseCommitHeldIsAnsweredAsItWas() throws {
        let first = try auth.sessions.startSession(for: user, client: AuthFixture.client)
        var checked = false
        auth.sessions.afterRotationCommitForTesting = { _ in checked = true }
        defer { auth.sessions.afterRotationCommitForTesting = nil }
        let pair = try auth.sessions.refresh(first.refreshToken, client: AuthFixture.client)
        #expect(checked && !pair.isGraceReplay)
        #expect(try fixture.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE id = ?", [.string(pair.refreshTokenID)]) == 1)
        #expect(!fixture.logs.all.contains { $0.contains("rotation_not_committed") })
    }
}

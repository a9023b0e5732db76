import CryptoPrimitives
import Foundation
import MariaDB
import TestSupport
import Testing

@testable import AuthCore

/// The hot-path statements, exactly as the service runs them, are index lookups: `EXPLAIN` on a database holding
/// other users' sessions and tokens must show a key for every table and no full scan. (A missing index would not
/// fail any other test: it only makes refresh and me slow, and rotations wait on each other's locks.)
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class QueryPlanTests {
    let fixture: AuthFixture
    let auth: AuthServices

    init() throws {
        fixture = try AuthFixture()
        auth = try fixture.auth()
    }

    /// One row per table the plan reads: (table, type, key, rows, Extra).
    private func plan(_ sql: String, _ values: [DatabaseValue]) throws -> [(table: String, type: String, key: String?, rows: Int64?, extra: String)] {
        let connection = try Connection(url: fixture.url)
        defer { connection.close() }
        return try connection.query("EXPLAIN " + sql, values).map { row in
            (
                try row.optionalString("table") ?? "", try row.optionalString("type") ?? "", try row.optionalString("key"),
                row["rows"].flatMap { if case .int(let n) = $0 { n } else { nil } }, try row.optionalString("Extra") ?? ""
            )
        }
    }

    private func expectIndexed(
        _ name: String, _ sql: String, _ values: [DatabaseValue],
        rows maximum: Int64 = 1
    ) throws {
        let rows = try plan(sql, values)
        #expect(!rows.isEmpty, "\(name): no plan")
        for row in rows {
            #expect(row.type != "ALL" && row.type != "index", "\(name): full scan of \(row.table): \(row)")
            #expect(row.key != nil, "\(name): no key used for \(row.table): \(row)")
            #expect((row.rows ?? 0) <= maximum, "\(name): \(row.rows ?? -1) rows examined in \(row.table)")
        }
    }

    @Test func everyHotPathStatementIsAnIndexLookup() throws {
        // Some company for the rows under test, so that a scan would not be free.
        var pairs: [TokenPair] = []
        for index in 0..<20 {
            let user = try auth.accounts.createUser(email: "plan\(index)@example.com", password: "correct horse")
            pairs.append(try auth.sessions.startSession(for: user, client: AuthFixture.client))
            pairs.append(try auth.sessions.startSession(for: user, client: AuthFixture.client))
        }
        let pair = pairs[17]
        let session = pair.sessionID
        let claims = try auth.tokens.verifyAccessToken(pair.accessToken)
        let tokenID = try fixture.jti(of: pair.refreshToken)
        let now = fixture.clock.now()
        let connection = try Connection(url: fixture.url)
        _ = try connection.query("ANALYZE TABLE users, sessions, refresh_tokens")
        connection.close()

        try expectIndexed("lockSession", HotPathSQL.lockSession, [.string(session)])
        try expectIndexed(
            "retireToken", HotPathSQL.retireToken,
            [
                .date(now), .date(now), .string(Identifier.make(at: now)), .date(now), .string("203.0.113.7"), .null,
                .string(tokenID), .string(session), .date(now),
            ])
        try expectIndexed("loadUser", HotPathSQL.loadUser, [.string(claims.userID)])
        try expectIndexed(
            "activeSessionUser", HotPathSQL.activeSessionUser,
            [.string(session), .string(claims.userID), .date(now), .date(now.addingTimeInterval(-86_400))])
        try expectIndexed(
            "sessionActive", HotPathSQL.sessionActive,
            [.string(session), .date(now), .date(now.addingTimeInterval(-86_400))])

        // A refused login's throttle window: failures of other accounts and addresses on record; the read is one key lookup.
        for index in 0..<20 {
            #expect(throws: AuthError.invalidCredentials) {
                try self.auth.accounts.login(
                    email: "plan\(index)@example.com", password: "wrong horse",
                    client: ClientContext(ip: "198.51.100.\(index)"))
            }
        }
        _ = try Connection(url: fixture.url).query("ANALYZE TABLE auth_throttle")
        let digest = { (scope: String, subject: String) in
            DatabaseValue.bytes(SHA256.hash(Array("\(scope)\u{0}\(subject)".utf8)))
        }
        let throttlePlan = try plan(
            HotPathSQL.throttleWindow, [.string("login_account"), digest("login_account", "plan3@example.com")])
        #expect(throttlePlan.count == 1 && throttlePlan.first?.key == "PRIMARY", "throttleWindow: \(throttlePlan)")
        try expectIndexed(
            "throttleWindow", HotPathSQL.throttleWindow,
            [.string("login_account"), digest("login_account", "plan3@example.com")], rows: 1)
    }
}

@Suite struct IdentifierTests {
    @Test func idsAreVersion7UUIDsInTimeOrder() {
        let start = Date(timeIntervalSince1970: 1_800_000_000.123)
        var previous = ""
        for step in 0..<50 {
            let id = Identifier.make(at: start.addingTimeInterval(Double(step) * 0.002))
            #expect(Identifier.isWellFormed(id), "\(id)")
            let bytes = Array(id.utf8)
            #expect(bytes[14] == UInt8(ascii: "7"), "version nibble of \(id)")
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(bytes[19]), "variant of \(id)")
            #expect(id > previous, "ids made later sort later: \(previous) then \(id)")
            previous = id
        }
        // The first 48 bits are the Unix time in milliseconds.
        let id = Identifier.make(at: Date(timeIntervalSince1970: 1_800_000_000.123))
        #expect(id.replacingOccurrences(of: "-", with: "").hasPrefix(String(1_800_000_000_123, radix: 16).leftPadded(to: 12, with: "0")))
        #expect(Identifier.make(at: start) != Identifier.make(at: start), "74 random bits")
    }

    @Test(arguments: [
        "", "01a2265d-04ac-76fe-9c3f-c5db9df1824", "01A2265D-04AC-76FE-9C3F-C5DB9DF1824A",
        "01a2265d04ac-76fe-9c3f-c5db9df1824a0", "01a2265d-04ac-76fe-9c3f-c5db9df1824g",
        "01a2265d-04ac-76fe-9c3f-c5db9df1824a ", "' OR 1=1 -- aaaaaaaaaaaaaaaaaaaaaaaaa",
    ])
    func malformedIdsAreRefused(text: String) {
        #expect(!Identifier.isWellFormed(text))
    }
}

extension String {
    fileprivate func leftPadded(to length: Int, with pad: Character) -> String {
        count >= length ? self : String(repeating: pad, count: length - count) + self
    }
}

import AuthCore
import FoundationEssentials
import MariaDB
import TestSupport
import Testing

@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class MigratorTests {
    let url: DatabaseURL
    let connection: Connection

    init() throws {
        url = try TestDatabase.create(prefix: "migrate")
        connection = try Connection(url: url)
    }

    deinit {
        connection.close()
        TestDatabase.drop(url)
    }

    @Test func version2GivesPreexistingFamiliesASession() throws {
        let v1 = Migrator(connection: connection, migrations: Array(Migration.all.prefix(1)))
        try v1.migrate()
        let now = Date()
        try connection.execute(
            "INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, 'user', ?, ?)",
            [.string("11111111-1111-1111-1111-111111111111"), .string("old@example.com"), .date(now), .date(now)])
        try connection.execute(
            """
            INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at) VALUES (?, ?, ?, ?, ?)
            """,
            [
                .string("22222222-2222-2222-2222-222222222222"), .string("11111111-1111-1111-1111-111111111111"),
                .string("33333333-3333-3333-3333-333333333333"), .date(now.addingTimeInterval(600)), .date(now),
            ])
        #expect(try Migrator(connection: connection).migrate() == Array(Migration.all.map(\.version).dropFirst()))
        let session = try #require(
            try connection.query(
                "SELECT user_id, revoked_at FROM sessions WHERE id = ?",
                [.string("33333333-3333-3333-3333-333333333333")]
            ).first)
        #expect(try session.string("user_id") == "11111111-1111-1111-1111-111111111111")
        #expect(try session.optionalDate("revoked_at") == nil)
    }

    @Test func version3RewritesEmailsToTheirOneSpellingAndReportsWhatItCannot() throws {
        try Migrator(connection: connection, migrations: Array(Migration.all.prefix(2))).migrate()
        let now = Date()
        func insert(_ id: Int, _ email: String) throws {
            try connection.execute(
                "INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, 'user', ?, ?)",
                [.string(Self.id(id)), .string(email), .date(now), .date(now)])
        }
        try insert(1, "JOHN@Example.com")
        try insert(2, "\u{1D426}ary@example.com")  // a mathematical bold m: the old comparison kept it apart from m
        try insert(3, "mary@example.com")
        try insert(4, "jo\u{AD}e@example.com")
        let lines = ReportLines()
        try Migrator(connection: connection, report: { lines.all.append($0) }).migrate()
        func email(_ id: Int) throws -> String? {
            try connection.query("SELECT email FROM users WHERE id = ?", [.string(Self.id(id))]).first?.string("email")
        }
        #expect(try email(1) == "john@example.com")
        #expect(try email(2) == "\u{1D426}ary@example.com" && email(3) == "mary@example.com")
        #expect(lines.all.contains { $0.contains(Self.id(2)) && $0.contains("same address as account \(Self.id(3))") })
        #expect(lines.all.contains { $0.contains(Self.id(4)) && $0.contains("characters an address may no longer have") })
        #expect(lines.all.count == 2, "\(lines.all)")
        // Byte for byte now: another case or accent is another address.
        #expect(try connection.query("SELECT id FROM users WHERE email = 'JOHN@example.com'").isEmpty)
        try insert(5, "eva@example.com")
        try insert(6, "éva@example.com")
        // Re-runnable: nothing changes the second time; the two Evas are reported as sharing one login limit.
        let rows = try #require(Migration.all.first { $0.version == 3 }?.rows)
        let again = try rows(connection)
        #expect(try email(1) == "john@example.com")
        #expect(again.contains { $0.contains(Self.id(5)) && $0.contains(Self.id(6)) && $0.contains("share one login limit") })
    }

    static func id(_ n: Int) -> String { "00000000-0000-0000-0000-\(String(repeating: "0", count: 12 - String(n).count))\(n)" }

    @Test func appliesOnceAndIsIdempotent() throws {
        let migrator = Migrator(connection: connection)
        #expect(try migrator.migrate() == Migration.all.map(\.version))
        #expect(try migrator.migrate() == [])
        #expect(try migrator.appliedVersions() == Migration.all.map(\.version))
    }

    /// Every host may run `migrate` on deploy: several runs at once apply each version once, and all succeed.
    @Test func concurrentRunsApplyEachVersionOnce() throws {
        let urls = UncheckedBox(url)
        let results = onThreads(4) { _ -> [Int]? in
            guard let connection = try? Connection(url: urls.value) else { return nil }
            defer { connection.close() }
            return try? Migrator(connection: connection).migrate()
        }
        #expect(results.allSatisfy { $0 != nil }, "every run succeeds")
        #expect(results.compactMap { $0 }.flatMap { $0 }.sorted() == Migration.all.map(\.version))
        #expect(try connection.query("SELECT COUNT(*) AS n FROM leases").first?.int("n") == 0, "the lease is given back")
    }

    /// Fit for Galera's row-based replication: every table has a primary key and is InnoDB (#19).
    @Test func everyTableHasAPrimaryKeyAndIsInnoDB() throws {
        try Migrator(connection: connection).migrate()
        let tables = try connection.query(
            "SELECT TABLE_NAME AS name, ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        ).map { (try $0.string("name"), try $0.optionalString("engine")) }
        #expect(tables.count >= 12)
        for (table, engine) in tables { #expect(engine == "InnoDB", "\(table)") }
        let withoutKey = try connection.query(
            """
            SELECT t.TABLE_NAME AS name FROM information_schema.TABLES t
            LEFT JOIN information_schema.TABLE_CONSTRAINTS c
                ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY'
            WHERE t.TABLE_SCHEMA = DATABASE() AND c.CONSTRAINT_NAME IS NULL
            """
        ).map { try $0.string("name") }
        #expect(withoutKey == [], "tables without a primary key")
    }

    /// The lease: one holder at a time; its owner renews it; it can be taken once expired; only its owner releases it.
    @Test func aLeaseHasOneHolderUntilItExpires() throws {
        try Migrator(connection: connection).migrate()
        let now = Date()
        let first = Lease(name: "job", duration: 60, owner: "a")
        let second = Lease(name: "job", duration: 60, owner: "b")
        #expect(try first.take(on: connection, now: now))
        #expect(try !second.take(on: connection, now: now.addingTimeInterval(30)))
        #expect(try first.take(on: connection, now: now.addingTimeInterval(50)), "the owner renews")
        #expect(try !second.take(on: connection, now: now.addingTimeInterval(100)), "renewed until 110 s")
        try second.release(on: connection)
        #expect(try !second.take(on: connection, now: now.addingTimeInterval(100)), "another's release does nothing")
        #expect(try second.take(on: connection, now: now.addingTimeInterval(111)), "expired: taken over")
        #expect(try !first.take(on: connection, now: now.addingTimeInterval(112)))
        try second.release(on: connection)
        #expect(try first.take(on: connection, now: now.addingTimeInterval(113)))
    }

    @Test func createsTheSeedSchemaWithCascadeDelete() throws {
        try Migrator(connection: connection).migrate()
        let indexes = try connection.query(
            """
            SELECT INDEX_NAME AS name FROM information_schema.STATISTICS
            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'refresh_tokens' ORDER BY INDEX_NAME
            """
        ).map { try $0.string("name") }
        #expect(
            Set(indexes).isSuperset(of: [
                "refresh_tokens_user_id_idx", "refresh_tokens_family_idx",
                "refresh_tokens_expires_at_idx", "PRIMARY",
            ]))
        let engines = try connection.query(
            """
            SELECT TABLE_NAME AS t, ENGINE AS e, TABLE_COLLATION AS c FROM information_schema.TABLES
            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('users', 'refresh_tokens')
            """)
        #expect(engines.count == 2)
        for row in engines {
            #expect(try row.string("e") == "InnoDB")
            #expect(try row.string("c").hasPrefix("utf8mb4"))
        }
        let now = Date()
        try connection.execute(
            """
            INSERT INTO users (id, email, password_hash, name, role, created_at, updated_at)
            VALUES (?, ?, NULL, ?, 'user', ?, ?)
            """,
            [
                .string("11111111-1111-1111-1111-111111111111"), .string("a@example.com"), .string("Ä 🔐"),
                .date(now), .date(now),
            ])
        try connection.execute(
            """
            INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?)
            """,
            [
                .string("33333333-3333-3333-3333-333333333333"), .string("11111111-1111-1111-1111-111111111111"),
                .date(now), .date(now), .date(now.addingTimeInterval(3600)),
            ])
        try connection.execute(
            """
            INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at) VALUES (?, ?, ?, ?, ?)
            """,
            [
                .string("22222222-2222-2222-2222-222222222222"), .string("11111111-1111-1111-1111-111111111111"),
                .string("33333333-3333-3333-3333-333333333333"), .date(now.addingTimeInterval(60)), .date(now),
            ])
        // A token must belong to a session (its family).
        #expect(throws: MariaDBError.foreignKey) {
            try connection.execute(
                """
                INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at) VALUES (?, ?, ?, ?, ?)
                """,
                [
                    .string("66666666-6666-6666-6666-666666666666"), .string("11111111-1111-1111-1111-111111111111"),
                    .string("77777777-7777-7777-7777-777777777777"), .date(now), .date(now),
                ])
        }
        #expect(throws: MariaDBError.duplicateKey) {
            try connection.execute(
                """
                INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, 'user', ?, ?)
                """, [.string("44444444-4444-4444-4444-444444444444"), .string("a@example.com"), .date(now), .date(now)])
        }
        #expect(throws: MariaDBError.foreignKey) {
            try connection.execute(
                """
                INSERT INTO refresh_tokens (id, user_id, family, expires_at, created_at) VALUES (?, ?, ?, ?, ?)
                """,
                [
                    .string("55555555-5555-5555-5555-555555555555"), .string("no-such-user"),
                    .string("f"), .date(now), .date(now),
                ])
        }
        try connection.execute("DELETE FROM users WHERE id = ?", [.string("11111111-1111-1111-1111-111111111111")])
        #expect(try connection.query("SELECT id FROM refresh_tokens").isEmpty)
        #expect(try connection.query("SELECT id FROM sessions").isEmpty)
    }
}

/// What a migration reported.
private final class ReportLines {
    var all: [String] = []
}

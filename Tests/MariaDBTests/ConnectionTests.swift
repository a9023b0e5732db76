import Foundation
import MariaDB
import TestSupport
import Testing

/// Integration tests against the real MariaDB the test command started (one database for this suite).
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class ConnectionTests {
    let url: DatabaseURL
    let connection: Connection

    init() throws {
        url = try TestDatabase.create(prefix: "conn")
        connection = try Connection(url: url)
        try connection.executeTrustedSQL(
            """
            CREATE TABLE IF NOT EXISTS kv (
                id INT NOT NULL PRIMARY KEY,
                s VARCHAR(200) NULL, b LONGBLOB NULL, i BIGINT NULL, d DOUBLE NULL, f TINYINT(1) NULL,
                t DATETIME(6) NULL, txt TEXT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """)
    }

    deinit {
        connection.close()
        TestDatabase.drop(url)
    }

    @Test func everyBindTypeRoundTrips() throws {
        let blob = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let when = Date(timeIntervalSince1970: 1_764_000_000.123456)
        let cases: [(Int64, DatabaseValue, DatabaseValue, DatabaseValue, DatabaseValue, DatabaseValue, DatabaseValue)] = [
            (1, .string("plain"), .bytes([0, 1, 0, 255]), .int(Int64.max), .double(3.5), .bool(true), .date(when)),
            (
                2, .string("emoji 🔐 and ünïcode \u{0}zero"), .bytes(blob), .int(Int64.min), .double(-0.25), .bool(false),
                .date(Date(timeIntervalSince1970: 0))
            ),
            (3, .null, .null, .null, .null, .null, .null),
            (4, .string(""), .bytes([]), .int(0), .double(0), .bool(false), .date(Date(timeIntervalSince1970: 4_102_444_800.000001))),
        ]
        for (id, s, b, i, d, f, t) in cases {
            try connection.execute(
                "INSERT INTO kv (id, s, b, i, d, f, t) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [.int(id), s, b, i, d, f, t])
            let rows = try connection.query("SELECT s, b, i, d, f, t FROM kv WHERE id = ?", [.int(id)])
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row["s"] == s)
            #expect(row["b"] == b)
            #expect(row["i"] == i)
            #expect(row["d"] == d)
            if case .bool(let flag) = f { #expect(try row.bool("f") == flag) } else { #expect(row["f"] == .null) }
            if case .date(let expected) = t {
                let got = try row.date("t")
                #expect(abs(got.timeIntervalSince1970 - expected.timeIntervalSince1970) < 0.000001)
            } else {
                #expect(try row.optionalDate("t") == nil)
            }
        }
    }

    @Test func typedAccessorsReportMismatchesAndMissingColumns() throws {
        try connection.execute("INSERT INTO kv (id, s) VALUES (10, 'x')")
        let row = try #require(try connection.query("SELECT id, s FROM kv WHERE id = 10").first)
        #expect(try row.int("id") == 10)
        #expect(throws: MariaDBError.typeMismatch) { try row.int("s") }
        #expect(throws: MariaDBError.missingColumn) { try row.string("nope") }
    }

    @Test func duplicateKeyHasItsNamedError() throws {
        try connection.execute("INSERT INTO kv (id) VALUES (20)")
        do {
            try connection.execute("INSERT INTO kv (id) VALUES (20)")
            Issue.record("a duplicate insert succeeded")
        } catch {
            #expect(error == .duplicateKey)
            #expect(error.errno == 1062)
            #expect(error.sqlState == "23000")
        }
    }

    /// #19: with several servers, a connection takes the first that serves; when none does, the error names each.
    /// (A standalone server always serves; a Galera node must be synced: the cluster tier checks that part.)
    @Test func severalServersAreTriedInOrder() throws {
        var unreachable = try DatabaseURL(parsing: "mariadb://u@127.0.0.1:1,127.0.0.1:2/db?connect-timeout=1")
        unreachable.password = nil
        do {
            _ = try Connection(url: unreachable)
            Issue.record("connected to nothing")
        } catch {
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("127.0.0.1:1") && error.message.contains("127.0.0.1:2"), "\(error.message)")
        }
        // The test server is standalone: it serves, and the connection reports it; a single-server URL names no node.
        let connection = try Connection(url: url)
        #expect(connection.endpoint == url.endpoints.first)
        #expect(try connection.servingProblem() == nil)
        connection.close()
        #expect(connection.endpoint == nil)
    }

    @Test func wrongNumberOfBindsIsMisuse() {
        #expect(throws: MariaDBError.misuse) { try connection.query("SELECT ? AS a", []) }
    }

    @Test func aThrownErrorRollsTheTransactionBack() throws {
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try connection.transaction {
                try connection.execute("INSERT INTO kv (id, s) VALUES (30, 'half')")
                throw Boom()
            }
        }
        #expect(try connection.query("SELECT id FROM kv WHERE id = 30").isEmpty)
        // The connection is usable afterwards and a successful transaction commits.
        try connection.transaction { try connection.execute("INSERT INTO kv (id) VALUES (31)") }
        #expect(try connection.query("SELECT id FROM kv WHERE id = 31").count == 1)
    }

    @Test func transactionsDoNotNest() throws {
        #expect(throws: MariaDBError.misuse) {
            try connection.transaction { try connection.transaction { () } }
        }
    }

    @Test func oppositeLockOrderRaisesTheNamedDeadlock() throws {
        try connection.execute("INSERT INTO kv (id, i) VALUES (40, 0), (41, 0)")
        let second = try Connection(url: url)
        let firstLocked = DispatchSemaphore(value: 0)
        let secondLocked = DispatchSemaphore(value: 0)
        let results = ResultBox()
        let group = DispatchGroup()
        let pairs: [(Connection, Int64, Int64, DispatchSemaphore, DispatchSemaphore)] = [
            (connection, 40, 41, firstLocked, secondLocked), (second, 41, 40, secondLocked, firstLocked),
        ]
        for (conn, a, b, mine, theirs) in pairs {
            let box = UncheckedBox((conn, a, b, mine, theirs))
            DispatchQueue.global().async(group: group) {
                let (conn, a, b, mine, theirs) = box.value
                do {
                    try conn.transaction {
                        try conn.execute("UPDATE kv SET i = i + 1 WHERE id = ?", [.int(a)])
                        mine.signal()
                        theirs.wait()
                        try conn.execute("UPDATE kv SET i = i + 1 WHERE id = ?", [.int(b)])
                    }
                    results.append(nil)
                } catch let error as MariaDBError {
                    results.append(error)
                } catch {
                    results.append(MariaDBError(code: .server, message: "\(error)"))
                }
            }
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        let outcomes = results.values
        #expect(outcomes.count == 2)
        #expect(outcomes.filter { $0 == nil }.count == 1)
        #expect(outcomes.compactMap { $0 }.map(\.code) == [.deadlock])
        #expect(outcomes.compactMap { $0 }.first?.errno == 1213)
        #expect(outcomes.compactMap { $0 }.first?.isTransient == true)
        second.close()
    }

    @Test func aKilledConnectionIsReopenedForTheNextRead() throws {
        let victim = try Connection(url: url)
        let threadID = try #require(victim.serverThreadID)
        #expect(try victim.query("SELECT 1 AS one").first?.int("one") == 1)
        try connection.executeTrustedSQL("KILL CONNECTION \(threadID)")
        // The cached statement's connection is gone: the read reconnects once and succeeds.
        #expect(try victim.query("SELECT 2 AS two").first?.int("two") == 2)
        #expect(victim.serverThreadID != threadID)
        victim.close()
    }

    @Test func aLostConnectionInsideATransactionIsNotRetried() throws {
        let victim = try Connection(url: url)
        let threadID = try #require(victim.serverThreadID)
        do {
            try victim.transaction {
                try victim.execute("INSERT INTO kv (id) VALUES (50)")
                try connection.executeTrustedSQL("KILL CONNECTION \(threadID)")
                try victim.execute("INSERT INTO kv (id) VALUES (51)")
            }
            Issue.record("the transaction survived a killed connection")
        } catch let error as MariaDBError {
            #expect(error == .connectionLost)
        }
        // Nothing half-written: the killed transaction's first insert was rolled back by the server.
        #expect(try connection.query("SELECT id FROM kv WHERE id IN (50, 51)").isEmpty)
        // And the connection works again afterwards.
        #expect(try victim.query("SELECT 3 AS three").first?.int("three") == 3)
        victim.close()
    }

    @Test func connectingToNothingFailsWithTheNamedError() throws {
        let nowhere = try DatabaseURL(parsing: "mariadb://root@localhost/x?socket=/nonexistent/mysqld.sock")
        #expect(throws: MariaDBError.connectionFailed) { try Connection(url: nowhere) }
        let lazy = Connection(unconnectedTo: nowhere)
        #expect(!lazy.isOpen)
        #expect(throws: MariaDBError.connectionFailed) { try lazy.ping() }
    }
}

/// The server restarted mid-run: the next call reconnects. Uses a private server (destructive tier).
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
struct ReconnectAfterRestartTests {
    @Test func theNextCallAfterARestartReconnects() throws {
        let server = try MariaDBServer()
        let url = try TestDatabase.create(onSocket: server.socket, prefix: "restart")
        let connection = try Connection(url: url)
        try connection.executeTrustedSQL("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        try connection.execute("INSERT INTO t (id) VALUES (1)")
        #expect(try connection.query("SELECT COUNT(*) AS n FROM t").first?.int("n") == 1)
        server.stop()
        #expect(throws: MariaDBError.self) { try connection.query("SELECT COUNT(*) AS n FROM t") }
        try server.start()
        #expect(try connection.query("SELECT COUNT(*) AS n FROM t").first?.int("n") == 1)
        try connection.ping()
        connection.close()
    }
}

/// Collects results from several threads.
final class ResultBox: @unchecked Sendable {
    // @unchecked Sendable: every access holds the lock.
    private let lock = NSLock()
    private var stored: [MariaDBError?] = []
    func append(_ value: MariaDBError?) { lock.withLock { stored.append(value) } }
    var values: [MariaDBError?] { lock.withLock { stored } }
}

/// Moves a non-Sendable value to one other thread that alone uses it afterwards.
struct UncheckedBox<T>: @unchecked Sendable {
    // @unchecked Sendable: the test hands the value to exactly one thread and does not touch it meanwhile.
    let value: T
    init(_ value: T) { self.value = value }
}

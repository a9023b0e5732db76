import Foundation
import Logging
import MariaDB
import TestSupport
import Testing

@testable import AuthCore

/// #19: a write outside a transaction that hits a conflict (here a lock wait timeout, 1205, as a Galera certification
/// failure is 1213) is run again when nothing of its call had taken effect, and never when something had.
@Suite(.serialized, .enabled(if: TestDatabase.isEnabled))
final class AutocommitRetryTests {
    let url: DatabaseURL
    let logs = LogCapture()

    init() throws {
        url = try TestDatabase.create(prefix: "autocommit")
        let setup = try Connection(url: url)
        try setup.executeTrustedSQL("CREATE TABLE scratch (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        try setup.executeTrustedSQL("INSERT INTO scratch VALUES (1, 0), (2, 0)")
        setup.close()
    }

    deinit { TestDatabase.drop(url) }

    /// Holds row `id` locked for `seconds` on another connection.
    func holdRow(_ id: Int, for seconds: Double) throws -> Thread {
        let holder = try Connection(url: url)
        try holder.executeTrustedSQL("BEGIN")
        try holder.execute("UPDATE scratch SET v = v + 100 WHERE id = ?", [.int(Int64(id))])
        let box = UncheckedBox(holder)
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            try? box.value.executeTrustedSQL("ROLLBACK")
            box.value.close()
        }
        thread.start()
        return thread
    }

    func database() throws -> Database {
        var fast = url
        fast.lockWaitTimeoutSeconds = 1
        return Database(connection: try Connection(url: fast), logger: Logger(label: "test", factory: { [logs] _ in logs }))
    }

    func value(_ id: Int) throws -> Int64 {
        let connection = try Connection(url: url)
        defer { connection.close() }
        return try connection.query("SELECT v FROM scratch WHERE id = ?", [.int(Int64(id))]).first?.int("v") ?? -1
    }

    @Test func aFirstWriteThatConflictsRunsAgainAndCountsOnce() throws {
        let database = try database()
        _ = try holdRow(1, for: 1.5)
        try database.run { connection throws(MariaDBError) in
            _ = try connection.query("SELECT v FROM scratch WHERE id = 1")
            try connection.execute("UPDATE scratch SET v = v + 1 WHERE id = 1")
        }
        #expect(try value(1) == 1, "applied once")
        #expect(logs.all.contains { $0.contains("transaction_retry") && $0.contains("1205") })
    }

    @Test func aLaterWriteThatConflictsIsNotRunAgain() throws {
        let database = try database()
        _ = try holdRow(2, for: 3)
        #expect(throws: AuthError.self) {
            try database.run { connection throws(MariaDBError) in
                try connection.execute("UPDATE scratch SET v = v + 1 WHERE id = 1")
                try connection.execute("UPDATE scratch SET v = v + 1 WHERE id = 2")
            }
        }
        #expect(try value(1) == 1, "the first write committed once, and was not repeated")
        #expect(!logs.all.contains { $0.contains("transaction_retry") })
    }
}

package import FoundationEssentials
import MariaDB

/// The `auth_throttle` table: failure counts in fixed windows, per scope and subject digest. Owns every statement
/// on that table.
package struct ThrottleStore {
    let database: Database

    /// One subject's count in its window.
    package struct Count {
        package let scope: String
        package let windowStart: Date
        package let failures: Int64

    }

    /// One more attempt in the current window; a window that started at or before the cutoff (bound twice, last)
    /// starts again at 1. In an UPDATE list MariaDB assigns left to right: failures is computed from the old
    /// window_start first.
    private static let countAttempt = """
        ON DUPLICATE KEY UPDATE
            failures = IF(window_start <= ?, 1, failures + 1),
            window_start = IF(window_start <= ?, VALUES(window_start), window_start)
        """

    /// One attempt given back, never below 0. The column is unsigned: `failures - 1` at 0 is an error (1690), not -1,
    /// and a count can be 0 when a reservation is given back after a newer window started.
    private static let oneLess = "IF(failures > 0, failures - 1, 0)"

    /// The count of one subject, if any.
    package func count(scope: String, key: [UInt8]) throws(AuthError) -> Count? {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                "SELECT scope, window_start, failures FROM auth_throttle WHERE scope = ? AND subject = ?",
                [.string(scope), .bytes(key)]
            ).first.map(Self.count(from:))
        }
    }

    /// Counts one failure in the current window; a window that started at or before `windowCutoff` starts again at 1.
    package func record(scope: String, key: [UInt8], now: Date, windowCutoff: Date) throws(AuthError) {
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "INSERT INTO auth_throttle (scope, subject, window_start, failures) VALUES (?, ?, ?, 1) \(Self.countAttempt)",
                [.string(scope), .bytes(key), .date(now), .date(windowCutoff), .date(windowCutoff)])
        }
    }

    /// What one count is kept for: a scope and the digest of its subject.
    package typealias Subject = (scope: String, key: [UInt8])

    /// `(scope = ? AND subject = ?)` for each subject, joined by OR, and the values bound to it.
    private static func matching(_ subjects: [Subject]) -> (sql: String, values: [DatabaseValue]) {
        (
            Array(repeating: "(scope = ? AND subject = ?)", count: subjects.count).joined(separator: " OR "),
            subjects.flatMap { [DatabaseValue.string($0.scope), .bytes($0.key)] }
        )
    }

    /// Counts an attempt for one or two subjects at once and reads their counts back, in one transaction: the upsert
    /// locks the rows, so the counts read are this attempt's own (concurrent attempts queue behind the lock), whatever
    /// runs at the same time. A window that started at or before `windowCutoff` starts again at 1.
    package func reserve(_ subjects: [Subject], now: Date, windowCutoff: Date) throws(AuthError) -> [Count] {
        precondition(!subjects.isEmpty, "a reservation counts at least one subject")
        let rows = Array(repeating: "(?, ?, ?, 1)", count: subjects.count).joined(separator: ", ")
        let insert = subjects.flatMap { [DatabaseValue.string($0.scope), .bytes($0.key), .date(now)] }
        // Two subjects: the hot path's statement, whose plan QueryPlanTests checks (two primary-key lookups).
        let read = subjects.count == 2 ? (HotPathSQL.loginThrottles, Self.matching(subjects).values) : Self.readBack(subjects)
        // Re-run safe: a rolled-back upsert counted nothing, so the attempt that commits counts this one once.
        return try database.transaction { _ throws(AuthError) in
            try database.run { connection throws(MariaDBError) in
                try connection.execute(
                    "INSERT INTO auth_throttle (scope, subject, window_start, failures) VALUES \(rows) \(Self.countAttempt)",
                    insert + [.date(windowCutoff), .date(windowCutoff)])
                return try connection.query(read.0, read.1).map(Self.count(from:))
            }
        }
    }

    private static func readBack(_ subjects: [Subject]) -> (String, [DatabaseValue]) {
        let match = matching(subjects)
        return ("SELECT scope, window_start, failures FROM auth_throttle WHERE \(match.sql)", match.values)
    }

    /// After a login that succeeded, in one statement: the first subject's count is forgotten (set to 0; the
    /// cleanup deletes the row with its window) and the others get their attempt back (one less, never below 0).
    package func forgetAndGiveBack(forget first: Subject, giveBack others: [Subject]) throws(AuthError) {
        let match = Self.matching([first] + others)
        try database.run { connection throws(MariaDBError) in
            try connection.execute(
                "UPDATE auth_throttle SET failures = IF(scope = ?, 0, \(Self.oneLess)) WHERE \(match.sql)",
                [.string(first.scope)] + match.values)
        }
    }

    /// Gives the reservations back (an attempt that was refused before anything was checked).
    package func giveBack(_ subjects: [Subject]) throws(AuthError) {
        let match = Self.matching(subjects)
        try database.run { connection throws(MariaDBError) in
            try connection.execute("UPDATE auth_throttle SET failures = \(Self.oneLess) WHERE \(match.sql)", match.values)
        }
    }

    private static func count(from row: Row) throws(MariaDBError) -> Count {
        Count(scope: try row.string("scope"), windowStart: try row.date("window_start"), failures: try row.int("failures"))
    }
}

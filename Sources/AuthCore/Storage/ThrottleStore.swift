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

    /// Counts one attempt of a subject in its current window, in one statement: a window that started at or before
    /// the cutoff (bound twice, last) starts again at 1. In an UPDATE list MariaDB assigns left to right: failures
    /// is computed from the old window_start first. `LAST_INSERT_ID(expr)` hands the count this statement set back
    /// to this connection alone (`mysql_stmt_insert_id`): the attempt's own place, whatever runs at the same time.
    private static let countAttempt = """
        INSERT INTO auth_throttle (scope, subject, window_start, failures) VALUES (?, ?, ?, LAST_INSERT_ID(1))
        ON DUPLICATE KEY UPDATE
            failures = LAST_INSERT_ID(IF(window_start <= ?, 1, failures + 1)),
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
        _ = try countAttempt((scope, key), now: now, windowCutoff: windowCutoff)
    }

    /// One attempt counted for `subject`; its place in the window.
    ///
    /// Re-run safe: one statement that commits on its own (autocommit), so a conflict (1213) or lock wait timeout
    /// means it counted nothing and ``Database/run(_:)`` runs it again; a Galera node runs the re-run causally, after
    /// the write that won.
    private func countAttempt(_ subject: Subject, now: Date, windowCutoff: Date) throws(AuthError) -> Int64 {
        try database.run { connection throws(MariaDBError) in
            Int64(
                try connection.execute(
                    Self.countAttempt,
                    [.string(subject.scope), .bytes(subject.key), .date(now), .date(windowCutoff), .date(windowCutoff)]
                ).lastInsertID)
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

    /// An attempt's place in its subject's window: it is attempt number `place` of the window.
    package struct Place {
        package let scope: String
        package let key: [UInt8]
        package let place: Int64
    }

    /// Counts an attempt for each subject and tells its place in each window. Each count is a statement of its own
    /// that commits at once and gives back the count it set, so concurrent attempts get distinct places (the one
    /// that reaches a limit first is refused, the rest after it too) and nobody waits on a row lock held over a
    /// round trip: on a multi-writer Galera cluster, where every node counts the same client address at once, a
    /// statement is the shortest a conflict window can be, and a transaction holding the row over a read-back
    /// conflicted far more often (and ran out of re-runs). Subjects are counted in order; a failure after the
    /// first was counted leaves that count (an attempt that answered an error counted on one subject, never less).
    package func reserve(_ subjects: [Subject], now: Date, windowCutoff: Date) throws(AuthError) -> [Place] {
        precondition(!subjects.isEmpty, "a reservation counts at least one subject")
        var places: [Place] = []
        places.reserveCapacity(subjects.count)
        for subject in subjects {
            let place = try countAttempt(subject, now: now, windowCutoff: windowCutoff)
            places.append(Place(scope: subject.scope, key: subject.key, place: place))
        }
        return places
    }

    /// When a subject's window started (`nil`: no count), for the wait of an attempt that is over the limit.
    package func windowStart(of subject: Subject) throws(AuthError) -> Date? {
        try database.run { connection throws(MariaDBError) in
            try connection.query(
                HotPathSQL.throttleWindow, [.string(subject.scope), .bytes(subject.key)]
            ).first.map { row throws(MariaDBError) in try row.date("window_start") }
        }
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

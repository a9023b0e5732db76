import FoundationEssentials
import Glibc
public import Logging
public import MariaDB

/// Applies ``Migration/all`` in order and records each in `schema_migrations`.
///
/// Idempotent: applied versions are skipped. Two `migrate` runs at once are serialised by a lease (a row of
/// `leases`, not a named lock: those are per server on a Galera cluster), so every host can run it on deploy, on one
/// server or a multi-writer cluster.
public struct Migrator {
    private let connection: Connection
    private let migrations: [Migration]
    private let logger: Logger
    private let report: (String) -> Void

    /// - Parameter report: Receives each line a migration's row work reports (accounts to look at).
    public init(
        connection: Connection, migrations: [Migration] = Migration.all,
        logger: Logger = Logger(label: "jwt-authd.migrate", factory: { _ in SwiftLogNoOpLogHandler() }),
        report: @escaping (String) -> Void = { _ in }
    ) {
        self.connection = connection
        self.migrations = migrations
        self.logger = logger
        self.report = report
    }

    /// Versions already recorded.
    ///
    /// - Throws: ``MariaDBError``.
    public func appliedVersions() throws(MariaDBError) -> [Int] {
        try createLedger()
        return try connection.query("SELECT version FROM schema_migrations ORDER BY version").map { row throws(MariaDBError) in
            Int(try row.int("version"))
        }
    }

    /// Applies what is missing.
    ///
    /// - Returns: The versions applied by this call (empty when the schema was current).
    /// - Throws: ``MariaDBError``; a failed migration is not recorded, and the next run tries it again.
    @discardableResult
    public func migrate() throws -> [Int] {
        try createLedger()
        let lease = Lease(name: "migrate", duration: Self.leaseDuration)
        try waitFor(lease)
        defer { try? lease.release(on: connection) }
        let applied = Set(try appliedVersions())
        var done: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
            // Renewed before each migration: a long run keeps it, a crashed one frees it within the duration.
            guard try lease.take(on: connection, now: Date()) else {
                throw MariaDBError(code: .lockWaitTimeout, message: "the migration lease was lost (a step took over \(Int(Self.leaseDuration)) s)")
            }
            logger.info(
                "applying migration",
                metadata: [
                    "migration.version": "\(migration.version)",
                    "migration.name": "\(migration.name)",
                ])
            for statement in migration.statements {
                try connection.executeTrustedSQL(statement)
            }
            for line in try migration.rows?(connection) ?? [] { report(line) }
            try connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))",
                [.int(Int64(migration.version)), .string(migration.name)])
            done.append(migration.version)
        }
        return done
    }

    /// How long the migration lease holds without renewal (each migration renews it).
    static let leaseDuration: TimeInterval = 120
    /// How long a run waits for another host's.
    static let leaseWait: Duration = .seconds(60)

    /// Takes the migration lease, waiting while another run holds it (concurrent takes on a cluster may conflict:
    /// each is simply tried again).
    private func waitFor(_ lease: Lease) throws {
        let deadline = ContinuousClock.now + Self.leaseWait
        while true {
            do {
                if try lease.take(on: connection, now: Date()) { return }
            } catch  where error.isTransient {
                // Another node took or renewed it in the same instant: look again.
            }
            guard ContinuousClock.now < deadline else {
                throw MariaDBError(code: .lockWaitTimeout, message: "another migrate run has held the migration lease for over 60 s")
            }
            usleep(UInt32.random(in: 100_000...300_000))
        }
    }

    private func createLedger() throws(MariaDBError) {
        // Only when missing: a runtime account without DDL rights can still run `migrate` on a current schema.
        let present = Set(
            try connection.query(
                """
                SELECT TABLE_NAME AS name FROM information_schema.TABLES
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('schema_migrations', 'leases')
                """
            ).map { row throws(MariaDBError) in try row.string("name") })
        if !present.contains("leases") { try connection.executeTrustedSQL(Lease.createSQL) }
        if present.contains("schema_migrations") { return }
        try connection.executeTrustedSQL(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INT NOT NULL PRIMARY KEY,
                name VARCHAR(100) NOT NULL,
                applied_at DATETIME(6) NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """)
    }
}

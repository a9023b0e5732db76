public import Logging
public import MariaDB

/// Applies ``Migration/all`` in order and records each in `schema_migrations`.
///
/// Idempotent: applied versions are skipped. Two `migrate` runs at once are serialised by a MariaDB named lock, so
/// several hosts sharing one database can run it on deploy.
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
        let locked = try connection.query("SELECT GET_LOCK('jwt_authd_migrate', 60) AS got")
        guard try locked.first?.optionalInt("got") == 1 else {
            throw MariaDBError(code: .lockWaitTimeout, message: "another migrate run holds the lock for over 60 s")
        }
        defer { _ = try? connection.query("SELECT RELEASE_LOCK('jwt_authd_migrate') AS released") }
        let applied = Set(try appliedVersions())
        var done: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
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

    private func createLedger() throws(MariaDBError) {
        // Only when missing: a runtime account without DDL rights can still run `migrate` on a current schema.
        let exists = try connection.query(
            """
            SELECT 1 AS present FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'schema_migrations'
            """)
        if !exists.isEmpty { return }
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

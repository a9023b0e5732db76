import Foundation
public import MariaDB

/// Test access to MariaDB: a fresh database per suite on the server the test command started.
///
/// The server's socket comes from `JWT_AUTHD_TEST_MARIADB_SOCKET`. When it is absent the tests that need MariaDB are
/// skipped locally, but with `CI=true` they fail: CI must never pass by skipping.
public enum TestDatabase {
    /// The socket of the shared test server, if one is configured.
    public static var socket: String? {
        ProcessInfo.processInfo.environment["JWT_AUTHD_TEST_MARIADB_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether MariaDB tests run: true when a server is configured or when running under CI (then they fail loudly).
    public static var isEnabled: Bool {
        socket != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// A URL for a server's database on its unix socket, as root (socket authentication).
    public static func url(socket: String, database: String) throws -> DatabaseURL {
        try DatabaseURL(parsing: "mariadb://root@localhost/\(database)?socket=\(socket)")
    }

    /// Creates a new, empty database with a unique name and returns its URL.
    ///
    /// - Throws: when no server is configured or it cannot be reached.
    public static func create(prefix: String = "t") throws -> DatabaseURL {
        guard let socket else {
            throw TestSupportError("JWT_AUTHD_TEST_MARIADB_SOCKET is not set: run the tests through scripts/test")
        }
        return try create(onSocket: socket, prefix: prefix)
    }

    /// Creates a new database on the server at `socket`.
    public static func create(onSocket socket: String, prefix: String = "t") throws -> DatabaseURL {
        let name = "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
        let admin = try Connection(url: url(socket: socket, database: "mysql"))
        try admin.executeTrustedSQL("CREATE DATABASE `\(name)` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        admin.close()
        return try url(socket: socket, database: name)
    }

    /// Drops a database made by ``create(prefix:)``.
    public static func drop(_ url: DatabaseURL) {
        guard let socket = url.socket, let admin = try? Connection(url: TestDatabase.url(socket: socket, database: "mysql")) else {
            return
        }
        try? admin.executeTrustedSQL("DROP DATABASE IF EXISTS `\(url.database)`")
        admin.close()
    }
}

/// A failure in the test helpers themselves.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

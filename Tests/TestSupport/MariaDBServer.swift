public import Foundation
import MariaDB

/// A private MariaDB server for destructive tests (stop, restart), never the shared one.
///
/// Its data directory lives under a temporary folder; ``stop()`` terminates it and ``start()`` brings it back on the
/// same data and socket.
public final class MariaDBServer: @unchecked Sendable {
    // @unchecked Sendable: the process handle is only touched by the test that owns the server, one call at a time.
    public let directory: URL
    public let socket: String
    private var process: Process?

    /// Installs a fresh data directory and starts the server.
    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jwt-authd-mariadb-\(UUID().uuidString.prefix(8))")
        socket = directory.appendingPathComponent("mysqld.sock").path
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        let install = Process()
        install.executableURL = URL(fileURLWithPath: "/usr/bin/mariadb-install-db")
        install.arguments = [
            "--no-defaults", "--user=\(Self.userName)", "--datadir=\(directory.appendingPathComponent("data").path)",
            "--auth-root-authentication-method=socket", "--skip-test-db",
        ]
        install.standardOutput = FileHandle.nullDevice
        install.standardError = FileHandle.nullDevice
        try install.run()
        install.waitUntilExit()
        guard install.terminationStatus == 0 else { throw TestSupportError("mariadb-install-db failed") }
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private static var userName: String {
        getuid() == 0 ? "root" : (ProcessInfo.processInfo.environment["USER"] ?? "root")
    }

    /// Starts the server and waits until it answers on its socket.
    public func start() throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/mariadbd")
        server.arguments = [
            "--no-defaults", "--user=\(Self.userName)", "--datadir=\(directory.appendingPathComponent("data").path)",
            "--socket=\(socket)", "--pid-file=\(directory.appendingPathComponent("mysqld.pid").path)",
            "--log-error=\(directory.appendingPathComponent("error.log").path)", "--skip-networking",
            "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=2",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        process = server
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: socket),
                (try? TestDatabase.url(socket: socket, database: "mysql")).flatMap({ try? MariaDB.Connection(url: $0) }) != nil
            {
                return
            }
            guard server.isRunning else { throw TestSupportError("mariadbd exited at start; see \(directory.path)/error.log") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestSupportError("mariadbd did not answer within 30 s")
    }

    /// Stops the server (SIGTERM, then SIGKILL after 20 s) and waits for it to exit.
    public func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }
}

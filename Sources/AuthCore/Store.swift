public import MariaDB

/// The domain's access to MariaDB for one thread: owns that thread's connection.
///
/// Later issues add users, sessions and tokens here; handlers reach the database only through it.
public final class Store {
    /// The thread's connection (opened lazily, reopened after a failure).
    public let connection: Connection

    private var lastConnectFailure: ContinuousClock.Instant?
    /// After a failed connection attempt, further attempts wait this long (a dead TCP host costs a connect timeout).
    private let reconnectBackoff: Duration = .seconds(1)

    /// Creates a store whose connection opens on first use, so a worker starts even while MariaDB is down.
    public convenience init(url: DatabaseURL) {
        self.init(connection: Connection(unconnectedTo: url))
    }

    /// A store over an existing connection (the thread's one).
    public init(connection: Connection) {
        self.connection = connection
    }

    /// Why the last check failed (the server's message: never a password), for the log.
    public private(set) var lastFailure: String?

    /// Whether MariaDB answers now (reconnecting if it came back, at most once per second while it is down).
    public func isDatabaseReachable() -> Bool {
        let now = ContinuousClock.now
        if !connection.isOpen, let failed = lastConnectFailure, now - failed < reconnectBackoff {
            return false
        }
        do {
            try connection.ping()
            lastConnectFailure = nil
            lastFailure = nil
            return true
        } catch {
            lastConnectFailure = now
            lastFailure = "\(error)"
            return false
        }
    }
}

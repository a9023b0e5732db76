import CMariaDB

/// One MariaDB connection, used by one thread at a time (each worker thread owns one).
///
/// Statements are prepared once and cached per connection. A connection that broke is reopened on the next call;
/// a call that failed because the connection was lost is run again once, on a new connection, only when that is
/// safe: when it never reached the server (2006 before execution) or when it is a read. Inside a transaction
/// nothing is retried: the transaction is gone, and the error is thrown.
public final class Connection {
    /// Where this connection goes.
    public let url: DatabaseURL
    var handle: UnsafeMutablePointer<MYSQL>?
    private var statements: [String: Statement] = [:]
    private var inTransaction = false
    private static let statementCacheLimit = 256

    private static let libraryReady: Bool = CMariaDB_library_init() == 0

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - url: The server and database.
    ///   - connectNow: `false` defers connecting to the first call (a worker must start while MariaDB is down).
    /// - Throws: ``MariaDBError`` with code ``MariaDBError/connectionFailed`` when `connectNow` and the server
    ///   cannot be reached or refuses the login.
    public init(url: DatabaseURL, connectNow: Bool = true) throws(MariaDBError) {
        self.url = url
        if connectNow { try connect() }
    }

    /// Creates a connection that opens on its first call (a worker must start while MariaDB is down).
    public init(unconnectedTo url: DatabaseURL) {
        self.url = url
    }

    deinit { close() }

    /// Whether a server connection is currently open (it may still turn out to be broken).
    public var isOpen: Bool { handle != nil }

    /// Closes the connection and forgets its prepared statements. The next call reconnects.
    public func close() {
        for statement in statements.values { statement.close() }
        statements.removeAll()
        if let handle { mysql_close(handle) }
        handle = nil
        endpoint = nil
        isClusterNode = false
        inTransaction = false
    }

    /// The connection's server thread id (for `KILL` in tests), or `nil` when closed.
    public var serverThreadID: UInt? { handle.map { UInt(mysql_thread_id($0)) } }

    /// Checks that the server answers, reconnecting if needed.
    ///
    /// - Throws: ``MariaDBError`` when the server cannot be reached.
    public func ping() throws(MariaDBError) {
        try ensureOpen()
        if mysql_ping(handle) != 0 {
            let error = Self.error(of: handle!)
            close()
            guard error.code == .connectionLost else { throw error }
            try connect()
            if mysql_ping(handle) != 0 {
                let again = Self.error(of: handle!)
                close()
                throw again
            }
        }
    }

    /// Runs a read (SELECT) and returns its rows. Reads are retried once on a new connection if the old one was lost.
    ///
    /// - Throws: ``MariaDBError``.
    public func query(_ sql: String, _ values: [DatabaseValue] = []) throws(MariaDBError) -> [Row] {
        try run(sql, values, idempotent: true).rows
    }

    /// Runs a write (INSERT, UPDATE, DELETE).
    ///
    /// - Parameters:
    ///   - idempotent: `true` when running it twice is harmless, so it may be retried after a lost connection even
    ///     if it might have reached the server.
    /// - Throws: ``MariaDBError``; ``MariaDBError/duplicateKey`` for a unique violation.
    @discardableResult
    public func execute(_ sql: String, _ values: [DatabaseValue] = [], idempotent: Bool = false) throws(MariaDBError)
        -> ExecuteResult
    {
        let result = try run(sql, values, idempotent: idempotent)
        writesCompleted &+= 1
        return result
    }

    /// Statements run by ``execute(_:_:idempotent:)`` that succeeded, ever: a caller compares it before and after a
    /// failure to know whether anything it ran in autocommit mode took effect (nothing did if it is unchanged).
    public private(set) var writesCompleted = 0

    /// Whether a transaction is open.
    public var isInTransaction: Bool { inTransaction }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws (and the error rethrown).
    ///
    /// - Throws: what `body` throws, or ``MariaDBError`` from BEGIN or COMMIT (``MariaDBError/deadlock`` when
    ///   Galera refuses the commit).
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        guard !inTransaction else { throw MariaDBError(code: .misuse, message: "transactions do not nest") }
        try ensureOpen()
        do {
            try command("START TRANSACTION")
        } catch let error where error.code == .connectionLost {
            // Nothing has run yet: a fresh connection is safe.
            close()
            try connect()
            try command("START TRANSACTION")
        }
        inTransaction = true
        let result: T
        do {
            result = try body()
        } catch {
            rollback()
            throw error
        }
        do {
            try command("COMMIT")
        } catch {
            rollback()
            throw error
        }
        inTransaction = false
        return result
    }

    /// Runs trusted, constant SQL text that takes no values (DDL in migrations). Never pass user input here.
    ///
    /// - Throws: ``MariaDBError``.
    public func executeTrustedSQL(_ sql: String) throws(MariaDBError) {
        try ensureOpen()
        try command(sql)
    }

    // MARK: - Internals

    private func rollback() {
        inTransaction = false
        guard let handle else { return }
        if mysql_rollback(handle) != 0 {
            // A connection that cannot roll back is unusable; the server drops the transaction with it.
            close()
        }
    }

    private func command(_ sql: String) throws(MariaDBError) {
        guard let handle else { throw MariaDBError(code: .connectionLost, message: "not connected") }
        let length = UInt(sql.utf8.count)
        let failed = sql.withCString { mysql_real_query(handle, $0, length) } != 0
        if failed {
            let error = Self.error(of: handle)
            if error.code == .connectionLost { close() }
            throw error
        }
        // Statements like COMMIT return no result; anything else is drained so the connection stays in sync.
        if let result = mysql_store_result(handle) { mysql_free_result(result) }
    }

    private func run(_ sql: String, _ values: [DatabaseValue], idempotent: Bool) throws(MariaDBError) -> ExecuteResult {
        try ensureOpen()
        let failure: Failure
        switch runOnce(sql, values) {
        case .success(let result): return result
        case .failure(let error): failure = error
        }
        guard failure.error.code == .connectionLost else { throw failure.error }
        let wasInTransaction = inTransaction
        close()
        // Retry only what cannot have taken effect, or what does no harm twice; never inside a transaction.
        guard !wasInTransaction, idempotent || !failure.mayHaveRun else { throw failure.error }
        try connect()
        return try runOnce(sql, values).mapError(\.error).get()
    }

    private struct Failure: Error {
        let error: MariaDBError
        /// False when the statement certainly never executed (lost while preparing, or 2006 before sending).
        let mayHaveRun: Bool
    }

    private func runOnce(_ sql: String, _ values: [DatabaseValue]) -> Result<ExecuteResult, Failure> {
        let statement: Statement
        do {
            statement = try prepared(sql)
        } catch {
            return .failure(Failure(error: error, mayHaveRun: false))
        }
        do {
            return .success(try statement.execute(values))
        } catch {
            // 2006: never sent; 1047: a Galera node outside the primary component refused it unexecuted.
            return .failure(Failure(error: error, mayHaveRun: error.errno != 2006 && error.errno != 1047))
        }
    }

    private func prepared(_ sql: String) throws(MariaDBError) -> Statement {
        if let cached = statements[sql] { return cached }
        guard let handle else { throw MariaDBError(code: .connectionLost, message: "not connected") }
        let statement = try Statement(connection: handle, sql: sql)
        if statements.count >= Self.statementCacheLimit {
            for statement in statements.values { statement.close() }
            statements.removeAll()
        }
        statements[sql] = statement
        return statement
    }

    private func ensureOpen() throws(MariaDBError) {
        if handle == nil { try connect() } else if !inTransaction { failBackIfDue() }
    }

    /// Connects to the first of the URL's servers that answers and can serve (for a Galera node: in the primary
    /// component and synced; a node that is joining, donating or cut off is passed over), in the URL's order.
    private func connect() throws(MariaDBError) {
        precondition(Self.libraryReady, "mysql_library_init failed")
        var failures: [String] = []
        var last: MariaDBError?
        for endpoint in url.endpoints {
            do {
                switch try openServing(endpoint) {
                case .serving(let handle, let clusterNode):
                    adopt(handle, at: endpoint, clusterNode: clusterNode)
                    return
                case .cannotServe(let problem):
                    failures.append("\(endpoint): \(problem)")
                    last = MariaDBError(code: .connectionFailed, message: "\(endpoint) cannot serve: \(problem)")
                }
            } catch {
                failures.append("\(endpoint): \(error.message)")
                last = error
            }
        }
        guard url.endpoints.count > 1, let last else { throw last ?? MariaDBError(code: .connectionFailed, message: "no server") }
        throw MariaDBError(
            code: .connectionFailed, errno: last.errno, sqlState: last.sqlState, message: failures.joined(separator: "; "))
    }

    /// Why the server this connection is on cannot serve now (a Galera node that left the primary component or is
    /// no longer synced), or `nil` when it can; connects first when needed.
    public func servingProblem() throws(MariaDBError) -> String? {
        try ensureOpen()
        guard let handle else { return "not connected" }
        return Self.nodeState(handle).problem
    }

    /// Whether the server is a Galera node (`wsrep_on`), known once connected.
    public internal(set) var isClusterNode = false

    /// Runs `body` with `wsrep_sync_wait` 7 for this session: every read, update and insert first waits until the
    /// node has applied everything the cluster committed before it (a causal read), then the URL's setting again.
    /// For reads whose answer would refuse someone, or decide which of two racing writes the cluster kept. On a
    /// standalone server, or inside a transaction (its snapshot is taken), it simply runs `body`; nested calls run
    /// in the outer one's setting. The setting holds across a reconnect: a closed connection is opened first (whether
    /// it is a Galera node is known once connected), one opened meanwhile starts with it, and a failed `SET` closes
    /// the connection so that `body` opens one that has it.
    public func withCausalReads<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard !inTransaction, !readsCausally else { return try body() }
        if handle == nil { try? ensureOpen() }
        guard isClusterNode else { return try body() }
        readsCausally = true
        defer {
            readsCausally = false
            try? command(url.syncWait.map { "SET SESSION wsrep_sync_wait = \($0)" } ?? "SET SESSION wsrep_sync_wait = DEFAULT")
        }
        if (try? command("SET SESSION wsrep_sync_wait = 7")) == nil { close() }
        return try body()
    }

    /// Whether ``withCausalReads(_:)`` is running.
    public internal(set) var readsCausally = false

    /// The server this connection is on (`nil` when closed).
    public internal(set) var endpoint: DatabaseURL.Endpoint?
    /// When this connection last tried to move back to a server listed before its own (``failBackIfDue()``).
    var lastFailback = ContinuousClock.now

    func open(_ endpoint: DatabaseURL.Endpoint, connectTimeout: UInt32? = nil) throws(MariaDBError) -> UnsafeMutablePointer<MYSQL> {
        guard let handle = mysql_init(nil) else {
            throw MariaDBError(code: .connectionFailed, message: "mysql_init: out of memory")
        }
        var timeout = connectTimeout ?? url.connectTimeoutSeconds
        mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &timeout)
        var readTimeout = url.readTimeoutSeconds
        mysql_options(handle, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        var writeTimeout = url.writeTimeoutSeconds
        mysql_options(handle, MYSQL_OPT_WRITE_TIMEOUT, &writeTimeout)
        var reconnect: Int8 = 0  // we reconnect ourselves, knowing what is safe to retry
        mysql_options(handle, MYSQL_OPT_RECONNECT, &reconnect)
        _ = "utf8mb4".withCString { mysql_options(handle, MYSQL_SET_CHARSET_NAME, $0) }
        // Dates are stored as UTC DATETIME(6). Lock waits and statements end before nginx stops waiting for the answer.
        // (The numbers are UInt32s from the URL's parser: no text of the user's reaches this statement.)
        var session = """
            SET time_zone = '+00:00', innodb_lock_wait_timeout = \(url.lockWaitTimeoutSeconds), \
            max_statement_time = \(url.statementTimeoutSeconds)
            """
        // Inside withCausalReads (a reconnect in the middle of it) the new session reads causally from its first statement.
        if readsCausally {
            session += ", wsrep_sync_wait = 7"
        } else if let syncWait = url.syncWait {
            session += ", wsrep_sync_wait = \(syncWait)"
        }
        _ = session.withCString { mysql_options(handle, MYSQL_INIT_COMMAND, $0) }
        switch url.tlsMode {
        case .disabled:
            break
        case .required, .verify:
            var on: Int8 = 1
            mysql_options(handle, MYSQL_OPT_SSL_ENFORCE, &on)
            var verify: Int8 = url.tlsMode == .verify ? 1 : 0
            mysql_options(handle, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify)
            if let ca = url.tlsCA { _ = ca.withCString { mysql_options(handle, MYSQL_OPT_SSL_CA, $0) } }
            if let cert = url.tlsCert { _ = cert.withCString { mysql_options(handle, MYSQL_OPT_SSL_CERT, $0) } }
            if let key = url.tlsKey { _ = key.withCString { mysql_options(handle, MYSQL_OPT_SSL_KEY, $0) } }
        }
        let connected = withOptionalCString(url.password) { password in
            withOptionalCString(url.socket) { socket in
                mysql_real_connect(handle, endpoint.host, url.user, password, url.database, endpoint.port, socket, 0) != nil
            }
        }
        guard connected else {
            let failure = Self.error(of: handle)
            mysql_close(handle)
            throw MariaDBError(
                code: .connectionFailed, errno: failure.errno, sqlState: failure.sqlState,
                message: failure.message)
        }
        return handle
    }

    static func error(of handle: UnsafeMutablePointer<MYSQL>) -> MariaDBError {
        MariaDBError(
            errno: mysql_errno(handle), sqlState: String(cString: mysql_sqlstate(handle)),
            message: String(cString: mysql_error(handle)))
    }
}

private func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}

/// An error from MariaDB or from this wrapper.
///
/// Compare with the static members (`error == .deadlock`): equality looks at the code only. The raw `mysql_errno`,
/// SQLSTATE and server message are kept for the log; they never hold bound values.
public struct MariaDBError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidURL = "invalid_url"
            case connectionFailed = "connection_failed"
            case connectionLost = "connection_lost"
            case duplicateKey = "duplicate_key"
            case deadlock
            case lockWaitTimeout = "lock_wait_timeout"
            case statementTimeout = "statement_timeout"
            case foreignKey = "foreign_key"
            case typeMismatch = "type_mismatch"
            case missingColumn = "missing_column"
            case misuse
            case server
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The URL could not be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// The server could not be reached or refused the login.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke during a call (2006, 2013, 2055, killed, server shutdown).
        public static let connectionLost = Code(.connectionLost)
        /// A unique key was violated (1062).
        public static let duplicateKey = Code(.duplicateKey)
        /// InnoDB chose this transaction as a deadlock victim, or Galera failed its certification (1213).
        public static let deadlock = Code(.deadlock)
        /// A row lock was not granted in time (1205).
        public static let lockWaitTimeout = Code(.lockWaitTimeout)
        /// A statement ran past `max_statement_time` and was stopped (1969).
        public static let statementTimeout = Code(.statementTimeout)
        /// A foreign key constraint failed (1451, 1452).
        public static let foreignKey = Code(.foreignKey)
        /// A column held another type than the one asked for.
        public static let typeMismatch = Code(.typeMismatch)
        /// A result had no column by that name.
        public static let missingColumn = Code(.missingColumn)
        /// The wrapper was used wrongly (wrong number of binds, nested transaction).
        public static let misuse = Code(.misuse)
        /// Any other server error.
        public static let server = Code(.server)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// `mysql_errno`, or 0 for errors raised by the wrapper.
    public let errno: UInt32
    /// The SQLSTATE, or an empty string.
    public let sqlState: String
    /// The server's or wrapper's message.
    public let message: String

    public init(code: Code, errno: UInt32 = 0, sqlState: String = "", message: String = "") {
        self.code = code
        self.errno = errno
        self.sqlState = sqlState
        self.message = message
    }

    /// Maps a `mysql_errno` to an error with its named code.
    public init(errno: UInt32, sqlState: String, message: String) {
        self.init(code: Self.code(for: errno), errno: errno, sqlState: sqlState, message: message)
    }

    public static let invalidURL = MariaDBError(code: .invalidURL)
    public static let connectionFailed = MariaDBError(code: .connectionFailed)
    public static let connectionLost = MariaDBError(code: .connectionLost)
    public static let duplicateKey = MariaDBError(code: .duplicateKey)
    public static let deadlock = MariaDBError(code: .deadlock)
    public static let lockWaitTimeout = MariaDBError(code: .lockWaitTimeout)
    public static let statementTimeout = MariaDBError(code: .statementTimeout)
    public static let foreignKey = MariaDBError(code: .foreignKey)
    public static let typeMismatch = MariaDBError(code: .typeMismatch)
    public static let missingColumn = MariaDBError(code: .missingColumn)
    public static let misuse = MariaDBError(code: .misuse)
    public static let server = MariaDBError(code: .server)

    public static func == (lhs: MariaDBError, rhs: MariaDBError) -> Bool { lhs.code == rhs.code }

    /// A conflict whose transaction may simply be run again (deadlock, Galera certification, lock wait timeout).
    public var isTransient: Bool { code == .deadlock || code == .lockWaitTimeout }

    public var description: String {
        var text = "MariaDB \(code)"
        if errno != 0 { text += " (\(errno)\(sqlState.isEmpty ? "" : "/\(sqlState)"))" }
        if !message.isEmpty { text += ": \(message)" }
        return text
    }

    static func code(for errno: UInt32) -> Code {
        switch errno {
        case 1062, 1586: .duplicateKey
        case 1213: .deadlock
        case 1205: .lockWaitTimeout
        case 1969: .statementTimeout
        case 1451, 1452: .foreignKey
        // CR_SERVER_GONE_ERROR, CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED, ER_CONNECTION_KILLED, ER_SERVER_SHUTDOWN,
        // ER_CLIENT_INTERACTION_TIMEOUT; ER_UNKNOWN_COM_ERROR, which a Galera node outside the primary component
        // answers ("WSREP has not yet prepared node for application use"): this connection must move to another node
        case 2006, 2013, 2055, 1927, 1053, 4031, 1047: .connectionLost
        // CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST, access denied, unknown database
        case 2002, 2003, 2005, 1044, 1045, 1049: .connectionFailed
        default: .server
        }
    }
}

/// Where and how to connect to MariaDB, parsed from one URL.
///
/// `mariadb://user:pass@host:port/db`, or `mariadb://user:pass@localhost/db?socket=/run/mysqld/mysqld.sock`; several
/// hosts in order of preference (the nodes of a Galera cluster): `mariadb://user:pass@db1:3306,db2:3306,db3/db`.
/// Query options: `socket`, `ssl-mode` (`disabled`, `required`, `verify`), `ssl-ca`, `ssl-cert`, `ssl-key`,
/// `connect-timeout`, `read-timeout`, `write-timeout` (seconds: 5, 10, 10 by default), `lock-wait-timeout` (3) and
/// `statement-timeout` (5). User and password may be percent-encoded.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// How TLS is used on the connection.
    public enum TLSMode: String, Sendable {
        /// No TLS (the default; right for a local unix socket).
        case disabled
        /// TLS required, certificate not verified.
        case required
        /// TLS required, server certificate and host name verified against `ssl-ca` (or the system store).
        case verify
    }

    public var user: String
    public var password: String?
    /// The first (preferred) server.
    public var host: String
    public var port: UInt32
    /// The servers after the first, in order of preference.
    public var otherEndpoints: [Endpoint] = []
    /// `wsrep_sync_wait` for the session (Galera: which reads wait for the node to apply what the cluster committed
    /// before them; `nil` leaves the server's setting).
    public var syncWait: UInt32?
    /// With several hosts: how often (seconds) a connection on a later host tries the ones listed before it again,
    /// to move back to its preferred node once that one serves again (0: never).
    public var failbackSeconds: UInt32 = 30
    public var database: String
    public var socket: String?
    public var tlsMode: TLSMode
    public var tlsCA: String?
    public var tlsCert: String?
    public var tlsKey: String?
    public var connectTimeoutSeconds: UInt32
    /// How long one read from the server may wait: a server that stops answering (a hung host, a full disk, a
    /// `SIGSTOP`) fails the statement after this, instead of holding the thread until TCP gives up.
    public var readTimeoutSeconds: UInt32
    /// How long one write to the server may wait.
    public var writeTimeoutSeconds: UInt32
    /// How long a statement waits for a row lock (`innodb_lock_wait_timeout`; MariaDB's own default, 50 s, outlasts
    /// nginx's wait for the answer).
    public var lockWaitTimeoutSeconds: UInt32
    /// How long a statement may run before the server stops it (`max_statement_time`).
    public var statementTimeoutSeconds: UInt32

    /// Parses a `mariadb://` (or `mysql://`) URL.
    ///
    /// - Throws: ``MariaDBError`` with code ``MariaDBError/invalidURL``, whose message says what is wrong (never
    ///   the password).
    /// One server: a host (a name, an IPv4 address, or an IPv6 address without brackets) and a port.
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public let host: String
        public let port: UInt32

        public init(host: String, port: UInt32) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Every server, in order of preference.
    public var endpoints: [Endpoint] { [Endpoint(host: host, port: port)] + otherEndpoints }

    /// The most servers a URL may list.
    public static let maxEndpoints = 16

    public init(parsing text: String) throws(MariaDBError) {
        let fail = Self.invalid
        var rest: Substring
        if text.hasPrefix("mariadb://") {
            rest = text.dropFirst("mariadb://".count)
        } else if text.hasPrefix("mysql://") {
            rest = text.dropFirst("mysql://".count)
        } else {
            throw fail("it must start with mariadb:// (e.g. mariadb://user:pass@127.0.0.1:3306/jwt_authd)")
        }
        var query: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw fail("the database name is missing (…/dbname)") }
        let authority = rest[..<slash]
        let databaseText = rest[rest.index(after: slash)...]
        guard let database = Self.percentDecoded(databaseText), !database.isEmpty else {
            throw fail("the database name is missing (…/dbname)")
        }
        guard database.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" || $0 == "-" }) else {
            throw fail("the database name may hold letters, digits, _, $ and - only")
        }
        let (user, password, hostPort) = try Self.credentials(in: authority)
        let parts = hostPort.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= Self.maxEndpoints else { throw fail("at most \(Self.maxEndpoints) hosts") }
        if parts.count > 1, parts.contains(where: { $0.isEmpty }) { throw fail("an empty host in the list (host1:3306,host2:3306)") }
        var endpoints: [Endpoint] = []
        for part in parts {
            let (host, port) = try Self.hostAndPort(part)
            let endpoint = Endpoint(host: host.isEmpty ? "localhost" : host, port: port)
            guard !endpoints.contains(endpoint) else { throw fail("the host \(endpoint) is listed twice") }
            endpoints.append(endpoint)
        }
        self.user = user
        self.password = password
        self.host = endpoints[0].host
        self.port = endpoints[0].port
        self.otherEndpoints = Array(endpoints.dropFirst())
        self.database = database
        self.socket = nil
        self.tlsMode = .disabled
        self.connectTimeoutSeconds = 5
        self.readTimeoutSeconds = 10
        self.writeTimeoutSeconds = 10
        self.lockWaitTimeoutSeconds = 3
        self.statementTimeoutSeconds = 5
        try applyOptions(query)
        if socket != nil && !otherEndpoints.isEmpty { throw fail("socket= names one local server: it cannot go with several hosts") }
    }

    private static func invalid(_ reason: String) -> MariaDBError {
        MariaDBError(code: .invalidURL, message: "DATABASE_URL is invalid: \(reason)")
    }

    /// The user and password of `user:password@host:port` (user `root` when absent), and what follows the `@`.
    private static func credentials(in authority: Substring) throws(MariaDBError)
        -> (user: String, password: String?, hostPort: Substring)
    {
        guard let at = authority.lastIndex(of: "@") else { return ("root", nil, authority) }
        let credentials = authority[..<at]
        let hostPort = authority[authority.index(after: at)...]
        var user: String
        var password: String?
        if let colon = credentials.firstIndex(of: ":") {
            guard let decodedUser = percentDecoded(credentials[..<colon]),
                let decodedPassword = percentDecoded(credentials[credentials.index(after: colon)...])
            else {
                throw invalid("bad percent-encoding in the user or password")
            }
            user = decodedUser
            password = decodedPassword
        } else {
            guard let decodedUser = percentDecoded(credentials) else { throw invalid("bad percent-encoding in the user") }
            user = decodedUser
        }
        if user.isEmpty { throw invalid("the user name is empty") }
        return (user, password, hostPort)
    }

    /// The host (`[…]` for IPv6) and port of `host:port` (`localhost:3306` when absent).
    private static func hostAndPort(_ hostPort: Substring) throws(MariaDBError) -> (host: String, port: UInt32) {
        guard !hostPort.isEmpty else { return ("localhost", 3306) }
        func port(_ text: Substring) throws(MariaDBError) -> UInt32 {
            guard let parsed = UInt32(text), parsed > 0, parsed < 65536 else {
                throw invalid("the port must be a number from 1 to 65535")
            }
            return parsed
        }
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unclosed [ in the host") }
            let host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            return (host, after.hasPrefix(":") ? try port(after.dropFirst()) : 3306)
        }
        if let colon = hostPort.lastIndex(of: ":") {
            return (String(hostPort[..<colon]), try port(hostPort[hostPort.index(after: colon)...]))
        }
        return (String(hostPort), 3306)
    }

    /// The `?key=value&…` options.
    private mutating func applyOptions(_ query: Substring) throws(MariaDBError) {
        let fail = Self.invalid
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            guard parts.count == 2, let value = Self.percentDecoded(parts[1]), !value.isEmpty else {
                throw fail("the option '\(key)' needs a value")
            }
            switch key {
            case "socket":
                guard value.hasPrefix("/") else { throw fail("socket must be an absolute path") }
                socket = value
            case "ssl-mode", "sslmode":
                guard let mode = TLSMode(rawValue: value.lowercased()) else {
                    throw fail("ssl-mode must be disabled, required or verify")
                }
                tlsMode = mode
            case "ssl-ca": tlsCA = value
            case "ssl-cert": tlsCert = value
            case "ssl-key": tlsKey = value
            case "connect-timeout", "read-timeout", "write-timeout", "lock-wait-timeout", "statement-timeout":
                guard let seconds = UInt32(value), seconds > 0, seconds <= 600 else {
                    throw fail("\(key) must be a number of seconds from 1 to 600")
                }
                switch key {
                case "connect-timeout": connectTimeoutSeconds = seconds
                case "read-timeout": readTimeoutSeconds = seconds
                case "write-timeout": writeTimeoutSeconds = seconds
                case "lock-wait-timeout": lockWaitTimeoutSeconds = seconds
                default: statementTimeoutSeconds = seconds
                }
            case "sync-wait":
                guard let mask = UInt32(value), mask <= 15 else { throw fail("sync-wait must be a number from 0 to 15 (wsrep_sync_wait)") }
                syncWait = mask
            case "failback":
                guard let seconds = UInt32(value), seconds <= 3600 else { throw fail("failback must be a number of seconds from 0 to 3600") }
                failbackSeconds = seconds
            default:
                throw fail(
                    """
                    unknown option '\(key)' (known: socket, ssl-mode, ssl-ca, ssl-cert, ssl-key, connect-timeout, \
                    read-timeout, write-timeout, lock-wait-timeout, statement-timeout, sync-wait, failback)
                    """)
            }
        }
        if (tlsCert == nil) != (tlsKey == nil) { throw fail("ssl-cert and ssl-key go together") }
    }

    /// The same URL with the database replaced (tests create one database per suite).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The URL with the password masked, safe for logs.
    public var description: String {
        let credentials = password == nil ? user : "\(user):****"
        var text = "mariadb://\(credentials)@\(endpoints.map(\.description).joined(separator: ","))/\(database)"
        var options: [String] = []
        if let socket { options.append("socket=\(socket)") }
        if let syncWait { options.append("sync-wait=\(syncWait)") }
        if failbackSeconds != 30 { options.append("failback=\(failbackSeconds)") }
        if tlsMode != .disabled { options.append("ssl-mode=\(tlsMode.rawValue)") }
        if !options.isEmpty { text += "?" + options.joined(separator: "&") }
        return text
    }

    /// Percent-decodes a URL part (`%40` → `@`); `nil` for a malformed escape or bytes that are not UTF-8. (Also
    /// the SMTP URL's credentials.)
    public static func percentDecoded(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
                else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

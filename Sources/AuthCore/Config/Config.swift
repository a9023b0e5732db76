public import MariaDB
import Glibc

/// The whole configuration of jwt-authd, validated. Built by ``Config/load(sources:)`` from flags, environment,
/// the configuration file and defaults, in that order of precedence.
public struct Config: Sendable {
    /// The deployment kind: development relaxes cookie security (plain-HTTP localhost).
    public enum Environment: String, Sendable, CaseIterable {
        case development, test, production
    }

    /// The database connection.
    public var databaseURL: DatabaseURL
    /// Where to listen (`unix:/path`, `host:port`), or `nil` to serve on an inherited socket on fd 0.
    public var listen: String?
    /// Server tunables.
    public var server: Server
    /// Token lifetimes, secrets and claim checks.
    public var tokens: Tokens
    /// Whether auth cookies carry `Secure`.
    public var cookieSecure: Bool
    /// Origins allowed for cross-origin state-changing requests.
    public var allowedOrigins: [String]
    /// Addresses (or CIDR ranges) of proxies whose `X-Forwarded-For` is trusted.
    public var trustedProxies: [String]
    /// The deployment kind.
    public var environment: Environment
    /// The log level name (swift-log: trace, debug, info, notice, warning, error, critical).
    public var logLevel: String
    /// Whether every request gets a log line (at info level).
    public var logRequests = true
    /// A file to append logs to instead of standard error (reopened on SIGUSR1, for logrotate).
    public var logFile: String?
    /// Addresses (IPs or CIDR ranges) allowed to read `/api/auth/metrics`; empty turns the route off.
    public var metricsAllow = ["127.0.0.0/8", "::1"]
    /// Whether `POST /api/auth/register` is open.
    public var registrationEnabled = true
    /// The login page the nginx gate and the renew route send browsers to.
    public var loginPage = "/auth/login"
    /// The registration page (form posts send errors back there).
    public var registerPage = "/auth/register"
    /// Where browsers go after a login when no valid `callbackUrl` is given.
    public var defaultRedirect = "/dashboard"
    /// Password hashing and policy.
    public var passwords = Passwords()
    /// Limits on failed attempts.
    public var throttle = Throttle()

    /// Password hashing and policy.
    public struct Passwords: Sendable {
        /// Argon2id memory in KiB (OWASP: 19 MiB).
        public var argon2MemoryKiB = 19 * 1024
        /// Argon2id passes.
        public var argon2Iterations = 2
        /// Argon2id lanes.
        public var argon2Parallelism = 1
        /// Minimum length of a new password, in characters.
        public var minLength = 8
        /// Password hashes the worker pool runs at once (the others wait; shared by all workers); 0: the number of CPUs.
        public var concurrentHashes = 0
        public init() {}
    }

    /// Failure limits per fixed window, counted in MariaDB (shared by all workers and hosts).
    public struct Throttle: Sendable {
        /// Failed logins per account per window.
        public var loginPerAccount = 10
        /// Failed logins per client address per window.
        public var loginPerIP = 50
        /// Registrations per client address per window.
        public var registerPerIP = 20
        /// Wrong current passwords on password change, per account per window.
        public var passwordChangePerAccount = 5
        /// The window in seconds.
        public var windowSeconds = 15 * 60
        public init() {}
    }

    /// Server tunables.
    public struct Server: Sendable {
        /// Worker processes under the supervisor (default: the number of cores).
        public var workers: Int = Config.Server.cores
        /// Requests after which a worker is replaced (0 = never).
        public var maxRequests: Int = 0
        /// Threads per worker process.
        public var threads: Int = 8
        /// The file mode of a unix listen socket.
        public var socketMode: UInt32 = 0o660
        /// The largest accepted request body in bytes.
        public var maxBodyBytes: Int = 64 * 1024
        /// The number of online cores.
        public static var cores: Int { max(1, min(64, sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
        /// How long a graceful stop waits for requests in flight, in seconds.
        public var drainTimeoutSeconds: Int = 30
        /// How often the supervisor runs the cleanup (0 = never).
        public var cleanupIntervalSeconds: Int = 3600
        /// Worker crashes within ``emergencyRestartIntervalSeconds`` that back the whole pool off (0 = never).
        public var emergencyRestartThreshold: Int = 10
        /// The window of the emergency restart rule, in seconds.
        public var emergencyRestartIntervalSeconds: Int = 60
        public init() {}
    }

    /// Where a token type's signing key comes from.
    public enum KeySource: Sendable, Equatable {
        /// An HS256 secret (`tokens.access_secret`, the seed's way).
        case secret(Secret)
        /// A key file: a JWK (HS256, EdDSA or ES256) or a PEM key (EdDSA or ES256).
        case keyFile(String)
    }

    /// Token settings.
    public struct Tokens: Sendable {
        /// The signing key of access tokens.
        public var accessKey: KeySource
        /// The signing key of refresh tokens.
        public var refreshKey: KeySource
        /// Key files of previous access keys: tokens they signed keep verifying (rotation).
        public var accessVerifyKeyFiles: [String] = []
        /// Key files of previous refresh keys.
        public var refreshVerifyKeyFiles: [String] = []
        public var accessTTLSeconds: Int = 15 * 60
        public var refreshTTLSeconds: Int = 7 * 24 * 3600
        public var sessionMaxAgeSeconds: Int = 30 * 24 * 3600
        public var issuer: String = "jwt-authd"
        public var audience: String = "jwt-authd"
        public var leewaySeconds: Int = 0
        public var refreshGraceSeconds: Int = 10

        public init(accessKey: KeySource, refreshKey: KeySource) {
            self.accessKey = accessKey
            self.refreshKey = refreshKey
        }
    }

    /// A copy with some fields changed.
    public func with(_ change: (inout Config) -> Void) -> Config {
        var copy = self
        change(&copy)
        return copy
    }
}

/// Secret bytes (an HMAC key). Never printed: its description is masked.
public struct Secret: Sendable, Equatable, CustomStringConvertible {
    /// The raw bytes.
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { self.bytes = Array(text.utf8) }
    public var description: String { "****(\(bytes.count) bytes)" }
}

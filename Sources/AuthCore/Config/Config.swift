import Glibc
public import MariaDB

/// The whole configuration of jwt-authd, validated, grouped by the layer that uses it: each layer is handed its own
/// part (``Server`` to the process, ``Tokens``, ``Passwords`` and ``Throttle`` to the domain, ``HTTP`` to the
/// handlers), never the whole.
///
/// Every key — its name, environment variable, type, default, allowed range, documentation and secrecy — is declared
/// once, in ``ConfigKey/all``; ``Config/load(sources:)`` reads each through that declaration (flags, environment,
/// the configuration file, then the declared default), so the initial values below are placeholders the loader
/// always overwrites.
public struct Config: Sendable {
    /// The deployment kind: development relaxes cookie security (plain-HTTP localhost).
    public enum Environment: String, Sendable, CaseIterable {
        case development, test, production
    }

    /// The database connection.
    public var databaseURL: DatabaseURL
    /// Where to listen (`unix:/path`, `host:port`), or `nil` to serve on an inherited socket on fd 0.
    public var listen: String?
    /// The deployment kind.
    public var environment = Environment.production
    /// The worker processes and their FastCGI server.
    public var server = Server()
    /// Token keys, lifetimes and claim checks.
    public var tokens: Tokens
    /// Password hashing and policy.
    public var passwords = Passwords()
    /// Limits on failed attempts.
    public var throttle = Throttle()
    /// Re-authentication and API keys.
    public var accounts = Accounts()
    /// Mail: the sender, the transport, the templates.
    public var mail = Mail()
    /// Second factors: the keys of their secrets, TOTP's parameters.
    public var mfa = MFA()
    /// Passkeys: this site as a WebAuthn relying party.
    public var passkeys = Passkeys()
    /// What the HTTP handlers need: cookies, cross-site rules, proxies, pages, metrics access, request logging.
    public var http = HTTP()
    /// Where and how much to log.
    public var log = Log()

    /// The worker processes and their FastCGI server.
    public struct Server: Sendable {
        /// Worker processes under the supervisor.
        public var workers = 1
        /// Requests after which a worker is replaced (0 = never).
        public var maxRequests = 0
        /// Threads per worker process.
        public var threads = 1
        /// The file mode of a unix listen socket.
        public var socketMode: UInt32 = 0
        /// The largest accepted request body in bytes.
        public var maxBodyBytes = 0
        /// How long a graceful stop waits for requests in flight.
        public var drainTimeout = Duration.zero
        /// How often the supervisor runs the cleanup (zero: never).
        public var cleanupInterval = Duration.zero
        /// Worker crashes within ``emergencyRestartInterval`` that back the whole pool off (0 = never).
        public var emergencyRestartThreshold = 0
        /// The window of the emergency restart rule.
        public var emergencyRestartInterval = Duration.zero
        /// Peers (IPs or CIDR ranges) that may connect to a TCP listener; empty: any (php-fpm's
        /// `listen.allowed_clients`). Unix sockets are guarded by their file mode instead.
        public var allowedClients: [String] = []
        /// The number of online cores (at most 64): the default of ``workers`` and of the pool's password hashes.
        public static var cores: Int { max(1, min(64, sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
    }

    /// Token keys, lifetimes and claim checks.
    public struct Tokens: Sendable {
        /// The signing key of access tokens.
        public var accessKey: KeySource
        /// The signing key of refresh tokens.
        public var refreshKey: KeySource
        /// Key files of previous access keys: tokens they signed keep verifying (rotation).
        public var accessVerifyKeyFiles: [String] = []
        /// Key files of previous refresh keys.
        public var refreshVerifyKeyFiles: [String] = []
        public var accessTTL = Duration.zero
        public var refreshTTL = Duration.zero
        public var sessionMaxAge = Duration.zero
        public var issuer = ""
        public var audience = ""
        public var leeway = Duration.zero
        public var refreshGrace = Duration.zero

        public init(accessKey: KeySource, refreshKey: KeySource) {
            self.accessKey = accessKey
            self.refreshKey = refreshKey
        }
    }

    /// Password hashing and policy.
    public struct Passwords: Sendable {
        public var argon2MemoryKiB = 0
        public var argon2Iterations = 0
        public var argon2Parallelism = 0
        /// Minimum length of a new password, in characters.
        public var minLength = 0
        /// Password hashes the worker pool runs at once (shared by all workers); 0: the number of CPUs.
        public var concurrentHashes = 0

        /// Requests per worker that may wait for or run a hash; 0: a quarter of the worker's threads.
        public var hashQueue = 0
        /// The longest wait for a hashing turn.
        public var hashWait = Duration.zero

        /// The pool's limit of password hashes at once: ``concurrentHashes``, or the number of CPUs for 0.
        public var hashLimit: Int { concurrentHashes > 0 ? concurrentHashes : Server.cores }

        /// Requests per worker of `threads` threads that may wait for or run a hash.
        public func hashQueueLimit(threads: Int) -> Int { hashQueue > 0 ? hashQueue : max(1, threads / 4) }
    }

    /// What needs a recent authentication, and how long API keys live.
    public struct Accounts: Sendable {
        /// How recent the session's last authentication must be to create an API key without the password again.
        public var reauthWindow = Duration.zero
        /// The lifetime of a new API key that names no expiry; zero: such keys do not expire.
        public var apiKeyLifetime = Duration.zero
        /// How long a password reset link works.
        public var resetTokenLifetime = Duration.zero
        /// How long an email verification (or change) link works.
        public var verifyTokenLifetime = Duration.zero
        /// Login (and the gate's switch) answer 403 `email_unverified` until the address is verified.
        public var requireVerifiedEmail = false
        /// Registering a taken address answers like a new registration and mails its owner instead.
        public var enumerationSafeRegistration = false
    }

    /// Second factors (#17).
    public struct MFA: Sendable {
        /// `id:path` of the keys that seal factor secrets: the first seals, every one opens.
        public var encryptionKeys: [String] = []
        /// The name authenticator apps show (`issuer` of the otpauth URI); empty: `mail.from`'s name or domain.
        public var issuer = ""
        /// TOTP's digits, step and skew (steps accepted either side of now).
        public var totpDigits = 6
        public var totpPeriod = Duration.zero
        public var totpSkew = 1

        /// The keys, parsed (Config.load has checked every entry).
        public var keyReferences: [MFAKeyReference] { encryptionKeys.compactMap(MFAKeyReference.init) }
    }

    /// Passkeys (#18): the relying party. ``Config/load(sources:)`` fills the id and origins from `http.public_url`
    /// when they are not set.
    public struct Passkeys: Sendable {
        /// The relying party id: the site's registrable domain or a host under it; empty: passkeys are off.
        public var rpID = ""
        /// The name browsers show; empty: `mail.from`'s name or domain.
        public var rpName = ""
        /// Origins the ceremonies may run on (exact).
        public var origins: [String] = []
        /// Top-level origins that may embed them in a cross-origin frame.
        public var topOrigins: [String] = []
        /// `required`, `preferred` or `discouraged`.
        public var userVerification = "preferred"

        /// Whether passkeys are on.
        public var isEnabled: Bool { !rpID.isEmpty }
    }

    /// Mail the service sends (password reset links).
    public struct Mail: Sendable {
        /// `mail.from`: `Name <address>` or an address.
        public var from = ""
        /// How mail leaves: not at all, as `.eml` files in a folder, through the local sendmail, or over SMTP.
        public var transport = Transport.none
        /// The folder of the `file` transport.
        public var fileDirectory = ""
        /// A message that still fails after this long in the queue is given up.
        public var maxAge = Duration.zero
        /// The first wait after a failed attempt; each next one doubles, up to an hour.
        public var retryDelay = Duration.zero
        /// The `smtp` transport's server (`mail.smtp_url`), with its credentials.
        public var smtpURL: SMTPURL?
        /// `mail.smtp_tls` as written.
        public var smtpTLS = SMTPTLS.auto
        /// A CA bundle to trust for the SMTP server instead of the system's.
        public var smtpCAFile = ""
        /// One SMTP exchange's limit.
        public var smtpTimeout = Duration.zero
        /// The `sendmail` transport's program.
        public var sendmailPath = ""
        /// A folder of templates replacing the built-in texts (`<kind>.subject`, `.txt`, `.html`); empty: none.
        public var templatesDirectory = ""

        public enum Transport: String, Sendable, CaseIterable {
            case none, file, sendmail, smtp
        }

        /// `mail.smtp_tls`: `auto` is TLS for every server but one on this machine.
        public enum SMTPTLS: String, Sendable, CaseIterable {
            case auto, starttls, none
        }

        /// How the SMTP connection is protected, from the URL and `mail.smtp_tls`: TLS from the first byte for
        /// `smtps://`; else STARTTLS (required: no TLS, no message), except `none`, and `auto` to a loopback relay.
        public var smtpSecurity: SMTPSecurity {
            guard let smtpURL else { return .startTLS }
            if smtpURL.implicitTLS { return .implicitTLS }
            switch smtpTLS {
            case .starttls: return .startTLS
            case .none: return .plain
            case .auto: return smtpURL.isLoopback ? .plain : .startTLS
            }
        }

        public enum SMTPSecurity: Sendable, Equatable {
            case implicitTLS, startTLS, plain
        }
    }

    /// Failure limits per fixed window, counted in MariaDB (shared by all workers and hosts).
    public struct Throttle: Sendable {
        public var loginPerAccount = 0
        public var loginPerIP = 0
        /// Password reset requests per account (email) and per client address per window.
        public var forgotPerAccount = 0
        public var forgotPerIP = 0
        /// Failed logins per known device (a browser with a valid device cookie for the account) per window.
        public var loginPerDevice = 0
        /// How long a device cookie's entry is honoured; zero: device cookies are off.
        public var deviceLifetime = Duration.zero
        public var registerPerIP = 0
        public var passwordChangePerAccount = 0
        /// Wrong second-factor codes per account per window (sign-in challenges and reauthentication together).
        public var mfaPerAccount = 0
        /// The fixed window.
        public var window = Duration.zero
        /// IPv6 clients are counted per network of this prefix length (an address per /64 is free to have).
        public var ipv6Prefix = 64
    }

    /// What the HTTP handlers need.
    public struct HTTP: Sendable {
        /// Whether auth cookies carry `Secure`.
        public var cookieSecure = true
        /// Whether the access cookie is named `__Host-access_token` (no `Domain`, `Path=/`, `Secure`: a sibling
        /// subdomain cannot set or shadow it).
        public var cookieHostPrefix = false
        /// Origins allowed for cross-origin state-changing requests.
        public var allowedOrigins: [String] = []
        /// Addresses (or CIDR ranges) of proxies whose `X-Forwarded-For` is trusted.
        public var trustedProxies: [String] = []
        /// Whether `POST /api/auth/register` is open.
        public var registrationEnabled = true
        /// The login page the nginx gate and the renew route send browsers to.
        public var loginPage = ""
        /// The registration page (form posts send errors back there).
        public var registerPage = ""
        /// Where browsers go after a login when no valid `callbackUrl` is given.
        public var defaultRedirect = ""
        /// The page that asks for a password reset link, and the one the link opens (it posts the token).
        public var forgotPage = ""
        public var resetPage = ""
        /// The routes that may mail (forgot, resend, email change, a registration waiting for verification) answer no
        /// sooner than this after the request arrived (zero: at once).
        public var mailAnswerTime = Duration.zero
        /// The page an email verification link opens (it posts the token).
        public var verifyEmailPage = ""
        /// The second step of a sign-in, and the step-up before an AAL2 location (`?stepUp=1`).
        public var mfaPage = ""
        /// The security settings page (enrolment), where users of `mfa.required_roles` without a factor are sent.
        public var securityPage = ""
        /// Roles whose users must have a second factor (`mfa.required_roles`).
        public var mfaRequiredRoles: [String] = []
        /// Registration answers 202 without a session (`accounts.require_verified_email`).
        public var requireVerifiedEmail = false
        /// The site's public base URL for links in mail (`https://example.com`); empty: in development, the request's
        /// own scheme and host.
        public var publicURL = ""
        /// Whether mail leaves at all (`mail.transport` is not `none`): the routes that send mail answer 503
        /// `mail_unavailable` otherwise.
        public var mailEnabled = false
        /// `environment = development`.
        public var isDevelopment = false
        /// Addresses (IPs or CIDR ranges) allowed to read `/api/auth/metrics`; empty turns the route off.
        public var metricsAllow: [String] = []
        /// A bearer token scrapes of `/api/auth/metrics` must present, besides coming from ``metricsAllow``.
        public var metricsToken: Secret?
        /// Whether every request gets a log line (at info level).
        public var logRequests = true
        /// How long nginx may reuse the gate's answer for a valid access token (never past its `exp`); zero: never.
        public var gateCacheMax = Duration.zero
        /// How long nginx may reuse the gate's answer for an API key (revocation takes up to this long); zero: never.
        public var gateCacheAPIKeys = Duration.zero

        public init() {}
    }

    /// Where and how much to log.
    public struct Log: Sendable {
        /// The log level name (swift-log: trace, debug, info, notice, warning, error, critical).
        public var level = "info"
        /// A file to append logs to instead of standard error (reopened on SIGUSR1, for logrotate).
        public var file: String?
    }

    /// Where a token type's signing key comes from.
    public enum KeySource: Sendable, Equatable {
        /// An HS256 secret (`tokens.access_secret`, the seed's way).
        case secret(Secret)
        /// A key file: a JWK (HS256, EdDSA or ES256) or a PEM key (EdDSA or ES256).
        case keyFile(String)
    }

    /// A configuration with placeholders, for the loader to fill.
    init(databaseURL: DatabaseURL) {
        self.databaseURL = databaseURL
        tokens = Tokens(accessKey: .secret(Secret([])), refreshKey: .secret(Secret([])))
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

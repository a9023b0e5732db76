/// One configuration key: its name in the file, its environment variable, its default and what it means.
///
/// The table ``ConfigKey/all`` drives loading, `config check`, unknown-key detection and the README's table.
public struct ConfigKey: Sendable {
    /// The dotted name in the TOML file, also used for command-line overrides.
    public let name: String
    /// The environment variable.
    public let env: String
    /// The default, as text for the docs (`nil`: required or computed).
    public let defaultText: String
    /// One line for humans.
    public let summary: String
    /// Whether the value is a secret: masked when printed, and also readable from `NAME_FILE`.
    public let isSecret: Bool

    public static let all: [ConfigKey] = [
        ConfigKey(name: "database.url", env: "DATABASE_URL", defaultText: "required",
                  summary: "mariadb://user:pass@host:port/db, or ?socket=/path for a unix socket", isSecret: true),
        ConfigKey(name: "listen", env: "JWT_AUTHD_LISTEN", defaultText: "fd 0 if it is a socket, else required",
                  summary: "unix:/path/to.sock or host:port", isSecret: false),
        ConfigKey(name: "server.workers", env: "JWT_AUTHD_WORKERS", defaultText: "the number of cores",
                  summary: "worker processes under the supervisor (1-256)", isSecret: false),
        ConfigKey(name: "server.max_requests", env: "JWT_AUTHD_MAX_REQUESTS", defaultText: "0",
                  summary: "requests after which a worker is replaced without dropping requests (0 = never)", isSecret: false),
        ConfigKey(name: "server.threads", env: "JWT_AUTHD_THREADS", defaultText: "8",
                  summary: "threads per worker process (1-1024); see the sizing rule for kept connections",
                  isSecret: false),
        ConfigKey(name: "server.socket_mode", env: "JWT_AUTHD_SOCKET_MODE", defaultText: "0660",
                  summary: "file mode of the unix socket (octal), so nginx's user can connect", isSecret: false),
        ConfigKey(name: "server.max_body_bytes", env: "JWT_MAX_BODY_BYTES", defaultText: "65536",
                  summary: "largest request body; larger gets 413 without being read into memory", isSecret: false),
        ConfigKey(name: "server.drain_timeout", env: "JWT_AUTHD_DRAIN_TIMEOUT", defaultText: "30s",
                  summary: "how long a graceful stop waits for requests in flight", isSecret: false),
        ConfigKey(name: "tokens.access_secret", env: "JWT_ACCESS_SECRET", defaultText: "required unless access_key_file",
                  summary: "HS256 key of access tokens, at least 32 bytes", isSecret: true),
        ConfigKey(name: "tokens.refresh_secret", env: "JWT_REFRESH_SECRET", defaultText: "required unless refresh_key_file",
                  summary: "HS256 key of refresh tokens, at least 32 bytes, different from the access secret",
                  isSecret: true),
        ConfigKey(name: "tokens.access_key_file", env: "JWT_ACCESS_KEY_FILE", defaultText: "none",
                  summary: "signing key of access tokens instead of the secret: a JWK (HS256/EdDSA/ES256) or PEM (EdDSA/ES256) file",
                  isSecret: false),
        ConfigKey(name: "tokens.access_verify_key_files", env: "JWT_ACCESS_VERIFY_KEY_FILES", defaultText: "empty",
                  summary: "previous access keys (JWK/PEM files, comma-separated) that still verify during a rotation",
                  isSecret: false),
        ConfigKey(name: "tokens.refresh_key_file", env: "JWT_REFRESH_KEY_FILE", defaultText: "none",
                  summary: "signing key of refresh tokens instead of the secret (JWK or PEM file)", isSecret: false),
        ConfigKey(name: "tokens.refresh_verify_key_files", env: "JWT_REFRESH_VERIFY_KEY_FILES", defaultText: "empty",
                  summary: "previous refresh keys (JWK/PEM files, comma-separated) that still verify", isSecret: false),
        ConfigKey(name: "tokens.access_ttl", env: "JWT_ACCESS_TTL", defaultText: "15m",
                  summary: "access token lifetime (and the access cookie's Max-Age)", isSecret: false),
        ConfigKey(name: "tokens.refresh_ttl", env: "JWT_REFRESH_TTL", defaultText: "7d",
                  summary: "refresh token idle lifetime", isSecret: false),
        ConfigKey(name: "tokens.session_max_age", env: "JWT_SESSION_MAX_AGE", defaultText: "30d",
                  summary: "absolute lifetime of a login session, whatever the rotations", isSecret: false),
        ConfigKey(name: "tokens.issuer", env: "JWT_ISSUER", defaultText: "jwt-authd",
                  summary: "iss claim set and required", isSecret: false),
        ConfigKey(name: "tokens.audience", env: "JWT_AUDIENCE", defaultText: "jwt-authd",
                  summary: "aud claim set and required", isSecret: false),
        ConfigKey(name: "tokens.leeway", env: "JWT_LEEWAY", defaultText: "0s",
                  summary: "clock skew allowed on exp/nbf/iat (at most 5m)", isSecret: false),
        ConfigKey(name: "tokens.refresh_grace", env: "JWT_REFRESH_GRACE", defaultText: "10s",
                  summary: "window in which the previous refresh token gets the current pair (0s disables)",
                  isSecret: false),
        ConfigKey(name: "passwords.argon2_memory_kib", env: "JWT_ARGON2_MEMORY_KIB", defaultText: "19456",
                  summary: "Argon2id memory per hash in KiB (OWASP: 19 MiB); each concurrent login holds this much",
                  isSecret: false),
        ConfigKey(name: "passwords.argon2_iterations", env: "JWT_ARGON2_ITERATIONS", defaultText: "2",
                  summary: "Argon2id passes", isSecret: false),
        ConfigKey(name: "passwords.argon2_parallelism", env: "JWT_ARGON2_PARALLELISM", defaultText: "1",
                  summary: "Argon2id lanes", isSecret: false),
        ConfigKey(name: "passwords.min_length", env: "JWT_PASSWORD_MIN_LENGTH", defaultText: "8",
                  summary: "minimum length of a new password in characters (maximum: 1024 bytes)", isSecret: false),
        ConfigKey(name: "throttle.login_per_account", env: "JWT_THROTTLE_LOGIN_PER_ACCOUNT", defaultText: "10",
                  summary: "failed logins per account per window before 429", isSecret: false),
        ConfigKey(name: "throttle.login_per_ip", env: "JWT_THROTTLE_LOGIN_PER_IP", defaultText: "50",
                  summary: "failed logins per client address per window before 429", isSecret: false),
        ConfigKey(name: "throttle.register_per_ip", env: "JWT_THROTTLE_REGISTER_PER_IP", defaultText: "20",
                  summary: "registrations per client address per window", isSecret: false),
        ConfigKey(name: "throttle.password_change_per_account", env: "JWT_THROTTLE_PASSWORD_CHANGE", defaultText: "5",
                  summary: "wrong current passwords on password change per account per window", isSecret: false),
        ConfigKey(name: "throttle.window", env: "JWT_THROTTLE_WINDOW", defaultText: "15m",
                  summary: "the throttling window", isSecret: false),
        ConfigKey(name: "cookies.secure", env: "JWT_COOKIE_SECURE", defaultText: "true unless environment = development",
                  summary: "Secure attribute on auth cookies", isSecret: false),
        ConfigKey(name: "http.allowed_origins", env: "JWT_ALLOWED_ORIGINS", defaultText: "empty (same origin only)",
                  summary: "origins allowed to make cross-origin state-changing requests (comma-separated)",
                  isSecret: false),
        ConfigKey(name: "http.trusted_proxies", env: "JWT_TRUSTED_PROXIES", defaultText: "empty",
                  summary: "proxy addresses/CIDRs whose X-Forwarded-For is trusted (comma-separated)",
                  isSecret: false),
        ConfigKey(name: "registration.enabled", env: "JWT_REGISTRATION_ENABLED", defaultText: "true",
                  summary: "whether POST /api/auth/register is open (false: 403)", isSecret: false),
        ConfigKey(name: "http.login_page", env: "JWT_LOGIN_PAGE", defaultText: "/auth/login",
                  summary: "the login page browsers are sent to (renew failures, form errors)", isSecret: false),
        ConfigKey(name: "http.register_page", env: "JWT_REGISTER_PAGE", defaultText: "/auth/register",
                  summary: "the registration page (form errors)", isSecret: false),
        ConfigKey(name: "http.default_redirect", env: "JWT_DEFAULT_REDIRECT", defaultText: "/dashboard",
                  summary: "where browsers go after login when callbackUrl is missing or not a same-site path", isSecret: false),
        ConfigKey(name: "environment", env: "JWT_AUTHD_ENV", defaultText: "production",
                  summary: "development, test or production", isSecret: false),
        ConfigKey(name: "log.level", env: "JWT_AUTHD_LOG_LEVEL", defaultText: "info",
                  summary: "trace, debug, info, notice, warning, error or critical", isSecret: false),
    ]

    /// The key with a dotted name.
    public static func named(_ name: String) -> ConfigKey? { all.first { $0.name == name } }
}

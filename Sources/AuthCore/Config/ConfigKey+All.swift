extension ConfigKey {
    /// Every key, in the order of the README's table (generated from it: ``markdownTable``).
    public static let all: [ConfigKey] = [
        .databaseURL(
            "database.url", "DATABASE_URL",
            "`mariadb://user:pass@host:port/db`, or `…/db?socket=/run/mysqld/mysqld.sock`; options `ssl-mode=disabled\\|required\\|verify`, `ssl-ca`, `ssl-cert`, `ssl-key`, `connect-timeout` (5 s), `read-timeout` and `write-timeout` (10 s: a server that stops answering fails the request after that), `lock-wait-timeout` (3 s) and `statement-timeout` (5 s: a request's database work ends inside nginx's wait); several hosts in order of preference, `mariadb://u:p@db1:3306,db2:3306,db3:3306/db` (the nodes of a Galera cluster: each thread uses the first that is synced and moves on when its node fails or leaves the primary component), `sync-wait=N` sets `wsrep_sync_wait` (see docs/operations.md), and `failback=N` (30 s; 0: never) is how often a thread on a later host tries the ones before it again"
        ),
        .listen("listen", "JWT_AUTHD_LISTEN", "`unix:/path/to.sock` or `host:port`"),
        .integer(
            "server.workers", "JWT_AUTHD_WORKERS", \.server.workers, default: Config.Server.cores, in: 1...256,
            defaultText: "the number of cores",
            "worker processes under the supervisor (1–256)"),
        .integer(
            "server.max_requests", "JWT_AUTHD_MAX_REQUESTS", \.server.maxRequests, default: 0, in: 0...1_000_000_000,
            "requests after which a worker is replaced without dropping requests (0 = never)"),
        .integer(
            "server.threads", "JWT_AUTHD_THREADS", \.server.threads, default: 8, in: 1...1024,
            "threads per process (1–1024); see the sizing rule"),
        .socketMode("server.socket_mode", "JWT_AUTHD_SOCKET_MODE", "file mode of the unix socket"),
        .integer(
            "server.max_body_bytes", "JWT_MAX_BODY_BYTES", \.server.maxBodyBytes, default: 65_536, in: 1024...(16 << 20),
            "largest request body (1 KiB – 16 MiB)"),
        .duration(
            "server.drain_timeout", "JWT_AUTHD_DRAIN_TIMEOUT", \.server.drainTimeout, default: .seconds(30), max: .seconds(3600),
            "how long a graceful stop waits for requests in flight"),
        .duration(
            "server.cleanup_interval", "JWT_CLEANUP_INTERVAL", \.server.cleanupInterval, default: .seconds(3600), max: .seconds(7 * 86_400),
            "how often the supervisor runs `jwt-authd cleanup --lock` (one host at a time; `0s` disables)"),
        .integer(
            "server.emergency_restart_threshold", "JWT_AUTHD_EMERGENCY_RESTART_THRESHOLD", \.server.emergencyRestartThreshold, default: 10,
            in: 0...1000,
            "php-fpm's emergency restart: when this many workers crash within `server.emergency_restart_interval`, the supervisor logs an `EMERGENCY` line and starts no worker for 30 s (a broken database, key or host must not become a fork storm); `0` disables"
        ),
        .duration(
            "server.emergency_restart_interval", "JWT_AUTHD_EMERGENCY_RESTART_INTERVAL", \.server.emergencyRestartInterval, default: .seconds(60),
            max: .seconds(3600),
            "the window of that rule (≤ 1h)"),
        .list(
            "server.allowed_clients", "JWT_AUTHD_ALLOWED_CLIENTS", \.server.allowedClients, each: .address,
            defaultText: "empty (any)",
            "peers (IPs or CIDRs) that may connect to a TCP `listen` address; others are disconnected unanswered (php-fpm's `listen.allowed_clients`); a non-loopback TCP listener without it gets a warning at start"
        ),
        .accessSecret("tokens.access_secret", "JWT_ACCESS_SECRET", "HS256 key of access tokens, ≥ 32 bytes"),
        .refreshSecret("tokens.refresh_secret", "JWT_REFRESH_SECRET", "HS256 key of refresh tokens, ≥ 32 bytes, ≠ access secret"),
        .accessKeyFile(
            "tokens.access_key_file", "JWT_ACCESS_KEY_FILE",
            "signing key of access tokens instead of the secret: a JWK file (HS256, EdDSA, ES256) or a PEM key (EdDSA, ES256); see [Keys](#keys)"),
        .list(
            "tokens.access_verify_key_files", "JWT_ACCESS_VERIFY_KEY_FILES", \.tokens.accessVerifyKeyFiles,
            "previous access keys (comma-separated files) that keep verifying during a rotation"),
        .refreshKeyFile("tokens.refresh_key_file", "JWT_REFRESH_KEY_FILE", "signing key of refresh tokens instead of the secret"),
        .list(
            "tokens.refresh_verify_key_files", "JWT_REFRESH_VERIFY_KEY_FILES", \.tokens.refreshVerifyKeyFiles,
            "previous refresh keys that keep verifying"),
        .duration(
            "tokens.access_ttl", "JWT_ACCESS_TTL", \.tokens.accessTTL, default: .seconds(15 * 60), max: .seconds(86_400), positive: true,
            "access token lifetime (≤ 1 day)"),
        .duration(
            "tokens.refresh_ttl", "JWT_REFRESH_TTL", \.tokens.refreshTTL, default: .seconds(7 * 86_400), max: .seconds(366 * 86_400), positive: true,
            "refresh token idle lifetime (> access_ttl)"),
        .duration(
            "tokens.session_max_age", "JWT_SESSION_MAX_AGE", \.tokens.sessionMaxAge, default: .seconds(30 * 86_400), max: .seconds(366 * 86_400),
            positive: true,
            "absolute lifetime of a login session (≥ refresh_ttl)"),
        .text("tokens.issuer", "JWT_ISSUER", \.tokens.issuer, default: "jwt-authd", "`iss` claim set and required"),
        .text("tokens.audience", "JWT_AUDIENCE", \.tokens.audience, default: "jwt-authd", "`aud` claim set and required"),
        .duration(
            "tokens.leeway", "JWT_LEEWAY", \.tokens.leeway, default: .zero, max: .seconds(300),
            "clock skew allowed on `exp`/`nbf`/`iat` (≤ 5m)"),
        .duration(
            "tokens.refresh_grace", "JWT_REFRESH_GRACE", \.tokens.refreshGrace, default: .seconds(10), max: .seconds(300),
            "window in which the previous refresh token gets the current pair (`0s` disables)"),
        .argon2Memory(
            "passwords.argon2_memory_kib", "JWT_ARGON2_MEMORY_KIB",
            "Argon2id memory per hash in KiB (OWASP: 19 MiB); each concurrent login holds this much"),
        .integer(
            "passwords.argon2_iterations", "JWT_ARGON2_ITERATIONS", \.passwords.argon2Iterations, default: 2, in: 1...32,
            "Argon2id passes"),
        .integer(
            "passwords.argon2_parallelism", "JWT_ARGON2_PARALLELISM", \.passwords.argon2Parallelism, default: 1, in: 1...16,
            "Argon2id lanes"),
        .integer(
            "passwords.concurrent_hashes", "JWT_PASSWORD_CONCURRENT_HASHES", \.passwords.concurrentHashes, default: 0, in: 0...1024,
            "password hashes the whole worker pool runs at once (all workers of one supervisor share the limit); the others wait for a free slot (0: the number of CPUs). Keeps Argon2id from time-slicing itself and bounds the memory of hashes in flight at this × `argon2_memory_kib` (each worker keeps up to this many buffers for reuse, not freed)"
        ),
        .integer(
            "passwords.hash_queue", "JWT_PASSWORD_HASH_QUEUE", \.passwords.hashQueue, default: 0, in: 0...1024,
            "requests per worker that may wait for or run a password hash (logins, registrations); more get 503 `service_busy` with `Retry-After` at once, before any database write, so a login flood cannot hold the threads the other routes need (0: a quarter of `server.threads`, at least 1)"
        ),
        .duration(
            "passwords.hash_wait", "JWT_PASSWORD_HASH_WAIT", \.passwords.hashWait, default: .seconds(2), max: .seconds(300), positive: true,
            "longest wait for a hashing turn; then 503 `service_busy` and the attempt does not count against the login limits"),
        .integer(
            "passwords.min_length", "JWT_PASSWORD_MIN_LENGTH", \.passwords.minLength, default: 8, in: 1...128,
            "minimum length of a new password in characters; at most 1024 bytes; no composition rules (NIST SP 800-63B)"),
        .integer(
            "throttle.login_per_account", "JWT_THROTTLE_LOGIN_PER_ACCOUNT", \.throttle.loginPerAccount, default: 10, in: 1...1_000_000,
            "failed logins per account (email) per window before logins are refused with a retry time"),
        .integer(
            "throttle.login_per_ip", "JWT_THROTTLE_LOGIN_PER_IP", \.throttle.loginPerIP, default: 50, in: 1...1_000_000,
            "failed logins per client address per window"),
        .integer(
            "throttle.login_per_device", "JWT_THROTTLE_LOGIN_PER_DEVICE", \.throttle.loginPerDevice, default: 10, in: 1...1_000_000,
            "failed logins per known device per window: a browser whose `auth_device` cookie says it signed in to the account before is counted on its own, not against the account's or the address's limit, so that nobody can lock the owner out (see [docs/security.md](docs/security.md))"
        ),
        .integer(
            "throttle.forgot_per_account", "JWT_THROTTLE_FORGOT_PER_ACCOUNT", \.throttle.forgotPerAccount, default: 5,
            in: 1...1_000_000,
            "password reset requests per account (email) per window, counted alike for unknown addresses (`POST /api/auth/password/forgot`)"
        ),
        .integer(
            "throttle.forgot_per_ip", "JWT_THROTTLE_FORGOT_PER_IP", \.throttle.forgotPerIP, default: 20, in: 1...1_000_000,
            "password reset requests per client address per window"),
        .integer(
            "throttle.register_per_ip", "JWT_THROTTLE_REGISTER_PER_IP", \.throttle.registerPerIP, default: 20, in: 1...1_000_000,
            "registrations per client address per window"),
        .integer(
            "throttle.password_change_per_account", "JWT_THROTTLE_PASSWORD_CHANGE", \.throttle.passwordChangePerAccount, default: 5,
            in: 1...1_000_000,
            "wrong current passwords on a password change, per account per window"),
        .integer(
            "throttle.mfa_per_account", "JWT_THROTTLE_MFA_PER_ACCOUNT", \.throttle.mfaPerAccount, default: 20, in: 1...1_000_000,
            "wrong second-factor codes per account per window (sign-ins and reauthentication together; each pending sign-in also dies after 5)"),
        .integer(
            "throttle.ipv6_prefix", "JWT_THROTTLE_IPV6_PREFIX", \.throttle.ipv6Prefix, default: 64, in: 32...128,
            "IPv6 clients are counted per network of this prefix length (an attacker has a whole /64 to rotate through); IPv4 per address"),
        .duration(
            "throttle.window", "JWT_THROTTLE_WINDOW", \.throttle.window, default: .seconds(15 * 60), max: .seconds(86_400), positive: true,
            "the throttling window (fixed windows, counted in MariaDB, shared by all workers and hosts)"),
        .duration(
            "accounts.reauth_window", "JWT_REAUTH_WINDOW", \.accounts.reauthWindow, default: .seconds(5 * 60), max: .seconds(86_400),
            positive: true,
            "creating an API key, adding or removing a second factor and new recovery codes need a sign-in (login, registration, the password or a code again) this recent, else 403 `reauthentication_required`"
        ),
        .duration(
            "accounts.api_key_lifetime", "JWT_API_KEY_LIFETIME", \.accounts.apiKeyLifetime, default: .seconds(90 * 86_400),
            max: .seconds(3660 * 86_400),
            "lifetime of an API key created without `expiresAt` (`0s`: such keys never expire)"),
        .text(
            "mail.from", "JWT_AUTHD_MAIL_FROM", \.mail.from, default: "jwt-authd <noreply@localhost.localdomain>",
            "the sender of the service's mail (`Site <noreply@example.com>`; its domain also names each Message-ID)"),
        .mailTransport(
            "mail.transport", "JWT_AUTHD_MAIL_TRANSPORT",
            "how mail leaves: `none` (nothing is sent; the routes that need mail answer 503 `mail_unavailable`), `smtp` (to `mail.smtp_url`), `sendmail` (piped to `mail.sendmail_path`: shared hosting) or `file` (one `.eml` per message in `mail.file_dir`, for development)"
        ),
        .smtpURL(
            "mail.smtp_url", "JWT_AUTHD_SMTP_URL",
            "the `smtp` transport's server: `smtp://user:password@mail.example.com:587` (STARTTLS; percent-escape reserved characters of the credentials) or `smtps://…:465` (TLS from the first byte); `mail.smtp_url_file` or `JWT_AUTHD_SMTP_URL_FILE` reads it from a file"
        ),
        .smtpTLS(
            "mail.smtp_tls", "JWT_AUTHD_SMTP_TLS",
            "`auto`: STARTTLS with certificate verification, required (no TLS, no message) for every `smtp://` server but a loopback relay (`localhost`, `127.0.0.1`, `[::1]`), which is spoken to in plain; `starttls`: required for loopback too; `none`: plain SMTP to any host (only on a network you trust)"
        ),
        .optionalText(
            "mail.smtp_ca_file", "JWT_AUTHD_SMTP_CA_FILE", \.mail.smtpCAFile,
            "a PEM file of the CAs that may sign the SMTP server's certificate, instead of the system's (a private CA)"),
        .duration(
            "mail.smtp_timeout", "JWT_AUTHD_SMTP_TIMEOUT", \.mail.smtpTimeout, default: .seconds(30), max: .seconds(600),
            positive: true, "the longest one SMTP exchange (or one sendmail run) may take; then it is retried later"),
        .text(
            "mail.sendmail_path", "JWT_AUTHD_SENDMAIL", \.mail.sendmailPath, default: "/usr/sbin/sendmail",
            "the `sendmail` transport's program, run as `sendmail -t -i` with the message on its input (exit 0: handed over; 75: later; others: refused)"
        ),
        .optionalText(
            "mail.templates_dir", "JWT_AUTHD_MAIL_TEMPLATES_DIR", \.mail.templatesDirectory,
            "a folder of files replacing the built-in texts: `<kind>.subject`, `<kind>.txt`, `<kind>.html` for the kinds `password-reset`, `verify-email`, `change-email`, `email-change-notice`, `account-exists`, `test`, with `{{placeholders}}` (see docs/operations.md#mail); checked at start"
        ),
        .duration(
            "mail.retry_delay", "JWT_AUTHD_MAIL_RETRY_DELAY", \.mail.retryDelay, default: .seconds(30), max: .seconds(3600),
            positive: true, "the wait after a message's first failed attempt; each next one doubles, up to an hour"),
        .optionalText(
            "mail.file_dir", "JWT_AUTHD_MAIL_DIR", \.mail.fileDirectory,
            "the folder of the `file` transport (created if missing; messages are written mode 0600: they hold live links)"),
        .duration(
            "mail.max_age", "JWT_AUTHD_MAIL_MAX_AGE", \.mail.maxAge, default: .seconds(86_400), max: .seconds(30 * 86_400),
            positive: true, "a message that still cannot be delivered after this long in the queue is given up"),
        .duration(
            "accounts.reset_token_lifetime", "JWT_RESET_TOKEN_LIFETIME", \.accounts.resetTokenLifetime,
            default: .seconds(30 * 60), max: .seconds(86_400), positive: true,
            "how long a password reset link works (single use; a newer request or any password change ends it sooner)"),
        .list(
            "mfa.encryption_keys", "JWT_MFA_ENCRYPTION_KEYS", \.mfa.encryptionKeys, each: .keyReference,
            defaultText: "none (MFA answers 503 `mfa_unavailable`)",
            "the keys that seal second-factor secrets (AES-256-GCM): `ID:/path`, comma-separated; each file holds 32 random bytes in base64 (`openssl rand -base64 32`) and is private to the service; the first seals, every one opens, so keys rotate (see docs/operations.md)"
        ),
        .optionalText(
            "mfa.issuer", "JWT_MFA_ISSUER", \.mfa.issuer,
            "the name authenticator apps show for the account (default: `mail.from`'s name, or its domain)"),
        .integer(
            "mfa.totp_digits", "JWT_MFA_TOTP_DIGITS", \.mfa.totpDigits, default: 6, in: 6...8,
            "digits of a TOTP code (6: what every authenticator app shows)"),
        .duration(
            "mfa.totp_period", "JWT_MFA_TOTP_PERIOD", \.mfa.totpPeriod, default: .seconds(30), max: .seconds(120), positive: true,
            "the step of TOTP codes (30s: what every authenticator app uses)"),
        .list(
            "mfa.required_roles", "JWT_MFA_REQUIRED_ROLES", \.http.mfaRequiredRoles, each: .role, defaultText: "empty",
            "roles whose users must add a second factor: after a sign-in without one they are sent to `http.security_page` (their session is AAL1 and cannot pass a location that requires AAL2)"
        ),
        .integer(
            "mfa.totp_skew", "JWT_MFA_TOTP_SKEW", \.mfa.totpSkew, default: 1, in: 0...3,
            "steps of clock difference accepted either side of now (1: a code from the previous or next 30 s works)"),
        .optionalText(
            "passkeys.rp_id", "JWT_PASSKEYS_RP_ID", \.passkeys.rpID,
            "the WebAuthn relying party id: the site's domain (`example.com`), which every origin's host must be or end in; default: the host of `http.public_url`; with neither, passkeys are off (503 `passkeys_unavailable`). Passkeys are bound to it: changing it later orphans every passkey"
        ),
        .optionalText(
            "passkeys.rp_name", "JWT_PASSKEYS_RP_NAME", \.passkeys.rpName,
            "the site's name browsers show when creating a passkey (default: `mail.from`'s name, or its domain)"),
        .list(
            "passkeys.origins", "JWT_PASSKEYS_ORIGINS", \.passkeys.origins, each: .origin, defaultText: "the origin of `http.public_url`",
            "origins whose pages may create and use passkeys (exact: scheme, host and port; `https`, or `http` only for localhost)"),
        .list(
            "passkeys.top_origins", "JWT_PASSKEYS_TOP_ORIGINS", \.passkeys.topOrigins, each: .origin, defaultText: "empty (no cross-origin frames)",
            "top-level origins that may embed those pages in a cross-origin iframe for a passkey ceremony"),
        .text(
            "passkeys.user_verification", "JWT_PASSKEYS_USER_VERIFICATION", \.passkeys.userVerification, default: "preferred",
            "`required` (a PIN or biometric on the authenticator for every use; passkeys that cannot are refused), `preferred` (asked for and recorded: a passwordless sign-in with it is AAL2, without it AAL1) or `discouraged`"
        ),
        .duration(
            "accounts.mail_answer_time", "JWT_MAIL_ANSWER_TIME", \.http.mailAnswerTime, default: .milliseconds(100),
            max: .seconds(10), milliseconds: true,
            "the routes that may send mail (forgot, verification resend, email change, a registration that waits for verification) answer no sooner than this after the request arrived, so that a known address (whose token and message are written) and an unknown one take the same time; the wait holds no thread; `0s`: answer at once"
        ),
        .duration(
            "accounts.verify_token_lifetime", "JWT_VERIFY_TOKEN_LIFETIME", \.accounts.verifyTokenLifetime,
            default: .seconds(48 * 3600), max: .seconds(30 * 86_400), positive: true,
            "how long an email verification or email change link works (single use; a newer one ends it, and it works only for the address it was sent to)"
        ),
        .flag(
            "accounts.require_verified_email", "JWT_REQUIRE_VERIFIED_EMAIL", \.accounts.requireVerifiedEmail, default: false,
            "login answers 403 `email_unverified` until the account's address is verified, and registration signs no one in (it mails the link)"
        ),
        .flag(
            "registration.enumeration_safe", "JWT_REGISTRATION_ENUMERATION_SAFE", \.accounts.enumerationSafeRegistration,
            default: false,
            "registering a taken address answers 202 like a new one and mails its owner instead (needs `accounts.require_verified_email` and mail)"
        ),
        .cookieSecure(
            "cookies.secure", "JWT_COOKIE_SECURE", "`Secure` on auth cookies; `false` is refused outside `environment = development`"),
        .flag(
            "cookies.host_prefix", "JWT_COOKIE_HOST_PREFIX", \.http.cookieHostPrefix, default: false,
            "name the access cookie `__Host-access_token`, which a sibling subdomain cannot plant or shadow (needs `cookies.secure`; see [docs/security.md](docs/security.md))"
        ),
        .duration(
            "cookies.device_lifetime", "JWT_COOKIE_DEVICE_LIFETIME", \.throttle.deviceLifetime, default: .seconds(365 * 86_400),
            max: .seconds(400 * 86_400),
            "how long a browser stays known after its last successful login (the `auth_device` cookie; at most 400 days, browsers' cap; `0s`: device cookies off)"
        ),
        .list(
            "http.allowed_origins", "JWT_ALLOWED_ORIGINS", \.http.allowedOrigins, each: .origin, defaultText: "empty (same origin only)",
            "origins allowed to make cross-origin state-changing requests (comma-separated)"),
        .list(
            "http.trusted_proxies", "JWT_TRUSTED_PROXIES", \.http.trustedProxies, each: .address, defaultText: "empty",
            "proxies whose `X-Forwarded-For` is trusted (comma-separated IPs/CIDRs)"),
        .flag(
            "registration.enabled", "JWT_REGISTRATION_ENABLED", \.http.registrationEnabled, default: true,
            "whether `POST /api/auth/register` is open (`false`: 403 `registration_disabled`)"),
        .page(
            "http.login_page", "JWT_LOGIN_PAGE", \.http.loginPage, default: "/auth/login",
            "the login page browsers are sent to (failed renewals, form errors)"),
        .page("http.register_page", "JWT_REGISTER_PAGE", \.http.registerPage, default: "/auth/register", "the registration page (form errors)"),
        .page(
            "http.forgot_page", "JWT_FORGOT_PAGE", \.http.forgotPage, default: "/auth/forgot",
            "the page that asks for a password reset link (form posts come back there)"),
        .page(
            "http.reset_page", "JWT_RESET_PAGE", \.http.resetPage, default: "/auth/reset",
            "the page a reset link opens (`?token=…`; it posts the token with the new password: opening it consumes nothing)"),
        .page(
            "http.verify_email_page", "JWT_VERIFY_EMAIL_PAGE", \.http.verifyEmailPage, default: "/auth/verify-email",
            "the page a verification or email change link opens (`?token=…`; it posts the token); also where the gate sends a browser whose address is unverified"
        ),
        .page(
            "http.mfa_page", "JWT_MFA_PAGE", \.http.mfaPage, default: "/auth/mfa",
            "the second step of a sign-in (the code), and with `?stepUp=1` the step-up the gate sends a browser to before a location that requires AAL2"
        ),
        .page(
            "http.security_page", "JWT_SECURITY_PAGE", \.http.securityPage, default: "/auth/security",
            "the security settings page (second factors); users of `mfa.required_roles` without a factor are sent there after signing in"
        ),
        .optionalText(
            "http.public_url", "JWT_AUTHD_PUBLIC_URL", \.http.publicURL,
            "the site's base URL for links in mail (`https://example.com`); required when mail is on outside development, where links otherwise use the request's host"
        ),
        .page(
            "http.default_redirect", "JWT_DEFAULT_REDIRECT", \.http.defaultRedirect, default: "/dashboard",
            "where browsers go after a login when `callbackUrl` is missing or not a same-site path"),
        .duration(
            "gate.cache_max", "JWT_GATE_CACHE_MAX", \.http.gateCacheMax, default: .seconds(60), max: .seconds(3600),
            "how long nginx may reuse the gate's answer for a valid access token, never past the token's `exp` (with nginx/jwt-authd-gate-cache.conf; `0s`: never); revocation already takes effect at `exp`, so this changes nothing for sessions"
        ),
        .duration(
            "gate.cache_api_keys", "JWT_GATE_CACHE_API_KEYS", \.http.gateCacheAPIKeys, default: .seconds(5), max: .seconds(300),
            "how long nginx may reuse the gate's answer for an API key (with the gate cache): a revoked key passes for up to this long; `0s`: never"
        ),
        .logFile("log.file", "JWT_AUTHD_LOG_FILE", "append logs to this file instead; `SIGUSR1` reopens it (logrotate)"),
        .list(
            "metrics.allow", "JWT_METRICS_ALLOW", \.http.metricsAllow, default: ["127.0.0.0/8", "::1"], each: .address,
            "client addresses (`REMOTE_ADDR`; IPs or CIDRs) that may read `/api/auth/metrics`; empty turns the route off"),
        .metricsToken(
            "metrics.token", "JWT_METRICS_TOKEN",
            "a bearer token scrapes must also present (`Authorization: Bearer …`; at least 16 bytes; `metrics.token_file` or `JWT_METRICS_TOKEN_FILE` for a file): needed when a local TLS terminator makes every client 127.0.0.1"
        ),
        .environment("environment", "JWT_AUTHD_ENV", "`development`, `test` or `production`"),
        .logLevel("log.level", "JWT_AUTHD_LOG_LEVEL", "`trace` … `critical`"),
        .flag(
            "log.requests", "JWT_AUTHD_LOG_REQUESTS", \.http.logRequests, default: true,
            "one info line per request (method, route, status, duration, user id); `false` for the fastest path"),
    ]
}

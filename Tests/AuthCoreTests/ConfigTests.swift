import AuthCore
import MariaDB
import Testing

@Suite struct ConfigTests {
    static let access = String(repeating: "a", count: 32)
    static let refresh = String(repeating: "r", count: 40)
    static let minimal: [String: String] = [
        "DATABASE_URL": "mariadb://auth:pw@127.0.0.1:3306/jwt_authd",
        "JWT_AUTHD_LISTEN": "unix:/tmp/jwt-authd.sock",
        "JWT_ACCESS_SECRET": access,
        "JWT_REFRESH_SECRET": refresh,
    ]

    private func load(
        env: [String: String] = minimal, flags: [String: String] = [:],
        file: [String: ConfigFileValue] = [:], inherited: Bool = false,
        files: [String: String] = [:]
    ) throws(ConfigError) -> Config {
        try Config.load(
            sources: ConfigSources(
                flags: flags, environment: env, file: file, inheritedSocket: inherited,
                readFile: { path in
                    guard let text = files[path] else { throw TestFileMissing() }
                    return text
                }))
    }

    private func problems(env: [String: String], file: [String: ConfigFileValue] = [:]) -> ConfigError? {
        do {
            _ = try load(env: env, file: file)
            return nil
        } catch {
            return error
        }
    }

    struct TestFileMissing: Error {}

    @Test func defaultsMatchTheSeed() throws {
        let config = try load()
        #expect(config.tokens.accessTTL == .seconds(900))
        #expect(config.tokens.refreshTTL == .seconds(604_800))
        #expect(config.tokens.sessionMaxAge == .seconds(30 * 86_400))
        #expect(config.tokens.refreshGrace == .seconds(10))
        #expect(config.tokens.leeway == .zero)
        #expect(config.tokens.issuer == "jwt-authd")
        #expect(config.environment == .production)
        #expect(config.http.cookieSecure)
        #expect(config.server.threads == 8)
        #expect(config.server.socketMode == 0o660)
        #expect(config.server.maxBodyBytes == 65536)
        #expect(config.databaseURL.database == "jwt_authd")
    }

    @Test func everyDeclaredDefaultIsTheLoadedDefault() throws {
        let config = try load()
        let shown = Dictionary(uniqueKeysWithValues: config.describedLines().map { ($0.key, $0.value) })
        var literals = 0
        for key in ConfigKey.all where key.defaultText.hasPrefix("`") && key.defaultText.hasSuffix("`") {
            literals += 1
            #expect("`\(shown[key.name] ?? "?")`" == key.defaultText, "\(key.name)")
        }
        #expect(literals >= 30, "most keys have a literal default")
        #expect(config.server.workers == Config.Server.cores)
        #expect(config.http.cookieSecure && config.log.file == nil && config.listen == "unix:/tmp/jwt-authd.sock")
    }

    @Test func everyKeyIsReadFromItsEnvironmentVariableAndTheFile() throws {
        // A value that each key's type accepts, different from its default; secrets and the database are set apart.
        for key in ConfigKey.all where !key.isSecret && key.name != "listen" && !key.name.hasSuffix("_key_file") {
            let value = Self.sample(for: key)
            var env = Self.minimal
            // Insecure cookies are refused outside development.
            if key.name == "cookies.secure" { env["JWT_AUTHD_ENV"] = "development" }
            // Enumeration-safe registration needs verified addresses and mail.
            if key.name == "registration.enumeration_safe" {
                env["JWT_REQUIRE_VERIFIED_EMAIL"] = "true"
                env["JWT_AUTHD_MAIL_TRANSPORT"] = "file"
            }
            // The file transport needs its folder.
            if key.name == "mail.transport" || key.name == "registration.enumeration_safe" {
                env["JWT_AUTHD_MAIL_DIR"] = "/var/spool/jwt-authd"
                env["JWT_AUTHD_PUBLIC_URL"] = "https://site.example"
            }
            // Passkeys need a relying party whose origin the public URL gives.
            if key.name.hasPrefix("passkeys.") {
                env["JWT_AUTHD_PUBLIC_URL"] = "https://site.example"
                env["JWT_PASSKEYS_RP_ID"] = "site.example"
            }
            let base = env
            env[key.env] = value
            let fromEnvironment = try load(env: env).describedLines().first { $0.key == key.name }?.value
            let fromFile = try load(env: base, file: [key.name: .string(value)]).describedLines().first { $0.key == key.name }?.value
            #expect(fromEnvironment == Self.normalized(value, for: key), "\(key.name) from \(key.env)")
            #expect(fromFile == fromEnvironment, "\(key.name) from the file")
        }
    }

    /// A valid non-default value for a key, by what its default looks like.
    static func sample(for key: ConfigKey) -> String {
        switch key.name {
        case "server.socket_mode": "0600"
        case "environment": "test"
        case "log.level": "debug"
        case "log.file": "/var/log/jwt-authd.log"
        case "cookies.secure": "false"
        case "throttle.ipv6_prefix": "56"
        case "metrics.token": String(repeating: "m", count: 20)
        case "http.allowed_origins": "https://a.example"
        case "http.trusted_proxies", "metrics.allow": "10.0.0.0/8"
        case "tokens.access_verify_key_files", "tokens.refresh_verify_key_files": "/etc/jwt-authd/old.jwk"
        case "tokens.issuer", "tokens.audience": "example"
        case "mail.from": "Example <noreply@mail.example>"
        case "mail.transport": "file"
        case "http.public_url": "https://site.example"
        case "mail.file_dir": "/var/spool/jwt-authd"
        case "mail.smtp_tls": "starttls"
        case "accounts.mail_answer_time": "250ms"
        case "mfa.encryption_keys": "k1:/etc/jwt-authd/mfa-k1.key"
        case "mfa.totp_digits": "8"
        case "mail.smtp_ca_file": "/etc/ssl/private-ca.pem"
        case "mail.sendmail_path": "/usr/lib/sendmail"
        case "passkeys.rp_id": "site.example"
        case "passkeys.rp_name": "Example Site"
        case "passkeys.origins": "https://login.site.example"
        case "passkeys.top_origins": "https://portal.example"
        case "passkeys.user_verification": "required"
        case "tokens.refresh_ttl": "14d"
        case "tokens.session_max_age": "60d"
        case "passwords.argon2_memory_kib", "server.max_body_bytes": "65537"
        case _ where key.name.hasPrefix("http."): "/elsewhere"
        case _ where key.defaultText == "`true`": "false"
        case _ where key.defaultText == "`false`": "true"
        case _
        where key.defaultText.hasSuffix("s`") || key.defaultText.hasSuffix("m`") || key.defaultText.hasSuffix("h`")
            || key.defaultText.hasSuffix("d`"):
            "2m"
        default: "3"
        }
    }

    /// How `config check` writes a sample back (durations in their largest whole unit).
    static func normalized(_ value: String, for key: ConfigKey) -> String { value }

    @Test(arguments: ["99999999999999999", "99999999999999999d", "9223372036854775807s"])
    func hugeDurationsAreRefusedNotTrapped(text: String) throws {
        var env = Self.minimal
        env["JWT_AUTHD_DRAIN_TIMEOUT"] = text
        #expect(try #require(problems(env: env)).mentions("server.drain_timeout"))
    }

    @Test func theDatabaseURLMayComeFromAFile() throws {
        var env = Self.minimal
        env["DATABASE_URL"] = nil
        env["DATABASE_URL_FILE"] = "/run/secrets/db"
        let url = "mariadb://auth:pw@db.example:3306/from_file\n"
        #expect(try load(env: env, files: ["/run/secrets/db": url]).databaseURL.database == "from_file")
        env["DATABASE_URL_FILE"] = nil
        let file: [String: ConfigFileValue] = ["database.url_file": .string("/run/secrets/db")]
        #expect(try load(env: env, file: file, files: ["/run/secrets/db": url]).databaseURL.host == "db.example")
        #expect(try #require(problems(env: env)).mentions("database.url"))
    }

    @Test(arguments: ["production", "test"])
    func insecureCookiesAreRefusedOutsideDevelopment(environment: String) throws {
        var env = Self.minimal
        env["JWT_AUTHD_ENV"] = environment
        env["JWT_COOKIE_SECURE"] = "false"
        let error = try #require(problems(env: env))
        #expect(error.mentions("cookies.secure") && error.description.contains("plain HTTP"))
        env["JWT_AUTHD_ENV"] = "development"
        #expect(try load(env: env).http.cookieSecure == false)
    }

    @Test func theHostPrefixNeedsSecureCookies() throws {
        var env = Self.minimal
        env["JWT_COOKIE_HOST_PREFIX"] = "true"
        #expect(try load(env: env).http.cookieHostPrefix)
        env["JWT_COOKIE_SECURE"] = "false"
        #expect(try #require(problems(env: env)).mentions("cookies.host_prefix"))
    }

    /// #16: links in mail need the site's address outside development, and a URL that is only a site's.
    @Test func mailNeedsAPublicURLOutsideDevelopmentAndAFolderForFiles() throws {
        var env = Self.minimal
        env["JWT_AUTHD_MAIL_TRANSPORT"] = "file"
        env["JWT_AUTHD_MAIL_DIR"] = "/var/spool/jwt-authd"
        #expect(try #require(problems(env: env)).mentions("http.public_url"))
        for bad in ["example.com", "ftp://example.com", "https://", "https://user@example.com", "https://example.com/?q=1", "https://a b"] {
            env["JWT_AUTHD_PUBLIC_URL"] = bad
            #expect(try #require(problems(env: env)).mentions("http.public_url"), "\(bad)")
        }
        env["JWT_AUTHD_PUBLIC_URL"] = "https://www.example.com:8443/site"
        let config = try load(env: env)
        #expect(config.http.mailEnabled && config.http.publicURL == "https://www.example.com:8443/site")
        env["JWT_AUTHD_PUBLIC_URL"] = nil
        env["JWT_AUTHD_ENV"] = "development"
        env["JWT_COOKIE_SECURE"] = "false"
        #expect(try load(env: env).http.publicURL.isEmpty, "development links use the request's host")
        env["JWT_AUTHD_MAIL_DIR"] = nil
        #expect(try #require(problems(env: env)).mentions("mail.file_dir"))
        env["JWT_AUTHD_MAIL_TRANSPORT"] = "smtp-someday"
        #expect(try #require(problems(env: env)).mentions("mail.transport"))
    }

    @Test func theMetricsTokenComesFromTheEnvironmentOrAFileAndIsMasked() throws {
        let token = String(repeating: "k", count: 24)
        var env = Self.minimal
        #expect(try load(env: env).http.metricsToken == nil)
        env["JWT_METRICS_TOKEN_FILE"] = "/run/secrets/metrics"
        let config = try load(env: env, files: ["/run/secrets/metrics": token + "\n"])
        #expect(config.http.metricsToken == Secret(token))
        #expect(!config.describedLines().contains { $0.value.contains(token) })
        let fromTOML = try load(file: ["metrics.token_file": .string("/m")], files: ["/m": token])
        #expect(fromTOML.http.metricsToken == Secret(token))
        env["JWT_METRICS_TOKEN_FILE"] = nil
        env["JWT_METRICS_TOKEN"] = "short"
        #expect(try #require(problems(env: env)).mentions("metrics.token"))
    }

    @Test func missingSecretsAreNamed() throws {
        var env = Self.minimal
        env["JWT_ACCESS_SECRET"] = nil
        env["JWT_REFRESH_SECRET"] = nil
        let error = try #require(problems(env: env))
        #expect(error.mentions("tokens.access_secret"))
        #expect(error.mentions("tokens.refresh_secret"))
        #expect(error.description.contains("JWT_ACCESS_SECRET"))
        #expect(error.description.contains("openssl rand"))
    }

    @Test func shortSecretIsRefusedWithoutPrintingIt() throws {
        var env = Self.minimal
        env["JWT_ACCESS_SECRET"] = "short-secret-value"
        let error = try #require(problems(env: env))
        #expect(error.mentions("tokens.access_secret"))
        #expect(!error.description.contains("short-secret-value"))
    }

    @Test func equalSecretsAreRefused() throws {
        var env = Self.minimal
        env["JWT_REFRESH_SECRET"] = Self.access
        let error = try #require(problems(env: env))
        #expect(error.mentions("tokens.refresh_secret"))
        #expect(!error.description.contains(Self.access))
    }

    @Test func badDatabaseURLIsNamed() throws {
        var env = Self.minimal
        env["DATABASE_URL"] = "postgres://x@y/z"
        #expect(try #require(problems(env: env)).mentions("database.url"))
        env["DATABASE_URL"] = nil
        #expect(try #require(problems(env: env)).mentions("database.url"))
    }

    @Test func listenIsRequiredUnlessASocketIsInherited() throws {
        var env = Self.minimal
        env["JWT_AUTHD_LISTEN"] = nil
        #expect(try #require(problems(env: env)).mentions("listen"))
        let config = try load(env: env, inherited: true)
        #expect(config.listen == nil)
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        let error = try #require(problems(env: ["JWT_AUTHD_THREADS": "0", "JWT_ACCESS_TTL": "soon"]))
        for key in [
            "database.url", "listen", "tokens.access_secret", "tokens.refresh_secret", "server.threads",
            "tokens.access_ttl",
        ] {
            #expect(error.mentions(key), "expected a problem for \(key)")
        }
    }

    @Test func flagsBeatEnvironmentWhichBeatsTheFile() throws {
        var env = Self.minimal
        env["JWT_AUTHD_THREADS"] = "4"
        let file: [String: ConfigFileValue] = ["server.threads": .integer(2), "tokens.issuer": .string("from-file")]
        #expect(try load(env: env, file: file).server.threads == 4)
        #expect(try load(env: env, file: file).tokens.issuer == "from-file")
        #expect(try load(env: env, flags: ["server.threads": "16"], file: file).server.threads == 16)
        env["JWT_AUTHD_THREADS"] = nil
        #expect(try load(env: env, file: file).server.threads == 2)
    }

    @Test func secretsMayComeFromFiles() throws {
        var env = Self.minimal
        env["JWT_ACCESS_SECRET"] = nil
        env["JWT_ACCESS_SECRET_FILE"] = "/run/secrets/access"
        let config = try load(env: env, files: ["/run/secrets/access": Self.access + "b\n"])
        #expect(config.tokens.accessKey == .secret(Secret(Self.access + "b")))
        env["JWT_ACCESS_SECRET_FILE"] = "/missing"
        #expect(try #require(problems(env: env)).mentions("tokens.access_secret"))
        env["JWT_ACCESS_SECRET_FILE"] = nil
        let fromFileKey = try load(
            env: env, file: ["tokens.access_secret_file": .string("/etc/a")],
            files: ["/etc/a": Self.access + "c"])
        #expect(fromFileKey.tokens.accessKey == .secret(Secret(Self.access + "c")))
    }

    @Test func aKeyFileReplacesTheSecretButNotBoth() throws {
        var env = Self.minimal
        env["JWT_ACCESS_SECRET"] = nil
        env["JWT_ACCESS_KEY_FILE"] = "/etc/jwt-authd/access.jwk"
        env["JWT_ACCESS_VERIFY_KEY_FILES"] = "/etc/jwt-authd/old1.jwk, /etc/jwt-authd/old2.pem"
        let config = try load(env: env)
        #expect(config.tokens.accessKey == .keyFile("/etc/jwt-authd/access.jwk"))
        #expect(config.tokens.accessVerifyKeyFiles == ["/etc/jwt-authd/old1.jwk", "/etc/jwt-authd/old2.pem"])
        env["JWT_ACCESS_SECRET"] = Self.access
        #expect(try #require(problems(env: env)).mentions("tokens.access_key_file"))
    }

    @Test func developmentTurnsSecureCookiesOffUnlessForced() throws {
        var env = Self.minimal
        env["JWT_AUTHD_ENV"] = "development"
        #expect(try load(env: env).http.cookieSecure == false)
        env["JWT_COOKIE_SECURE"] = "true"
        #expect(try load(env: env).http.cookieSecure == true)
        env["JWT_AUTHD_ENV"] = "staging"
        #expect(try #require(problems(env: env)).mentions("environment"))
    }

    @Test func lifetimesMustBeConsistent() throws {
        var env = Self.minimal
        env["JWT_REFRESH_TTL"] = "10m"
        #expect(try #require(problems(env: env)).mentions("tokens.refresh_ttl"))
        env["JWT_REFRESH_TTL"] = "40d"
        #expect(try #require(problems(env: env)).mentions("tokens.session_max_age"))
        env["JWT_REFRESH_TTL"] = nil
        env["JWT_LEEWAY"] = "1h"
        #expect(try #require(problems(env: env)).mentions("tokens.leeway"))
    }

    @Test func listsAndSocketModeAreParsed() throws {
        var env = Self.minimal
        env["JWT_ALLOWED_ORIGINS"] = "https://a.example, https://b.example"
        env["JWT_TRUSTED_PROXIES"] = "10.0.0.0/8,::1"
        env["JWT_AUTHD_SOCKET_MODE"] = "0666"
        let config = try load(env: env)
        #expect(config.http.allowedOrigins == ["https://a.example", "https://b.example"])
        #expect(config.http.trustedProxies == ["10.0.0.0/8", "::1"])
        #expect(config.server.socketMode == 0o666)
        env["JWT_ALLOWED_ORIGINS"] = "a.example/path"
        env["JWT_AUTHD_SOCKET_MODE"] = "rw"
        let error = try #require(problems(env: env))
        #expect(error.mentions("http.allowed_origins"))
        #expect(error.mentions("server.socket_mode"))
    }

    @Test func describedLinesMaskSecrets() throws {
        let lines = try load().describedLines()
        let text = lines.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
        #expect(!text.contains(Self.access))
        #expect(!text.contains(Self.refresh))
        #expect(!text.contains(":pw@"))
        #expect(Set(lines.map(\.key)) == Set(ConfigKey.all.map(\.name)))
    }
}

@Suite struct ConfigFileTests {
    @Test func parsesTheSubset() throws {
        let values = try ConfigSources.parseFile(
            """
            # jwt-authd
            listen = "unix:/run/jwt-authd/jwt-authd.sock"   # comment
            environment = 'development'

            [server]
            threads = 16
            [tokens]
            access_ttl = "15m"
            [cookies]
            secure = false
            [http]
            allowed_origins = ["https://a.example", "https://b.example"]
            """, path: "test.toml")
        #expect(values["listen"] == .string("unix:/run/jwt-authd/jwt-authd.sock"))
        #expect(values["environment"] == .string("development"))
        #expect(values["server.threads"] == .integer(16))
        #expect(values["cookies.secure"] == .bool(false))
        #expect(values["http.allowed_origins"] == .array(["https://a.example", "https://b.example"]))
    }

    @Test(arguments: [
        ("listen = unquoted", "line 1"), ("[server\nthreads = 1", "line 1"), ("a = \"open", "line 1"),
        ("\n\nlisten = \"x\"\nlisten = \"y\"", "line 4"), ("threads = 1", "unknown key 'threads'"),
        ("[tokens]\naccess_sekret = \"x\"", "unknown key 'tokens.access_sekret'"), ("x = [1, 2]", "line 1"),
    ])
    func reportsErrorsWithLineOrKey(text: String, expected: String) {
        do {
            _ = try ConfigSources.parseFile(text, path: "bad.toml")
            Issue.record("parsed invalid file")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
            #expect(error.description.contains("bad.toml"))
        }
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("15m", 900_000), ("7d", 604_800_000), ("10s", 10_000), ("0s", 0), ("1h30m", 5_400_000),
        ("250ms", 250), ("45", 45_000), ("2w", 1_209_600_000),
    ])
    func parses(text: String, millis: Int) {
        #expect(DurationText.milliseconds(text) == millis)
    }

    @Test(arguments: ["", "m", "10x", "-5s", "1.5h", "s10", "99999999999999999d"])
    func rejects(text: String) {
        #expect(DurationText.milliseconds(text) == nil)
    }

    @Test func formats() {
        #expect(DurationText.format(seconds: 900) == "15m")
        #expect(DurationText.format(seconds: 604_800) == "7d")
        #expect(DurationText.format(seconds: 0) == "0s")
        #expect(DurationText.format(seconds: 90) == "90s")
    }
}

/// #18: the relying party from `http.public_url` or its own keys, and what browsers would refuse caught at start.
@Suite struct PasskeyConfigTests {
    func load(_ extra: [String: String]) throws -> Config {
        try Config.load(sources: ConfigSources(environment: ConfigTests.minimal.merging(extra) { $1 }))
    }

    func problems(_ extra: [String: String]) -> String? {
        do {
            _ = try load(extra)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func theSiteURLGivesTheRelyingParty() throws {
        var config = try load(["JWT_AUTHD_PUBLIC_URL": "https://auth.example.com:8443/app"])
        #expect(config.passkeys.rpID == "auth.example.com" && config.passkeys.origins == ["https://auth.example.com:8443"])
        config = try load(["JWT_AUTHD_PUBLIC_URL": "https://auth.example.com", "JWT_PASSKEYS_RP_ID": "example.com"])
        #expect(config.passkeys.rpID == "example.com" && config.passkeys.origins == ["https://auth.example.com"])
        // Off without a site, and for a site addressed by IP (browsers refuse an IP as rp id).
        #expect(try !load([:]).passkeys.isEnabled)
        #expect(try !load(["JWT_AUTHD_PUBLIC_URL": "http://127.0.0.1:8080", "JWT_AUTHD_ENV": "development"]).passkeys.isEnabled)
        config = try load(["JWT_PASSKEYS_RP_ID": "localhost", "JWT_PASSKEYS_ORIGINS": "http://localhost:8080"])
        #expect(config.passkeys.isEnabled)
    }

    @Test(arguments: [
        (["JWT_PASSKEYS_RP_ID": "example.com"], "passkeys.origins"),
        (["JWT_PASSKEYS_RP_ID": "127.0.0.1", "JWT_PASSKEYS_ORIGINS": "https://127.0.0.1"], "passkeys.rp_id"),
        (["JWT_PASSKEYS_RP_ID": "example.com:443", "JWT_PASSKEYS_ORIGINS": "https://example.com"], "passkeys.rp_id"),
        (["JWT_PASSKEYS_RP_ID": "Example.com", "JWT_PASSKEYS_ORIGINS": "https://example.com"], "passkeys.rp_id"),
        (["JWT_PASSKEYS_RP_ID": "example.com", "JWT_PASSKEYS_ORIGINS": "https://evil-example.com"], "passkeys.origins"),
        (["JWT_PASSKEYS_RP_ID": "example.com", "JWT_PASSKEYS_ORIGINS": "http://example.com"], "passkeys.origins"),
        (["JWT_PASSKEYS_RP_ID": "example.com", "JWT_PASSKEYS_ORIGINS": "https://example.com/login"], "passkeys.origins"),
        (["JWT_PASSKEYS_ORIGINS": "https://example.com"], "passkeys.origins"),
        (
            ["JWT_PASSKEYS_RP_ID": "example.com", "JWT_PASSKEYS_ORIGINS": "https://example.com", "JWT_PASSKEYS_USER_VERIFICATION": "always"],
            "passkeys.user_verification"
        ),
    ])
    func mistakesAreRefusedAtStart(env: [String: String], key: String) {
        #expect(problems(env)?.contains(key) == true, "\(env)")
    }
}

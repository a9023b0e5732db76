import FoundationEssentials
public import MariaDB

/// The raw inputs of the configuration, highest precedence first: flags, environment, file.
public struct ConfigSources: Sendable {
    /// Command-line overrides by dotted key.
    public var flags: [String: String]
    /// The process environment.
    public var environment: [String: String]
    /// The parsed configuration file (empty when there is none).
    public var file: [String: ConfigFileValue]
    /// Whether fd 0 is a listening socket (then `listen` may be omitted).
    public var inheritedSocket: Bool
    /// Reads a `*_FILE` secret; injectable for tests.
    public var readFile: @Sendable (String) throws -> String
    /// Whether `listen` must be known (for `serve`); admin commands do not listen.
    public var requiresListen = true

    public init(flags: [String: String] = [:], environment: [String: String] = [:],
                file: [String: ConfigFileValue] = [:], inheritedSocket: Bool = false,
                readFile: @escaping @Sendable (String) throws -> String = ConfigSources.readTextFile) {
        self.flags = flags
        self.environment = environment
        self.file = file
        self.inheritedSocket = inheritedSocket
        self.readFile = readFile
    }

    /// Reads a UTF-8 text file.
    public static func readTextFile(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(filePath: path))
        guard let text = String(validating: Array(data), as: UTF8.self) else {
            throw ConfigError(problems: [.init(key: path, message: "is not UTF-8 text")])
        }
        return text
    }

    /// Parses a configuration file's text.
    ///
    /// - Throws: ``ConfigError`` naming the file, the line and what is wrong, or an unknown key.
    public static func parseFile(_ text: String, path: String) throws(ConfigError) -> [String: ConfigFileValue] {
        let values: [String: ConfigFileValue]
        do {
            values = try TOMLSubset.parse(text)
        } catch {
            throw ConfigError(problems: [.init(key: path, message: "line \(error.line): \(error.message)")])
        }
        let known = Set(ConfigKey.all.map(\.name) + ConfigKey.all.filter(\.isSecret).map { $0.name + "_file" })
        let unknown = values.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ConfigError(problems: unknown.map {
                .init(key: path, message: "unknown key '\($0)' (see the README's configuration table)")
            })
        }
        return values
    }
}

extension Config {
    /// Builds and validates the configuration.
    ///
    /// Keys, environment variables and defaults are listed in ``ConfigKey/all``. A secret may also be given as a
    /// path: `NAME_FILE` in the environment or `key_file` in the file (one trailing newline is removed).
    ///
    /// - Throws: ``ConfigError`` listing every wrong or missing value with the key to fix.
    public static func load(sources: ConfigSources) throws(ConfigError) -> Config {
        var reader = Reader(sources: sources)
        let config = reader.build()
        if !reader.problems.isEmpty { throw ConfigError(problems: reader.problems) }
        return config!
    }

    /// The effective configuration as `key = value` lines, secrets masked (for `config check`).
    public func describedLines() -> [(key: String, value: String)] {
        [
            ("database.url", databaseURL.description),
            ("listen", listen ?? "fd0 (inherited socket)"),
            ("server.workers", "\(server.workers)"),
            ("server.max_requests", "\(server.maxRequests)"),
            ("server.threads", "\(server.threads)"),
            ("server.socket_mode", "0" + String(server.socketMode, radix: 8)),
            ("server.max_body_bytes", "\(server.maxBodyBytes)"),
            ("server.drain_timeout", DurationText.format(seconds: server.drainTimeoutSeconds)),
            ("server.cleanup_interval", DurationText.format(seconds: server.cleanupIntervalSeconds)),
            ("server.emergency_restart_threshold", "\(server.emergencyRestartThreshold)"),
            ("server.emergency_restart_interval", DurationText.format(seconds: server.emergencyRestartIntervalSeconds)),
            ("tokens.access_secret", tokens.accessKey.secretDescription),
            ("tokens.refresh_secret", tokens.refreshKey.secretDescription),
            ("tokens.access_key_file", tokens.accessKey.fileDescription),
            ("tokens.access_verify_key_files", tokens.accessVerifyKeyFiles.joined(separator: ",")),
            ("tokens.refresh_key_file", tokens.refreshKey.fileDescription),
            ("tokens.refresh_verify_key_files", tokens.refreshVerifyKeyFiles.joined(separator: ",")),
            ("tokens.access_ttl", DurationText.format(seconds: tokens.accessTTLSeconds)),
            ("tokens.refresh_ttl", DurationText.format(seconds: tokens.refreshTTLSeconds)),
            ("tokens.session_max_age", DurationText.format(seconds: tokens.sessionMaxAgeSeconds)),
            ("tokens.issuer", tokens.issuer),
            ("tokens.audience", tokens.audience),
            ("tokens.leeway", DurationText.format(seconds: tokens.leewaySeconds)),
            ("tokens.refresh_grace", DurationText.format(seconds: tokens.refreshGraceSeconds)),
            ("cookies.secure", "\(cookieSecure)"),
            ("http.allowed_origins", allowedOrigins.joined(separator: ",")),
            ("http.trusted_proxies", trustedProxies.joined(separator: ",")),
            ("registration.enabled", "\(registrationEnabled)"),
            ("http.login_page", loginPage),
            ("http.register_page", registerPage),
            ("http.default_redirect", defaultRedirect),
            ("environment", environment.rawValue),
            ("log.level", logLevel),
            ("log.requests", "\(logRequests)"),
            ("log.file", logFile ?? ""),
            ("metrics.allow", metricsAllow.joined(separator: ",")),
            ("passwords.argon2_memory_kib", "\(passwords.argon2MemoryKiB)"),
            ("passwords.argon2_iterations", "\(passwords.argon2Iterations)"),
            ("passwords.argon2_parallelism", "\(passwords.argon2Parallelism)"),
            ("passwords.concurrent_hashes", "\(passwords.concurrentHashes)"),
            ("passwords.min_length", "\(passwords.minLength)"),
            ("throttle.login_per_account", "\(throttle.loginPerAccount)"),
            ("throttle.login_per_ip", "\(throttle.loginPerIP)"),
            ("throttle.register_per_ip", "\(throttle.registerPerIP)"),
            ("throttle.password_change_per_account", "\(throttle.passwordChangePerAccount)"),
            ("throttle.window", DurationText.format(seconds: throttle.windowSeconds)),
        ]
    }
}

/// Resolves each key through the sources and collects every problem instead of stopping at the first.
private struct Reader {
    let sources: ConfigSources
    var problems: [ConfigError.Problem] = []

    init(sources: ConfigSources) { self.sources = sources }

    mutating func problem(_ key: String, _ message: String) {
        problems.append(.init(key: key, message: message))
    }

    /// The raw text of a key from the highest-precedence source that has it.
    mutating func raw(_ name: String) -> String? {
        guard let key = ConfigKey.named(name) else { preconditionFailure("unknown config key \(name)") }
        if let flag = sources.flags[name] { return flag }
        if let value = sources.environment[key.env] { return value }
        if key.isSecret, let path = sources.environment[key.env + "_FILE"] { return secretFile(name, path) }
        if let value = sources.file[name] {
            switch value {
            case .string(let text): return text
            case .integer(let number): return String(number)
            case .bool(let flag): return String(flag)
            case .array(let items): return items.joined(separator: ",")
            }
        }
        if key.isSecret, case .string(let path)? = sources.file[name + "_file"] { return secretFile(name, path) }
        return nil
    }

    private mutating func secretFile(_ name: String, _ path: String) -> String? {
        do {
            var text = try sources.readFile(path)
            if text.hasSuffix("\r\n") {
                text.removeLast(2)
            } else if text.hasSuffix("\n") {
                text.removeLast()
            }
            return text
        } catch {
            problem(name, "cannot read the secret file \(path): check the path and that this user may read it")
            return ""
        }
    }

    mutating func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) -> Int {
        guard let text = raw(name) else { return value }
        guard let number = Int(text.filter { $0 != "_" }), range.contains(number) else {
            problem(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
            return value
        }
        return number
    }

    mutating func seconds(_ name: String, default value: Int, max: Int) -> Int {
        guard let text = raw(name) else { return value }
        guard let millis = DurationText.milliseconds(text), millis % 1000 == 0, millis / 1000 <= max else {
            problem(name, "must be a duration in whole seconds such as 30s, 15m, 7d (at most \(DurationText.format(seconds: max))), got '\(text)'")
            return value
        }
        return millis / 1000
    }

    mutating func bool(_ name: String, default value: Bool) -> Bool {
        guard let text = raw(name) else { return value }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default:
            problem(name, "must be true or false, got '\(text)'")
            return value
        }
    }

    mutating func list(_ name: String) -> [String] {
        guard let text = raw(name) else { return [] }
        return text.split(separator: ",").map { String($0).trimmingASCIISpaces() }.filter { !$0.isEmpty }
    }

    mutating func secret(_ name: String, orKeyFile fileKey: String) -> Config.KeySource? {
        let file = raw(fileKey).flatMap { $0.isEmpty ? nil : $0 }
        let text = raw(name).flatMap { $0.isEmpty ? nil : $0 }
        switch (text, file) {
        case (nil, nil):
            problem(name, "is missing: set at least 32 random bytes, e.g. the output of `openssl rand -base64 48` (or set \(fileKey) to a key file)")
            return nil
        case (_?, _?):
            problem(fileKey, "is set together with \(name): keep only one of them")
            return nil
        case (nil, let path?):
            return .keyFile(path)
        case (let text?, nil):
            return secret(name, text: text).map { .secret($0) }
        }
    }

    mutating func secret(_ name: String, text: String) -> Secret? {
        let secret = Secret(text)
        if secret.bytes.count < 32 {
            problem(name, "is too short (\(secret.bytes.count) bytes): use at least 32 random bytes, e.g. `openssl rand -base64 48`")
        }
        return secret
    }

    mutating func build() -> Config? {
        var databaseURL: DatabaseURL?
        if let text = raw("database.url"), !text.isEmpty {
            do {
                databaseURL = try DatabaseURL(parsing: text)
            } catch {
                problem("database.url", "\(error.message)")
            }
        } else {
            problem("database.url", "is missing: set it to mariadb://user:pass@host:port/db (or ?socket=/path)")
        }

        var listen = raw("listen")
        if let text = listen, text.isEmpty { listen = nil }
        if listen == nil && !sources.inheritedSocket && sources.requiresListen {
            problem("listen", "is missing: set unix:/run/jwt-authd/jwt-authd.sock or 127.0.0.1:9000 (or start the program with a listening socket on fd 0)")
        }

        var server = Config.Server()
        server.workers = integer("server.workers", default: server.workers, in: 1...256)
        server.maxRequests = integer("server.max_requests", default: 0, in: 0...1_000_000_000)
        server.threads = integer("server.threads", default: server.threads, in: 1...1024)
        if let text = raw("server.socket_mode") {
            if let mode = UInt32(text, radix: 8), mode <= 0o777 {
                server.socketMode = mode
            } else {
                problem("server.socket_mode", "must be an octal file mode such as 0660, got '\(text)'")
            }
        }
        server.maxBodyBytes = integer("server.max_body_bytes", default: server.maxBodyBytes, in: 1024...(16 << 20))
        server.drainTimeoutSeconds = seconds("server.drain_timeout", default: server.drainTimeoutSeconds, max: 3600)
        server.cleanupIntervalSeconds = seconds("server.cleanup_interval", default: server.cleanupIntervalSeconds, max: 7 * 86_400)
        server.emergencyRestartThreshold = integer("server.emergency_restart_threshold",
                                                   default: server.emergencyRestartThreshold, in: 0...1000)
        server.emergencyRestartIntervalSeconds = seconds("server.emergency_restart_interval",
                                                         default: server.emergencyRestartIntervalSeconds, max: 3600)

        let accessKey = secret("tokens.access_secret", orKeyFile: "tokens.access_key_file")
        let refreshKey = secret("tokens.refresh_secret", orKeyFile: "tokens.refresh_key_file")
        if let accessKey, let refreshKey, accessKey == refreshKey {
            problem("tokens.refresh_secret", "must differ from the access key (tokens.access_secret / access_key_file): generate a second one")
        }
        var tokens = Config.Tokens(accessKey: accessKey ?? .secret(Secret([])), refreshKey: refreshKey ?? .secret(Secret([])))
        tokens.accessVerifyKeyFiles = list("tokens.access_verify_key_files")
        tokens.refreshVerifyKeyFiles = list("tokens.refresh_verify_key_files")
        let year = 366 * 86_400
        tokens.accessTTLSeconds = seconds("tokens.access_ttl", default: tokens.accessTTLSeconds, max: 86_400)
        tokens.refreshTTLSeconds = seconds("tokens.refresh_ttl", default: tokens.refreshTTLSeconds, max: year)
        tokens.sessionMaxAgeSeconds = seconds("tokens.session_max_age", default: tokens.sessionMaxAgeSeconds, max: year)
        tokens.leewaySeconds = seconds("tokens.leeway", default: tokens.leewaySeconds, max: 300)
        tokens.refreshGraceSeconds = seconds("tokens.refresh_grace", default: tokens.refreshGraceSeconds, max: 300)
        for (name, ttl) in [("tokens.access_ttl", tokens.accessTTLSeconds), ("tokens.refresh_ttl", tokens.refreshTTLSeconds),
                            ("tokens.session_max_age", tokens.sessionMaxAgeSeconds)] where ttl == 0 {
            problem(name, "must be longer than 0s")
        }
        if tokens.refreshTTLSeconds <= tokens.accessTTLSeconds {
            problem("tokens.refresh_ttl", "must be longer than tokens.access_ttl")
        }
        if tokens.sessionMaxAgeSeconds < tokens.refreshTTLSeconds {
            problem("tokens.session_max_age", "must be at least tokens.refresh_ttl")
        }
        tokens.issuer = raw("tokens.issuer") ?? tokens.issuer
        tokens.audience = raw("tokens.audience") ?? tokens.audience
        if tokens.issuer.isEmpty { problem("tokens.issuer", "must not be empty") }
        if tokens.audience.isEmpty { problem("tokens.audience", "must not be empty") }

        var environment = Config.Environment.production
        if let text = raw("environment") {
            if let parsed = Config.Environment(rawValue: text.lowercased()) {
                environment = parsed
            } else {
                problem("environment", "must be development, test or production, got '\(text)'")
            }
        }
        let cookieSecure = bool("cookies.secure", default: environment != .development)
        let allowedOrigins = list("http.allowed_origins")
        for origin in allowedOrigins where !(origin.hasPrefix("https://") || origin.hasPrefix("http://")) || origin.hasSuffix("/") {
            problem("http.allowed_origins", "'\(origin)' must be an origin like https://app.example.com (scheme and host, no path)")
        }
        let trustedProxies = list("http.trusted_proxies")
        for proxy in trustedProxies where !proxy.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" || $0 == "/" }) {
            problem("http.trusted_proxies", "'\(proxy)' must be an IP address or CIDR range")
        }
        let logLevel = (raw("log.level") ?? "info").lowercased()
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) {
            problem("log.level", "must be trace, debug, info, notice, warning, error or critical, got '\(logLevel)'")
        }
        var passwords = Config.Passwords()
        passwords.argon2Parallelism = integer("passwords.argon2_parallelism", default: passwords.argon2Parallelism, in: 1...16)
        passwords.argon2MemoryKiB = integer("passwords.argon2_memory_kib", default: passwords.argon2MemoryKiB,
                                            in: (8 * passwords.argon2Parallelism)...(1 << 20))
        passwords.argon2Iterations = integer("passwords.argon2_iterations", default: passwords.argon2Iterations, in: 1...32)
        passwords.concurrentHashes = integer("passwords.concurrent_hashes", default: passwords.concurrentHashes, in: 0...1024)
        passwords.minLength = integer("passwords.min_length", default: passwords.minLength, in: 1...128)
        var throttle = Config.Throttle()
        throttle.loginPerAccount = integer("throttle.login_per_account", default: throttle.loginPerAccount, in: 1...1_000_000)
        throttle.loginPerIP = integer("throttle.login_per_ip", default: throttle.loginPerIP, in: 1...1_000_000)
        throttle.registerPerIP = integer("throttle.register_per_ip", default: throttle.registerPerIP, in: 1...1_000_000)
        throttle.passwordChangePerAccount = integer("throttle.password_change_per_account",
                                                    default: throttle.passwordChangePerAccount, in: 1...1_000_000)
        throttle.windowSeconds = seconds("throttle.window", default: throttle.windowSeconds, max: 86_400)
        if throttle.windowSeconds == 0 { problem("throttle.window", "must be longer than 0s") }
        guard let databaseURL else { return nil }
        var config = Config(databaseURL: databaseURL, listen: listen, server: server, tokens: tokens,
                            cookieSecure: cookieSecure, allowedOrigins: allowedOrigins, trustedProxies: trustedProxies,
                            environment: environment, logLevel: logLevel)
        config.passwords = passwords
        config.throttle = throttle
        config.registrationEnabled = bool("registration.enabled", default: true)
        config.logRequests = bool("log.requests", default: true)
        if let file = raw("log.file"), !file.isEmpty {
            if file.hasPrefix("/") { config.logFile = file } else { problem("log.file", "must be an absolute path, got '\(file)'") }
        }
        if raw("metrics.allow") != nil {
            config.metricsAllow = list("metrics.allow")
            for entry in config.metricsAllow where !entry.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" || $0 == "/" }) {
                problem("metrics.allow", "'\(entry)' must be an IP address or CIDR range")
            }
        }
        for (key, path) in [("http.login_page", \Config.loginPage), ("http.register_page", \Config.registerPage),
                            ("http.default_redirect", \Config.defaultRedirect)] {
            guard let value = raw(key) else { continue }
            if value.hasPrefix("/") && !value.hasPrefix("//") && !value.contains("\\") && !value.contains(where: { $0.isWhitespace }) {
                config[keyPath: path] = value
            } else {
                problem(key, "must be a path on this site such as /auth/login, got '\(value)'")
            }
        }
        return config
    }
}

extension Config.KeySource {
    var secretDescription: String {
        if case .secret(let secret) = self { return secret.description }
        return ""
    }

    var fileDescription: String {
        if case .keyFile(let path) = self { return path }
        return ""
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}

extension Config {
    /// Only the database URL, for commands that need nothing else (`migrate`).
    ///
    /// - Throws: ``ConfigError`` when `database.url` is missing or invalid.
    public static func databaseURL(sources: ConfigSources) throws(ConfigError) -> DatabaseURL {
        var reader = Reader(sources: sources)
        guard let text = reader.raw("database.url"), !text.isEmpty else {
            throw ConfigError(problems: [.init(key: "database.url",
                                               message: "is missing: set it to mariadb://user:pass@host:port/db (or ?socket=/path)")])
        }
        do {
            return try DatabaseURL(parsing: text)
        } catch {
            throw ConfigError(problems: reader.problems + [.init(key: "database.url", message: error.message)])
        }
    }
}

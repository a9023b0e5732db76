public import MariaDB

extension Config {
    /// Builds and validates the configuration: every key of ``ConfigKey/all`` read through its declaration, then
    /// the rules that tie keys together.
    ///
    /// A secret may also be given as a path: `NAME_FILE` in the environment or `key_file` in the file (one trailing
    /// newline is removed).
    ///
    /// - Throws: ``ConfigError`` listing every wrong or missing value with the key to fix.
    public static func load(sources: ConfigSources) throws(ConfigError) -> Config {
        var reader = ConfigReader(sources: sources)
        // A placeholder URL until `database.url` is read (a missing one is a problem, so it is never returned).
        var config = Config(databaseURL: try! DatabaseURL(parsing: "mariadb://localhost/placeholder"))
        for key in ConfigKey.all { key.read(&reader, &config) }
        config.checkRelations(&reader)
        if !reader.problems.isEmpty { throw ConfigError(problems: reader.problems) }
        return config
    }

    /// The rules between keys: distinct signing keys, lifetimes that nest.
    private func checkRelations(_ reader: inout ConfigReader) {
        if tokens.accessKey == tokens.refreshKey, tokens.accessKey != .secret(Secret([])) {
            reader.problem(
                "tokens.refresh_secret",
                """
                must differ from the access key (tokens.access_secret / access_key_file): generate a second one
                """)
        }
        if !http.cookieSecure && environment != .development {
            reader.problem(
                "cookies.secure",
                """
                is false outside environment = development: browsers would send the auth cookies over plain HTTP, \
                where anyone on the path can take them; serve the site over HTTPS (or set environment = development \
                for a local test)
                """)
        }
        if http.cookieHostPrefix && !http.cookieSecure {
            reader.problem("cookies.host_prefix", "needs cookies.secure = true (browsers refuse a __Host- cookie without Secure)")
        }
        if MailAddress(parsing: mail.from) == nil {
            reader.problem("mail.from", "is not an address (`Site <noreply@example.com>` or `noreply@example.com`)")
        }
        if mail.transport == .file && mail.fileDirectory.isEmpty {
            reader.problem("mail.file_dir", "is required with mail.transport = file")
        }
        if tokens.refreshTTL <= tokens.accessTTL {
            reader.problem("tokens.refresh_ttl", "must be longer than tokens.access_ttl")
        }
        if tokens.sessionMaxAge < tokens.refreshTTL {
            reader.problem("tokens.session_max_age", "must be at least tokens.refresh_ttl")
        }
    }

    /// The effective configuration as `key = value` lines, secrets masked (for `config check`), in the table's order.
    public func describedLines() -> [(key: String, value: String)] {
        ConfigKey.all.map { ($0.name, $0.show(self)) }
    }

    /// Only the database URL, for commands that need nothing else (`migrate`).
    ///
    /// - Throws: ``ConfigError`` when `database.url` is missing or invalid.
    public static func databaseURL(sources: ConfigSources) throws(ConfigError) -> DatabaseURL {
        var reader = ConfigReader(sources: sources)
        var config = Config(databaseURL: try! DatabaseURL(parsing: "mariadb://localhost/placeholder"))
        ConfigKey.named("database.url")?.read(&reader, &config)
        if !reader.problems.isEmpty { throw ConfigError(problems: reader.problems) }
        return config.databaseURL
    }
}

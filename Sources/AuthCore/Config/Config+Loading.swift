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
        config.http.mailEnabled = config.mail.transport != .none
        config.http.isDevelopment = config.environment == .development
        config.http.requireVerifiedEmail = config.accounts.requireVerifiedEmail
        config.resolvePasskeys(&reader)
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
        if !http.publicURL.isEmpty && !Self.isPublicURL(http.publicURL) {
            reader.problem("http.public_url", "must be an http(s) URL of the site: `https://example.com` (no query, no user)")
        } else if http.publicURL.isEmpty && mail.transport != .none && environment != .development {
            reader.problem(
                "http.public_url", "is required when mail.transport is not none outside development (the links in mail)")
        }
        if mail.transport == .file && mail.fileDirectory.isEmpty {
            reader.problem("mail.file_dir", "is required with mail.transport = file")
        }
        if accounts.enumerationSafeRegistration && (!accounts.requireVerifiedEmail || mail.transport == .none) {
            reader.problem(
                "registration.enumeration_safe",
                """
                needs accounts.require_verified_email = true and a mail.transport: a taken address can answer like a \
                new one only when neither signs anyone in, and its owner is told by mail
                """)
        }
        if mail.transport == .smtp && mail.smtpURL == nil {
            reader.problem("mail.smtp_url", "is required with mail.transport = smtp (`smtp://user:password@host:587`)")
        }
        if mail.smtpURL?.implicitTLS == true && mail.smtpTLS == .none {
            reader.problem("mail.smtp_tls", "is none, but mail.smtp_url is smtps:// (TLS from the first byte)")
        }
        if mail.transport == .sendmail && !mail.sendmailPath.hasPrefix("/") {
            reader.problem("mail.sendmail_path", "must be an absolute path (`/usr/sbin/sendmail`)")
        }
        if tokens.refreshTTL <= tokens.accessTTL {
            reader.problem("tokens.refresh_ttl", "must be longer than tokens.access_ttl")
        }
        if tokens.sessionMaxAge < tokens.refreshTTL {
            reader.problem("tokens.session_max_age", "must be at least tokens.refresh_ttl")
        }
    }

    /// The relying party from `http.public_url` where `passkeys.rp_id` / `passkeys.origins` are not set, then checked:
    /// a domain (browsers refuse IP addresses), origins on it, secure origins.
    private mutating func resolvePasskeys(_ reader: inout ConfigReader) {
        // A site addressed by IP (a test, a LAN) cannot have passkeys: the default stays off rather than fail.
        let site = Self.isPublicURL(http.publicURL) ? Self.origin(of: http.publicURL) : nil
        if passkeys.rpID.isEmpty, let site, Self.isDomain(Self.host(of: site)) { passkeys.rpID = Self.host(of: site) }
        if passkeys.origins.isEmpty, let site, !passkeys.rpID.isEmpty { passkeys.origins = [site] }
        if !["required", "preferred", "discouraged"].contains(passkeys.userVerification) {
            reader.problem("passkeys.user_verification", "must be required, preferred or discouraged")
        }
        guard passkeys.isEnabled else {
            if !passkeys.origins.isEmpty {
                reader.problem("passkeys.origins", "needs passkeys.rp_id (or http.public_url)")
            }
            return
        }
        let id = passkeys.rpID
        guard Self.isDomain(id) else {
            reader.problem(
                "passkeys.rp_id", "must be a domain in lower case such as example.com (not an IP address, port or URL), got '\(id)'")
            return
        }
        if passkeys.origins.isEmpty { reader.problem("passkeys.origins", "is required with passkeys.rp_id (or set http.public_url)") }
        for origin in passkeys.origins {
            let host = Self.host(of: origin)
            if host != id && !host.hasSuffix("." + id) {
                reader.problem("passkeys.origins", "'\(origin)' is not on the relying party id \(id) (its host must be \(id) or end in .\(id))")
            } else if origin.hasPrefix("http://") && host != "localhost" && !host.hasSuffix(".localhost") {
                reader.problem("passkeys.origins", "'\(origin)' must be https (browsers allow http only for localhost)")
            } else if Self.origin(of: origin) != origin {
                reader.problem("passkeys.origins", "'\(origin)' must be an origin: scheme, host and port only")
            }
        }
    }

    /// A host name in lower case (LDH labels), not an IPv4 address.
    static func isDomain(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return text.count <= 253 && !labels.contains { $0.isEmpty || $0.count > 63 || $0.hasPrefix("-") || $0.hasSuffix("-") }
            && text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
            && !labels.allSatisfy { $0.allSatisfy(\.isNumber) }
    }

    /// `scheme://host[:port]` of a URL.
    static func origin(of url: String) -> String {
        for scheme in ["https://", "http://"] where url.hasPrefix(scheme) {
            return scheme + String(url.dropFirst(scheme.count).prefix { $0 != "/" })
        }
        return url
    }

    /// The host of an origin or URL, without port, lower-cased.
    static func host(of url: String) -> String {
        let authority = origin(of: url).split(separator: "/").last.map(String.init) ?? ""
        if authority.hasPrefix("[") { return authority.lowercased() }
        return String(authority.prefix { $0 != ":" }).lowercased()
    }

    /// `https://host[:port][/path]`: no query, fragment, user or white space.
    static func isPublicURL(_ text: String) -> Bool {
        guard text.hasPrefix("https://") || text.hasPrefix("http://") else { return false }
        let rest = text.drop(while: { $0 != "/" }).dropFirst(2)
        guard let host = rest.split(separator: "/", omittingEmptySubsequences: false).first, !host.isEmpty else { return false }
        return !text.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F || "?#@\\\"<>".unicodeScalars.contains($0) }
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

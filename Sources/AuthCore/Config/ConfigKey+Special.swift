import MariaDB

/// The keys whose reading is more than a type and a range: the database URL, the listen address, the socket mode,
/// the signing keys, the Argon2 memory (bounded by the lanes), the cookies' default, the log settings.
extension ConfigKey {
    static func databaseURL(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "required", summary: summary, isSecret: true,
            read: { reader, config in
                guard let text = reader.raw(name, env, isSecret: true), !text.isEmpty else {
                    reader.problem(name, "is missing: set it to mariadb://user:pass@host:port/db (or ?socket=/path)")
                    return
                }
                do throws(MariaDBError) {
                    config.databaseURL = try DatabaseURL(parsing: text)
                } catch {
                    reader.problem(name, error.message)
                }
            }, show: { $0.databaseURL.description })
    }

    static func listen(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "fd 0 if it is a socket, else required", summary: summary, isSecret: false,
            read: { reader, config in
                config.listen = reader.raw(name, env).flatMap { $0.isEmpty ? nil : $0 }
                if config.listen == nil && !reader.sources.inheritedSocket && reader.sources.requiresListen {
                    reader.problem(
                        name,
                        """
                        is missing: set unix:/run/jwt-authd/jwt-authd.sock or 127.0.0.1:9000 (or start the program \
                        with a listening socket on fd 0)
                        """)
                }
            }, show: { $0.listen ?? "fd0 (inherited socket)" })
    }

    static func socketMode(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`0660`", summary: summary, isSecret: false,
            read: { reader, config in
                config.server.socketMode = 0o660
                guard let text = reader.raw(name, env) else { return }
                if let mode = UInt32(text, radix: 8), mode <= 0o777 {
                    config.server.socketMode = mode
                } else {
                    reader.problem(name, "must be an octal file mode such as 0660, got '\(text)'")
                }
            }, show: { "0" + String($0.server.socketMode, radix: 8) })
    }

    /// An HS256 secret (at least 32 bytes), or a key file named by `fileKey`: exactly one of the two.
    private static func signingKey(
        _ name: String, _ env: String, fileKey: String, _ path: Path<Config.KeySource>,
        _ summary: String
    ) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "required unless `\(fileKey.split(separator: ".").last ?? "")`",
            summary: summary, isSecret: true,
            read: { reader, config in
                let file = reader.raw(named: fileKey).flatMap { $0.isEmpty ? nil : $0 }
                let text = reader.raw(name, env, isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
                switch (text, file) {
                case (nil, nil):
                    reader.problem(
                        name,
                        """
                        is missing: set at least 32 random bytes, e.g. the output of `openssl rand -base64 48` (or \
                        set \(fileKey) to a key file)
                        """)
                case (_?, _?):
                    reader.problem(fileKey, "is set together with \(name): keep only one of them")
                case (nil, let file?):
                    config[keyPath: path] = .keyFile(file)
                case (let text?, nil):
                    let secret = Secret(text)
                    if secret.bytes.count < 32 {
                        reader.problem(
                            name,
                            """
                            is too short (\(secret.bytes.count) bytes): use at least 32 random bytes, e.g. \
                            `openssl rand -base64 48`
                            """)
                    }
                    config[keyPath: path] = .secret(secret)
                }
            },
            show: { config in
                if case .secret(let secret) = config[keyPath: path] { return secret.description }
                return ""
            })
    }

    static func accessSecret(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        signingKey(name, env, fileKey: "tokens.access_key_file", \.tokens.accessKey, summary)
    }

    static func refreshSecret(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        signingKey(name, env, fileKey: "tokens.refresh_key_file", \.tokens.refreshKey, summary)
    }

    /// The key file alternative of a secret: read together with the secret (``signingKey``), shown here.
    private static func keyFile(_ name: String, _ env: String, _ path: Path<Config.KeySource>, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "none", summary: summary, isSecret: false,
            read: { _, _ in },
            show: { config in
                if case .keyFile(let file) = config[keyPath: path] { return file }
                return ""
            })
    }

    static func accessKeyFile(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        keyFile(name, env, \.tokens.accessKey, summary)
    }

    static func refreshKeyFile(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        keyFile(name, env, \.tokens.refreshKey, summary)
    }

    /// Argon2's memory must be at least 8 KiB per lane.
    static func argon2Memory(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`19456`", summary: summary, isSecret: false,
            read: { reader, config in
                let lanes = reader.raw(named: "passwords.argon2_parallelism").flatMap { Int($0) } ?? 1
                let range = (8 * min(max(lanes, 1), 16))...(1 << 20)
                config.passwords.argon2MemoryKiB =
                    reader.raw(name, env).flatMap {
                        reader.integer(name, $0, in: range)
                    } ?? 19 * 1024
            }, show: { "\($0.passwords.argon2MemoryKiB)" })
    }

    /// `mail.transport`: one of the transports by name.
    static func mailTransport(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`none`", summary: summary, isSecret: false,
            read: { reader, config in
                guard let text = reader.raw(name, env) else { return }
                guard let transport = Config.Mail.Transport(rawValue: text.lowercased()) else {
                    let known = Config.Mail.Transport.allCases.map(\.rawValue).joined(separator: ", ")
                    reader.problem(name, "must be one of \(known)")
                    return
                }
                config.mail.transport = transport
            }, show: { $0.mail.transport.rawValue })
    }

    /// `mail.smtp_url`, a secret (it may hold the password): parsed, never shown.
    static func smtpURL(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "unset", summary: summary, isSecret: true,
            read: { reader, config in
                guard let text = reader.raw(name, env, isSecret: true), !text.isEmpty else { return }
                do throws(SMTPURLError) {
                    config.mail.smtpURL = try SMTPURL(parsing: text)
                } catch {
                    reader.problem(name, "\(error.reason) (`smtp://user:password@host:587` or `smtps://host:465`)")
                }
            }, show: { $0.mail.smtpURL?.description ?? "" })
    }

    static func smtpTLS(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`auto`", summary: summary, isSecret: false,
            read: { reader, config in
                guard let text = reader.raw(name, env) else { return }
                guard let mode = Config.Mail.SMTPTLS(rawValue: text.lowercased()) else {
                    reader.problem(name, "must be one of \(Config.Mail.SMTPTLS.allCases.map(\.rawValue).joined(separator: ", "))")
                    return
                }
                config.mail.smtpTLS = mode
            }, show: { $0.mail.smtpTLS.rawValue })
    }

    /// Secure cookies everywhere but in development, unless set.
    static func cookieSecure(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "true unless `environment = development`", summary: summary,
            isSecret: false,
            read: { reader, config in
                let environment = reader.raw(named: "environment").flatMap { Config.Environment(rawValue: $0.lowercased()) }
                let fallback = environment != .development
                config.http.cookieSecure = reader.raw(name, env).flatMap { reader.bool(name, $0) } ?? fallback
            }, show: { "\($0.http.cookieSecure)" })
    }

    /// An optional secret of at least 16 bytes.
    static func metricsToken(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "none", summary: summary, isSecret: true,
            read: { reader, config in
                guard let text = reader.raw(name, env, isSecret: true), !text.isEmpty else { return }
                if text.utf8.count < 16 {
                    reader.problem(name, "is too short (\(text.utf8.count) bytes): use at least 16 random bytes, e.g. `openssl rand -hex 32`")
                }
                config.http.metricsToken = Secret(text)
            }, show: { $0.http.metricsToken?.description ?? "" })
    }

    static func environment(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`production`", summary: summary, isSecret: false,
            read: { reader, config in
                config.environment = .production
                guard let text = reader.raw(name, env) else { return }
                if let parsed = Config.Environment(rawValue: text.lowercased()) {
                    config.environment = parsed
                } else {
                    reader.problem(name, "must be development, test or production, got '\(text)'")
                }
            }, show: { $0.environment.rawValue })
    }

    static func logLevel(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        return ConfigKey(
            name: name, env: env, defaultText: "`info`", summary: summary, isSecret: false,
            read: { reader, config in
                let level = (reader.raw(name, env) ?? "info").lowercased()
                if !levels.contains(level) {
                    reader.problem(name, "must be \(levels.dropLast().joined(separator: ", ")) or critical, got '\(level)'")
                }
                config.log.level = level
            }, show: { $0.log.level })
    }

    static func logFile(_ name: String, _ env: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "standard error", summary: summary, isSecret: false,
            read: { reader, config in
                guard let file = reader.raw(name, env), !file.isEmpty else { return }
                if file.hasPrefix("/") {
                    config.log.file = file
                } else {
                    reader.problem(name, "must be an absolute path, got '\(file)'")
                }
            }, show: { $0.log.file ?? "" })
    }
}

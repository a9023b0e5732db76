import AuthCore
import AuthHTTP
import Glibc
import Logging
import MariaDB
import Passwords
import ProcessManager

/// The composition root: the one place that builds the object graph — configuration → keys → settings → password
/// hasher for the process, then database → services (→ responder) for each thread or command. `serve`, every admin
/// command and the validation of a reload all start here, so they cannot disagree about what a valid
/// configuration is.
struct ServiceGraph {
    let config: Config
    let settings: AuthSettings
    let hasher: Argon2Hasher

    /// Why the graph could not be built: a configuration problem (exit 78 with every wrong key), or the hasher.
    enum Failure: Error, CustomStringConvertible {
        case configuration(ConfigError)
        case hasher(String)

        var description: String {
            switch self {
            case .configuration(let error): "\(error)"
            case .hasher(let reason): "the password hasher refused its parameters: \(reason)"
            }
        }
    }

    /// Loads and validates the configuration, the keys and the hasher's parameters.
    ///
    /// - Parameters:
    ///   - flags: Command-line values, by configuration key.
    ///   - requiresListen: `false` for commands that do not serve.
    static func load(
        configPath: String?, flags: [String: String] = [:], requiresListen: Bool = true, serviceUser: String? = nil
    ) throws(Failure) -> ServiceGraph {
        let config: Config
        let keys: TokenKeys
        let templates: MailTemplates
        let mfaKeys: MFAKeyRing?
        do throws(ConfigError) {
            var sources = try ConfigLoading.sources(configPath: configPath, flags: flags)
            sources.requiresListen = requiresListen
            config = try Config.load(sources: sources)
            let permissionProblems = SecretFileCheck.problems(
                SecretFileCheck.files(config: config, sources: sources), serviceUser: serviceUser)
            if !permissionProblems.isEmpty { throw ConfigError(problems: permissionProblems) }
            keys = try TokenKeys.load(config.tokens, readFile: ConfigSources.readTextFile)
            templates = try MailTemplateFiles.load(directory: config.mail.templatesDirectory)
            mfaKeys = try MFAKeyFiles.load(config.mfa.keyReferences)
        } catch {
            throw .configuration(error)
        }
        do {
            let hasher = try Argon2Hasher(parameters: AuthSettings.argon2Parameters(config))
            return ServiceGraph(
                config: config, settings: AuthSettings(config: config, keys: keys, templates: templates, mfaKeys: mfaKeys),
                hasher: hasher)
        } catch {
            throw .hasher("\(error)")
        }
    }

    /// ``load(configPath:flags:requiresListen:)``, or the problem on standard error and exit status 78 (EX_CONFIG).
    static func loadOrExit(
        configPath: String?, flags: [String: String] = [:], requiresListen: Bool = true, serviceUser: String? = nil
    ) -> ServiceGraph {
        do {
            return try load(configPath: configPath, flags: flags, requiresListen: requiresListen, serviceUser: serviceUser)
        } catch {
            if case .configuration(let problems) = error { ConfigLoading.fail(problems) }
            writeStandardError("jwt-authd: \(error)\n")
            exit(78)
        }
    }

    /// The services of one worker thread: its own database connection, opened on first use (a worker starts while
    /// MariaDB is down), and the pool's password hashing limit.
    func threadServices(hasher: any PasswordHashing, logger: Logger) -> AuthServices {
        AuthServices(
            settings: settings, database: Database(url: config.databaseURL, logger: logger), hasher: hasher,
            logger: logger)
    }

    /// The responder of one worker thread.
    func responder(hasher: any PasswordHashing, metrics: ServiceMetrics, logger: Logger) -> AuthResponder {
        AuthResponder(
            http: config.http, services: threadServices(hasher: hasher, logger: logger), metrics: metrics,
            logger: logger)
    }

    /// The services of an admin command, connected now (a command should fail at once when MariaDB is down).
    func commandServices(logger: Logger) throws(MariaDBError) -> AuthServices {
        AuthServices(
            settings: settings, database: Database(connection: try Connection(url: config.databaseURL), logger: logger),
            hasher: hasher, logger: logger)
    }

    /// The services of an admin command from the configuration (exit 78 on a bad configuration, 1 when MariaDB
    /// cannot be reached).
    static func adminServices(configPath: String?, logger: Logger) -> AuthServices {
        let graph = loadOrExit(configPath: configPath, requiresListen: false)
        do {
            return try graph.commandServices(logger: logger)
        } catch {
            writeStandardError("jwt-authd: \(error)\n")
            exit(1)
        }
    }
}

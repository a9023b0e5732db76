import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import Logging
import MariaDB
import Passwords

/// The domain, built from the configuration, for the admin commands.
enum AuthEnvironment {
    static func make(configPath: String?, logger: Logger) -> Auth {
        do {
            var sources = try ConfigLoading.sources(configPath: configPath, flags: [:])
            sources.requiresListen = false
            let config = try Config.load(sources: sources)
            let keys = try TokenKeys.load(config.tokens, readFile: ConfigSources.readTextFile)
            let hasher = try Argon2Hasher(parameters: AuthSettings.argon2Parameters(config))
            return Auth(settings: AuthSettings(config: config, keys: keys), connection: try Connection(url: config.databaseURL),
                        hasher: hasher, logger: logger)
        } catch let error as ConfigError {
            ConfigLoading.fail(error)
        } catch {
            writeStandardError("jwt-authd: \(error)\n")
            Glibc.exit(1)
        }
    }
}

struct Cleanup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete expired and long-revoked sessions, tokens and API keys, and ended throttle windows.",
        discussion: "Works in batches (short transactions, no long table locks); safe to run while serving.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Rows per batch.")
    var batchSize: Int = 1000

    @Flag(help: "Take the MariaDB named lock 'jwt_authd_cleanup' first, and do nothing if another host holds it.")
    var lock = false

    func run() throws {
        guard batchSize > 0, batchSize <= 100_000 else { throw ValidationError("--batch-size must be 1 to 100000") }
        let auth = AuthEnvironment.make(configPath: options.config, logger: Logger(label: "jwt-authd.cleanup"))
        if lock {
            let got = try auth.connection.query("SELECT GET_LOCK('jwt_authd_cleanup', 0) AS got").first?.optionalInt("got")
            guard got == 1 else {
                print("another host is cleaning up; skipped")
                return
            }
        }
        let report = try auth.cleanup(batchSize: batchSize)
        if lock { _ = try? auth.connection.query("SELECT RELEASE_LOCK('jwt_authd_cleanup') AS released") }
        print("deleted: \(report)")
    }
}

import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import JOSE
import Logging
import MariaDB

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the database schema (idempotent; safe to run on every deploy).")

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the SQL of every migration instead of applying it.")
    var print = false

    func run() throws {
        if print {
            for migration in Migration.all {
                Swift.print("-- \(migration.version): \(migration.name)")
                for statement in migration.statements { Swift.print(statement + ";\n") }
            }
            return
        }
        let url: DatabaseURL
        do {
            url = try Config.databaseURL(sources: try ConfigLoading.sources(configPath: options.config, flags: [:]))
        } catch {
            ConfigLoading.fail(error)
        }
        let logger = Logger(label: "jwt-authd.migrate")
        do {
            let connection = try Connection(url: url)
            let applied = try Migrator(connection: connection, logger: logger).migrate()
            Swift.print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
        } catch {
            writeStandardError("jwt-authd: migrate failed on \(url): \(error)\n")
            throw ExitCode(1)
        }
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Inspect the configuration.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration and print the effective values, secrets masked.")

        @OptionGroup var options: ConfigOptions

        @Option(help: "Check with this listen address (as serve --listen would), e.g. fd0 under mod_fcgid.")
        var listen: String?

        func run() throws {
            do {
                let config = try Config.load(sources: try ConfigLoading.sources(configPath: options.config,
                                                                                flags: listen.map { ["listen": $0] } ?? [:]))
                let keys = try TokenKeys.load(config.tokens, readFile: ConfigSources.readTextFile)
                for (key, value) in config.describedLines() { Swift.print("\(key) = \(value)") }
                for (type, set) in [("access", keys.access), ("refresh", keys.refresh)] {
                    let ids = set.verificationKeys.map { "\($0.algorithm.rawValue):\($0.id ?? "-")" }
                    Swift.print("# \(type) keys (signing first): \(ids.joined(separator: ", "))")
                }
            } catch {
                ConfigLoading.fail(error)
            }
        }
    }
}

import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import JOSE
import Logging
import MariaDB
import ProcessManager

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
                if migration.rows != nil { Swift.print("-- then row work in jwt-authd itself (see its source)\n") }
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
            let applied = try Migrator(connection: connection, logger: logger, report: { Swift.print("migrate: \($0)") }).migrate()
            Swift.print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
        } catch {
            writeStandardError("jwt-authd: migrate failed on \(url): \(error)\n")
            throw ExitCode(1)
        }
    }
}

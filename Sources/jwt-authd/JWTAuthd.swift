import ArgumentParser

/// The jwt-authd command line.
@main
struct JWTAuthd: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "jwt-authd",
        abstract: "JWT authentication service: a FastCGI responder for nginx, with refresh tokens in MariaDB.",
        version: version,
        subcommands: [
            Serve.self, Migrate.self, UserCommand.self, SessionsCommand.self, APIKeyCommand.self, Cleanup.self, MailCommand.self,
            MFACommand.self,
            ConfigCommand.self, Keys.self, BenchJOSE.self, VersionCommand.self,
        ]
    )
}

/// Options every subcommand that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (TOML). Default: $JWT_AUTHD_CONFIG, else /etc/jwt-authd/jwt-authd.toml if present.")
    var config: String?
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("jwt-authd \(JWTAuthd.version)")
    }
}

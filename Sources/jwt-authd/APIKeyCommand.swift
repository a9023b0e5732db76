import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import Logging
import ProcessManager

struct APIKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey", abstract: "Manage API keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key; the key is printed once.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Owner's email address.") var email: String
        @Option(help: "A name for the key.") var name: String
        @Option(help: "Days until it expires (default: accounts.api_key_lifetime, 90 days).") var days: Int?
        @Option(help: "read (GET, HEAD and OPTIONS only behind the gate) or full.") var scope: String = "full"
        func validate() throws {
            guard APIKeyScope(rawValue: scope) != nil else { throw ValidationError("--scope must be read or full") }
            if let days, days < 1 { throw ValidationError("--days must be at least 1") }
        }
        func run() throws {
            let auth = UserCommand.auth(options)
            let expiry = days.map { Date().addingTimeInterval(Double($0) * 86_400) }
            let created = try adminRun {
                try auth.apiKeys.createAPIKey(
                    userID: try UserCommand.find(auth, email).id, name: name, expiresAt: expiry, scope: APIKeyScope(rawValue: scope) ?? .read)
            }
            print(created.rawKey)
            writeStandardError("key \(created.info.id) created; it is shown only now\n")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A user's active API keys.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Owner's email address.") var email: String
        func run() throws {
            let auth = UserCommand.auth(options)
            for key in try auth.apiKeys.apiKeys(of: try UserCommand.find(auth, email).id) {
                print(
                    "\(key.id)  \(key.prefix)…  \(key.name)  \(key.scope.rawValue)  expires \(key.expiresAt.map { "\($0)" } ?? "never")"
                        + "  last used \(key.lastUsedAt.map { "\($0)" } ?? "never")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Owner's email address.") var email: String
        @Argument(help: "Key id.") var id: String
        func run() throws {
            let auth = UserCommand.auth(options)
            guard try auth.apiKeys.revokeAPIKey(id: id, of: try UserCommand.find(auth, email).id) else { throw CommandError("no such active key") }
            print("revoked \(id)")
        }
    }
}

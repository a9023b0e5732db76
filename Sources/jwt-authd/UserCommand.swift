import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import Logging

/// Domain errors as one-line command failures.
func adminRun<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as AuthError {
        // Operators need the cause of a database failure; the client-facing message alone would hide it.
        throw CommandError(error.internalCause.map { "\(error.message) (\($0))" } ?? error.message)
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users.",
        subcommands: [Add.self, List.self, Passwd.self, Role.self, VerifyEmail.self, MFA.self, Delete.self])

    static func auth(_ options: ConfigOptions) -> AuthServices {
        ServiceGraph.adminServices(configPath: options.config, logger: Logger(label: "jwt-authd.admin"))
    }

    static func find(_ auth: AuthServices, _ email: String) throws -> User {
        guard let user = try auth.accounts.user(email: email) else { throw CommandError("no user with the email \(email)") }
        return user
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user; the password is read from the terminal or stdin.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Email address.") var email: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Role (default user).") var role: String = "user"
        @Flag(help: "Create the user without a password (it cannot log in until one is set).") var noPassword = false
        @Flag(help: "Mark the email as verified.") var verified = false

        func run() throws {
            let auth = UserCommand.auth(options)
            let password = noPassword ? nil : try PasswordInput.read(prompt: "Password for \(email): ", confirm: true)
            let user = try adminRun { try auth.accounts.createUser(email: email, password: password, name: name, role: role) }
            if verified { try adminRun { try auth.accounts.markEmailVerified(userID: user.id) } }
            print("created \(user.email) (\(user.id), role \(user.role))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var options: ConfigOptions
        func run() throws {
            for user in try UserCommand.auth(options).accounts.users() {
                print("\(user.id)  \(user.email)  \(user.role)\(user.emailVerifiedAt == nil ? "" : "  verified")")
            }
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a user's password (read from the terminal or stdin); every session of the user is revoked.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Email address.") var email: String
        func run() throws {
            let auth = UserCommand.auth(options)
            let user = try UserCommand.find(auth, email)
            let password = try PasswordInput.read(prompt: "New password for \(email): ", confirm: true)
            try adminRun { try auth.accounts.setPassword(userID: user.id, password) }
            print("password set; all sessions of \(email) revoked")
        }
    }

    struct Role: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's role (takes effect with the next access token).")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Email address.") var email: String
        @Argument(help: "The new role.") var role: String
        func run() throws {
            let auth = UserCommand.auth(options)
            try adminRun { try auth.accounts.setRole(userID: try UserCommand.find(auth, email).id, role) }
            print("\(email) now has the role \(role)")
        }
    }

    struct VerifyEmail: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify-email", abstract: "Mark a user's email as verified.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Email address.") var email: String
        func run() throws {
            let auth = UserCommand.auth(options)
            try adminRun { try auth.accounts.markEmailVerified(userID: try UserCommand.find(auth, email).id) }
            print("\(email) verified")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user with their sessions and API keys.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Email address.") var email: String
        func run() throws {
            let auth = UserCommand.auth(options)
            try adminRun { try auth.accounts.deleteUser(id: try UserCommand.find(auth, email).id) }
            print("deleted \(email)")
        }
    }
}

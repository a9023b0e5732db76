import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import Logging

/// Reads a password without echo from a terminal, or one line from standard input — never from argv.
enum PasswordInput {
    static func read(prompt: String, confirm: Bool) throws -> String {
        if isatty(STDIN_FILENO) == 1 {
            let first = try readHidden(prompt)
            if confirm, try readHidden("Again: ") != first { throw CommandError("the passwords differ") }
            return first
        }
        guard let line = Swift.readLine(strippingNewline: true), !line.isEmpty else {
            throw CommandError("no password on standard input")
        }
        return line
    }

    private static func readHidden(_ prompt: String) throws -> String {
        writeStandardError(prompt)
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            writeStandardError("\n")
        }
        guard let line = Swift.readLine(strippingNewline: true), !line.isEmpty else { throw CommandError("no password given") }
        return line
    }
}

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
        subcommands: [Add.self, List.self, Passwd.self, Role.self, VerifyEmail.self, Delete.self])

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

struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sessions", abstract: "Inspect and revoke sessions.",
                                                    subcommands: [List.self, Revoke.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A user's active sessions.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Email address.") var email: String
        func run() throws {
            let auth = UserCommand.auth(options)
            for session in try auth.sessions.sessions(of: try UserCommand.find(auth, email).id) {
                print("\(session.id)  last used \(session.lastUsedAt)  \(session.ip ?? "-")  \(session.userAgent ?? "-")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke one session, or --all of a user's.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Email address.") var email: String
        @Argument(help: "Session id (omit with --all).") var session: String?
        @Flag(help: "Revoke every session of the user.") var all = false
        func run() throws {
            let auth = UserCommand.auth(options)
            let user = try UserCommand.find(auth, email)
            if all {
                print("revoked \(try auth.sessions.revokeAllSessions(of: user.id)) session(s)")
            } else {
                guard let session else { throw ValidationError("give a session id or --all") }
                guard try auth.sessions.revokeSession(session, of: user.id) else { throw CommandError("no such active session") }
                print("revoked \(session)")
            }
        }
    }
}

struct APIKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apikey", abstract: "Manage API keys.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key; the key is printed once.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Owner's email address.") var email: String
        @Option(help: "A name for the key.") var name: String
        @Option(help: "Days until it expires (default: never).") var days: Int?
        func run() throws {
            let auth = UserCommand.auth(options)
            let expiry = days.map { Date().addingTimeInterval(Double($0) * 86_400) }
            let created = try adminRun {
                try auth.apiKeys.createAPIKey(userID: try UserCommand.find(auth, email).id, name: name, expiresAt: expiry)
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
                print("\(key.id)  \(key.prefix)…  \(key.name)  last used \(key.lastUsedAt.map { "\($0)" } ?? "never")")
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

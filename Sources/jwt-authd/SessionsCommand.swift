import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import Logging

struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions", abstract: "Inspect and revoke sessions.",
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

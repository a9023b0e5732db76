import ArgumentParser
import AuthCore
import FoundationEssentials

extension UserCommand {
    /// `user mfa list|reset EMAIL`: a user's second factors, and the administrator's way out when a user lost them.
    struct MFA: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mfa", abstract: "A user's second factors.", subcommands: [List.self, Reset.self])

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List a user's second factors and the recovery codes left.")
            @OptionGroup var options: ConfigOptions
            @Argument(help: "Email address.") var email: String
            func run() throws {
                let auth = UserCommand.auth(options)
                let user = try UserCommand.find(auth, email)
                let summary = try adminRun { try auth.mfa.summary(userID: user.id) }
                if summary.factors.isEmpty { print("\(email) has no second factor") }
                for factor in summary.factors {
                    let used = factor.lastUsedAt.map { "last used \(Self.text($0))" } ?? "never used"
                    print("\(factor.id)  \(factor.kind)  \(factor.name ?? "-")  added \(Self.text(factor.createdAt))  \(used)")
                }
                print("recovery codes left: \(summary.recoveryCodesLeft)")
            }

            static func text(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle()) }
        }

        struct Reset: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove every second factor and recovery code of a user (who lost them); their sessions are revoked.",
                discussion: "Check the user's identity first: this lets anyone with the password (or the mailbox) sign in with it alone.")
            @OptionGroup var options: ConfigOptions
            @Argument(help: "Email address.") var email: String
            func run() throws {
                let auth = UserCommand.auth(options)
                let user = try UserCommand.find(auth, email)
                let removed = try adminRun { try auth.mfa.removeAll(userID: user.id) }
                // Sessions that passed a factor that no longer exists end with it (the API keys stay).
                _ = try adminRun { try auth.sessions.revokeAllSessions(of: user.id, keeping: nil, keepingAPIKeys: true) }
                print("removed \(removed) second factor\(removed == 1 ? "" : "s") of \(email); their sessions are revoked")
            }
        }
    }
}

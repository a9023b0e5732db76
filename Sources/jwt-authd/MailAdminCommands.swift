import ArgumentParser
import AuthCore
import FoundationEssentials
import Logging

extension MailCommand {
    struct Queue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The outbox: counts and the unsent messages; make queued ones due now, or drop one.",
            discussion: """
                A failed message keeps no body (it held a live link): it cannot be sent again; the user asks again.
                """)
        @OptionGroup var options: ConfigOptions
        @Option(help: "Make a queued message due now (its id, or `all`): its back-off wait is skipped.") var retry: String?
        @Option(help: "Delete one queued or failed message (its id).") var drop: String?

        func run() throws {
            let logger = Logger(label: "jwt-authd.mail")
            let services = ServiceGraph.adminServices(configPath: options.config, logger: logger)
            let delivery = MailDeliveryService(database: services.database, logger: logger, maxAge: .seconds(86_400))
            if let retry {
                let count = try delivery.retryNow(id: retry == "all" ? nil : retry)
                if count == 0 && retry != "all" { throw CommandError("no queued message \(retry)") }
                print("\(count) message\(count == 1 ? "" : "s") due now")
                return
            }
            if let drop {
                guard try delivery.drop(id: drop) else {
                    throw CommandError("no unsent message \(drop) (or a sender is sending it now: try again in a while)")
                }
                print("dropped \(drop)")
                return
            }
            let stats = try delivery.stats()
            print(
                "queued \(stats.queued) (oldest \(Int(stats.oldestQueuedAge)) s), sent \(stats.sent), retried \(stats.retried), failed \(stats.failed)"
            )
            for entry in try delivery.unsent() {
                var line = "\(entry.id)  \(entry.status)  attempts \(entry.attempts)  to \(entry.recipient)"
                if entry.status == "queued" { line += "  next \(entry.nextAttemptAt.formatted(.iso8601))" }
                if let error = entry.lastError { line += "  last: \(error)" }
                print(line)
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a test message through mail.transport now (not through the outbox) and show the answer.")
        @OptionGroup var options: ConfigOptions
        @Option(help: "The address to send it to.") var to: String

        func run() throws {
            let graph = ServiceGraph.loadOrExit(configPath: options.config, requiresListen: false)
            guard let transport = MailTransports.make(graph.config.mail) else {
                throw CommandError("mail.transport is none: set mail.transport (smtp, sendmail or file) first")
            }
            let message = graph.settings.mail.test(to: to, now: Date())
            guard let bytes = message.rendered() else { throw CommandError("\(to) is not an address") }
            print("sending to \(to) through \(MailTransports.describe(graph.config.mail))")
            switch transport.send(bytes, id: "test-\(Identifier.make(at: Date()))", to: to) {
            case .sent(let answer):
                print("accepted: \(answer)")
            case .transient(let answer):
                throw CommandError("not delivered (a later attempt might work): \(answer)")
            case .permanent(let answer):
                throw CommandError("refused: \(answer)")
            }
        }
    }
}

import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import Logging
import ProcessManager

struct MailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail", abstract: "Deliver and inspect the mail outbox; send a test message.",
        subcommands: [Deliver.self, Queue.self, Test.self])

    struct Deliver: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver due messages through mail.transport (once, or every --interval until stopped).",
            discussion: """
                Several senders (hosts) may run at once: each message is claimed by one of them. Delivery is at least \
                once: a sender that dies between the server's acceptance and its mark sends the message again, with \
                the same Message-ID, when its claim runs out.
                """)
        @OptionGroup var options: ConfigOptions
        @Flag(help: "One pass, then exit.") var once = false
        @Option(help: "Seconds between passes.") var interval: Double = 1
        /// Set by `serve` for its companion: the sender ends with its supervisor (and at once if it is already gone).
        @Option(name: .customLong("supervisor-pid"), help: .hidden) var supervisorPID: Int32?

        func run() throws {
            guard interval > 0, interval <= 60 else { throw ValidationError("--interval must be above 0 and at most 60") }
            if let supervisorPID, !ProcessSignals.terminateWithParent(expectedParent: supervisorPID) { throw ExitCode(0) }
            let logger = Logger(label: "jwt-authd.mail")
            let graph = ServiceGraph.loadOrExit(configPath: options.config, requiresListen: false)
            guard let transport = MailTransports.make(graph.config.mail) else {
                throw CommandError("mail.transport is none: nothing can be delivered")
            }
            let services: AuthServices
            do {
                services = try graph.commandServices(logger: logger)
            } catch {
                throw CommandError("cannot reach MariaDB: \(error)")
            }
            let delivery = MailDeliveryService(
                database: services.database, logger: logger, maxAge: graph.config.mail.maxAge,
                firstRetry: graph.config.mail.retryDelay, lease: max(.seconds(60), graph.config.mail.smtpTimeout * 4))
            let sender = "\(ProcessSetup.hostName())/\(getpid())"
            if !once { logger.info("mail sender started", metadata: ["transport": "\(MailTransports.describe(graph.config.mail))"]) }
            repeat {
                do {
                    let report = try delivery.deliverDue(sender: sender, transport: transport)
                    if once { print("sent \(report.sent), retried \(report.retried), failed \(report.failed)") }
                } catch {
                    // The database may be away for a while: the next pass tries again.
                    logger.error("mail delivery pass failed", metadata: ["error": "\(error)"])
                    if once { throw error }
                }
                if !once { usleep(UInt32(interval * 1_000_000)) }
            } while !once
        }
    }
}

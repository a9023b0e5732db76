import ArgumentParser
import AuthCore
import Logging

struct MFACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mfa", abstract: "Second factors: re-seal their secrets after a key rotation.", subcommands: [RotateKey.self])

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-seal every factor secret under the first key of mfa.encryption_keys, in batches (resumable).",
            discussion: """
                Give every host the new key first (second in mfa.encryption_keys), then put it first, reload, and run \
                this once: afterwards the old key may be removed. Each row is re-sealed on its own; running it again \
                continues. Rows whose key is no longer configured are counted and left alone.
                """)
        @OptionGroup var options: ConfigOptions
        @Option(help: "Rows per batch.") var batchSize = 500

        func run() throws {
            guard batchSize > 0, batchSize <= 10_000 else { throw ValidationError("--batch-size must be 1 to 10000") }
            let services = ServiceGraph.adminServices(configPath: options.config, logger: Logger(label: "jwt-authd.mfa"))
            var resealed = 0
            var unreadable = 0
            var cursor: String? = ""
            while let after = cursor {
                // (Not through adminRun: Swift 6.3's SILGen crashes on a typed-throws closure returning this tuple.)
                do {
                    let batch = try services.mfa.resealBatch(after: after, batchSize: batchSize)
                    resealed += batch.resealed
                    unreadable += batch.unreadable
                    cursor = batch.next
                } catch {
                    throw CommandError(error.internalCause.map { "\(error.message) (\($0))" } ?? error.message)
                }
            }
            print("re-sealed \(resealed) factor secret\(resealed == 1 ? "" : "s") under \(services.settings.mfaKeys?.currentID ?? "?")")
            if unreadable > 0 {
                throw CommandError("\(unreadable) secret\(unreadable == 1 ? "" : "s") could not be opened (a key no longer configured?); see the log")
            }
        }
    }
}

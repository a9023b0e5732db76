import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import Logging
import ProcessManager

struct Cleanup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete expired and long-revoked sessions, tokens and API keys, and ended throttle windows.",
        discussion: "Works in batches (short transactions, no long table locks); safe to run while serving.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Rows per batch.")
    var batchSize: Int = 1000

    @Flag(help: "Take the cleanup lease (a row of the leases table) first, and do nothing if another host holds it.")
    var lock = false

    func run() throws {
        guard batchSize > 0, batchSize <= 100_000 else { throw ValidationError("--batch-size must be 1 to 100000") }
        let services = ServiceGraph.adminServices(configPath: options.config, logger: Logger(label: "jwt-authd.cleanup"))
        if lock {
            guard let report = try adminRun({ () throws(AuthError) in try services.cleanup.cleanupIfUnlocked(batchSize: batchSize) })
            else {
                print("another host is cleaning up; skipped")
                return
            }
            print("deleted: \(report)")
        } else {
            print("deleted: \(try adminRun { () throws(AuthError) in try services.cleanup.cleanup(batchSize: batchSize) })")
        }
    }
}

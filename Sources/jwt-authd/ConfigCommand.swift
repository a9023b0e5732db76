import ArgumentParser
import AuthCore
import FoundationEssentials
import Glibc
import JOSE
import Logging
import MariaDB

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Inspect the configuration.", subcommands: [Check.self, Reference.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration and print the effective values, secrets masked.")

        @OptionGroup var options: ConfigOptions

        @Option(help: "Check with this listen address (as serve --listen would), e.g. fd0 under mod_fcgid.")
        var listen: String?

        @Option(help: "Check the secret files' owners as for serve --user USER.")
        var user: String?

        func run() throws {
            // The composition root's checks, as at a start: the configuration, the secret files, the keys, the hasher.
            let graph = ServiceGraph.loadOrExit(
                configPath: options.config, flags: listen.map { ["listen": $0] } ?? [:], serviceUser: user)
            for (key, value) in graph.config.describedLines() { Swift.print("\(key) = \(value)") }
            for (type, set) in [("access", graph.settings.accessSigner.keys), ("refresh", graph.settings.refreshSigner.keys)] {
                let ids = set.verificationKeys.map { "\($0.algorithm.rawValue):\($0.id ?? "-")" }
                Swift.print("# \(type) keys (signing first): \(ids.joined(separator: ", "))")
            }
        }
    }

    struct Reference: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every configuration key as the README's Markdown table (key, environment, default, meaning).")

        func run() throws {
            Swift.print(ConfigKey.markdownTable)
        }
    }
}

import AuthCore
import FastCGI
import FoundationEssentials
import Glibc
import ProcessManager

/// Gathers the configuration sources of this process and reports problems the way operators need them.
enum ConfigLoading {
    static let defaultPath = "/etc/jwt-authd/jwt-authd.toml"

    /// Flags, the environment and the configuration file.
    ///
    /// - Throws: ``ConfigError`` when the file is missing (if named) or malformed.
    static func sources(configPath: String?, flags: [String: String]) throws(ConfigError) -> ConfigSources {
        let environment = ProcessInfo.processInfo.environment
        var file: [String: ConfigFileValue] = [:]
        let named = configPath ?? environment["JWT_AUTHD_CONFIG"]
        let path = named ?? (FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : nil)
        if let path {
            let text: String
            do {
                text = try ConfigSources.readTextFile(path)
            } catch let error as ConfigError {
                throw error
            } catch {
                throw ConfigError(problems: [
                    .init(
                        key: path,
                        message: """
                            cannot be read: check the path and permissions (\(Self.unreadableReason(path, error)))
                            """)
                ])
            }
            file = try ConfigSources.parseFile(text, path: path)
        }
        var sources = ConfigSources(
            flags: flags, environment: environment, file: file,
            inheritedSocket: ListenSocket.inheritedSocketIsPresent())
        sources.filePath = path
        return sources
    }

    /// Why a configuration file could not be read, in the system's words (missing, no permission, a directory);
    /// the read's own error when the file looks readable.
    private static func unreadableReason(_ path: String, _ error: any Error) -> String {
        FileStatus.unreadableReason(path) ?? "\(error)"
    }

    /// Prints a configuration error and exits with EX_CONFIG (78).
    static func fail(_ error: ConfigError) -> Never {
        writeStandardError("jwt-authd: \(error)\n")
        exit(78)
    }
}

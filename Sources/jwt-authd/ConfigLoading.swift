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
        return ConfigSources(
            flags: flags, environment: environment, file: file,
            inheritedSocket: ListenSocket.inheritedSocketIsPresent())
    }

    /// Why a configuration file could not be read, in the system's words (missing, no permission, a directory);
    /// the read's own error when the file looks readable.
    private static func unreadableReason(_ path: String, _ error: any Error) -> String {
        FileStatus.unreadableReason(path) ?? "\(error)"
    }

    /// Key files must not be readable by other users (like ssh's private keys). A file readable by its group is
    /// fine (e.g. group `jwt-authd` for the workers after `--user`); one that anybody can read is refused.
    static func keyFilePermissionProblems(_ tokens: Config.Tokens) -> [ConfigError.Problem] {
        var problems: [ConfigError.Problem] = []
        var files: [(String, String)] = []
        if case .keyFile(let path) = tokens.accessKey { files.append(("tokens.access_key_file", path)) }
        if case .keyFile(let path) = tokens.refreshKey { files.append(("tokens.refresh_key_file", path)) }
        for (key, path) in files {
            guard let status = FileStatus(path: path) else { continue }  // a missing file is reported by the key loader
            if status.permissions & 0o004 != 0 {
                let mode = String(status.permissions & 0o777, radix: 8)
                problems.append(
                    .init(
                        key: key,
                        message: """
                            \(path) is readable by every user (mode 0\(mode)): chmod 600 (or 640 with the service's group)
                            """))
            }
        }
        return problems
    }

    /// Prints a configuration error and exits with EX_CONFIG (78).
    static func fail(_ error: ConfigError) -> Never {
        writeStandardError("jwt-authd: \(error)\n")
        exit(78)
    }
}

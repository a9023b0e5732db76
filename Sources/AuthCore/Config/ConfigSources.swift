import FoundationEssentials

/// The raw inputs of the configuration, highest precedence first: flags, environment, file.
public struct ConfigSources: Sendable {
    /// Command-line overrides by dotted key.
    public var flags: [String: String]
    /// The process environment.
    public var environment: [String: String]
    /// The parsed configuration file (empty when there is none).
    public var file: [String: ConfigFileValue]
    /// Whether fd 0 is a listening socket (then `listen` may be omitted).
    public var inheritedSocket: Bool
    /// Reads a `*_FILE` secret; injectable for tests.
    public var readFile: @Sendable (String) throws -> String
    /// Whether `listen` must be known (for `serve`); admin commands do not listen.
    public var requiresListen = true
    /// The configuration file the values of ``file`` come from, if any.
    public var filePath: String?

    public init(
        flags: [String: String] = [:], environment: [String: String] = [:],
        file: [String: ConfigFileValue] = [:], inheritedSocket: Bool = false,
        readFile: @escaping @Sendable (String) throws -> String = ConfigSources.readTextFile
    ) {
        self.flags = flags
        self.environment = environment
        self.file = file
        self.inheritedSocket = inheritedSocket
        self.readFile = readFile
    }

    /// Reads a UTF-8 text file.
    public static func readTextFile(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(filePath: path))
        guard let text = String(validating: Array(data), as: UTF8.self) else {
            throw ConfigError(problems: [.init(key: path, message: "is not UTF-8 text")])
        }
        return text
    }

    /// Parses a configuration file's text.
    ///
    /// - Throws: ``ConfigError`` naming the file, the line and what is wrong, or an unknown key.
    public static func parseFile(_ text: String, path: String) throws(ConfigError) -> [String: ConfigFileValue] {
        let values: [String: ConfigFileValue]
        do {
            values = try TOMLSubset.parse(text)
        } catch {
            throw ConfigError(problems: [.init(key: path, message: "line \(error.line): \(error.message)")])
        }
        let known = Set(ConfigKey.all.map(\.name) + ConfigKey.all.filter(\.isSecret).map { $0.name + "_file" })
        let unknown = values.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ConfigError(
                problems: unknown.map {
                    .init(key: path, message: "unknown key '\($0)' (see the README's configuration table)")
                })
        }
        return values
    }
}

/// Why the configuration cannot be used: every problem found, each naming its key, its environment variable and
/// the fix. Never contains a secret value.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// One wrong or missing value.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The dotted key, e.g. `tokens.access_secret` (or the file path for a file that cannot be read).
        public let key: String
        /// What is wrong and how to fix it.
        public let message: String

        public init(key: String, message: String) {
            self.key = key
            self.message = message
        }

        public var description: String {
            if let known = ConfigKey.named(key) { return "\(key) (\(known.env)): \(message)" }
            return "\(key): \(message)"
        }
    }

    public let problems: [Problem]

    public init(problems: [Problem]) { self.problems = problems }

    /// Whether a problem concerns the key.
    public func mentions(_ key: String) -> Bool { problems.contains { $0.key == key } }

    public var description: String {
        "invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

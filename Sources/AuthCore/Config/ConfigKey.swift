/// One configuration key, declared once: its name in the file (and for command-line overrides), its environment
/// variable, its default, its documentation, whether it is a secret — and how its value is read, checked and shown.
///
/// The table ``ConfigKey/all`` drives loading, unknown-key detection, `config check` and the README's table
/// (``ConfigKey/markdownTable``; a test keeps the README in step).
public struct ConfigKey: Sendable {
    /// The dotted name in the TOML file, also used for command-line overrides.
    public let name: String
    /// The environment variable (byte for byte; some are irregular, e.g. `JWT_THROTTLE_PASSWORD_CHANGE`).
    public let env: String
    /// The default, as Markdown for the docs.
    public let defaultText: String
    /// What the key means, as Markdown for the docs.
    public let summary: String
    /// Whether the value is a secret: masked when printed, and also readable from `NAME_FILE` / `name_file`.
    public let isSecret: Bool
    /// Reads the key from the sources into the configuration (the default when no source has it); a wrong value
    /// is recorded as a problem and the default kept.
    let read: @Sendable (inout ConfigReader, inout Config) -> Void
    /// The effective value as `config check` prints it (secrets masked).
    let show: @Sendable (Config) -> String

    /// The key with a dotted name.
    public static func named(_ name: String) -> ConfigKey? { all.first { $0.name == name } }

    /// The README's configuration table, derived from ``all``.
    public static var markdownTable: String {
        (["| key | environment | default | meaning |", "| --- | --- | --- | --- |"]
            + all.map { "| `\($0.name)` | `\($0.env)` | \($0.defaultText) | \($0.summary) |" }).joined(separator: "\n")
    }
}

extension ConfigKey {
    typealias Path<Value> = any WritableKeyPath<Config, Value> & Sendable

    /// A whole number in a range.
    static func integer(
        _ name: String, _ env: String, _ path: Path<Int>, default value: Int, in range: ClosedRange<Int>,
        defaultText: String? = nil, _ summary: String
    ) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: defaultText ?? "`\(value)`", summary: summary, isSecret: false,
            read: { reader, config in
                config[keyPath: path] = reader.raw(name, env).flatMap { reader.integer(name, $0, in: range) } ?? value
            }, show: { "\($0[keyPath: path])" })
    }

    /// A duration in whole seconds (`30s`, `15m`, `7d`, `1h30m`) up to `max`; `positive`: zero is refused.
    static func duration(
        _ name: String, _ env: String, _ path: Path<Duration>, default value: Duration, max: Duration,
        positive: Bool = false, milliseconds: Bool = false, _ summary: String
    ) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`\(DurationText.format(value))`", summary: summary, isSecret: false,
            read: { reader, config in
                let parsed = reader.raw(name, env).flatMap { reader.duration(name, $0, max: max, milliseconds: milliseconds) } ?? value
                if positive && parsed == .zero { reader.problem(name, "must be longer than 0s") }
                config[keyPath: path] = parsed
            }, show: { DurationText.format($0[keyPath: path]) })
    }

    /// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    static func flag(_ name: String, _ env: String, _ path: Path<Bool>, default value: Bool, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`\(value)`", summary: summary, isSecret: false,
            read: { reader, config in
                config[keyPath: path] = reader.raw(name, env).flatMap { reader.bool(name, $0) } ?? value
            }, show: { "\($0[keyPath: path])" })
    }

    /// Non-empty text.
    static func text(_ name: String, _ env: String, _ path: Path<String>, default value: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`\(value)`", summary: summary, isSecret: false,
            read: { reader, config in
                let text = reader.raw(name, env) ?? value
                if text.isEmpty { reader.problem(name, "must not be empty") }
                config[keyPath: path] = text
            }, show: { $0[keyPath: path] })
    }

    /// Free text that may stay unset (empty).
    static func optionalText(_ name: String, _ env: String, _ path: Path<String>, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "unset", summary: summary, isSecret: false,
            read: { reader, config in config[keyPath: path] = reader.raw(name, env) ?? "" },
            show: { $0[keyPath: path] })
    }

    /// A path on this site (`/auth/login`): no scheme, no `//`, no backslash, no space.
    static func page(_ name: String, _ env: String, _ path: Path<String>, default value: String, _ summary: String) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: "`\(value)`", summary: summary, isSecret: false,
            read: { reader, config in
                config[keyPath: path] = value
                guard let text = reader.raw(name, env) else { return }
                if text.hasPrefix("/") && !text.hasPrefix("//") && !text.contains("\\")
                    && !text.contains(where: { $0.isWhitespace })
                {
                    config[keyPath: path] = text
                } else {
                    reader.problem(name, "must be a path on this site such as /auth/login, got '\(text)'")
                }
            }, show: { $0[keyPath: path] })
    }

    /// What each entry of a list must be.
    enum ListEntry: Sendable {
        case any, origin, address, keyReference, role

        /// The problem with an entry, or `nil`.
        func problem(_ entry: String) -> String? {
            switch self {
            case .any:
                return nil
            case .origin:
                let valid = (entry.hasPrefix("https://") || entry.hasPrefix("http://")) && !entry.hasSuffix("/")
                return valid ? nil : "'\(entry)' must be an origin like https://app.example.com (scheme and host, no path)"
            case .address:
                let valid = entry.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" || $0 == "/" }
                return valid ? nil : "'\(entry)' must be an IP address or CIDR range"
            case .keyReference:
                return MFAKeyReference(entry) == nil
                    ? "'\(entry)' must be ID:/absolute/path (an id of 1 to 32 letters, digits, - or _; the file holds 32 random bytes in base64)"
                    : nil
            case .role:
                let valid =
                    !entry.isEmpty && entry.count <= 32
                    && entry.unicodeScalars.allSatisfy {
                        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
                    }
                return valid ? nil : "'\(entry)' must be a role (1 to 32 letters, digits, _ or -)"
            }
        }
    }

    /// A comma-separated list (a TOML array in the file).
    static func list(
        _ name: String, _ env: String, _ path: Path<[String]>, default value: [String] = [],
        each entry: ListEntry = .any, defaultText: String? = nil, _ summary: String
    ) -> ConfigKey {
        ConfigKey(
            name: name, env: env, defaultText: defaultText ?? (value.isEmpty ? "empty" : "`\(value.joined(separator: ","))`"),
            summary: summary, isSecret: false,
            read: { reader, config in
                guard let text = reader.raw(name, env) else {
                    config[keyPath: path] = value
                    return
                }
                let items = ConfigReader.list(text)
                for item in items { if let problem = entry.problem(item) { reader.problem(name, problem) } }
                config[keyPath: path] = items
            }, show: { $0[keyPath: path].joined(separator: ",") })
    }
}

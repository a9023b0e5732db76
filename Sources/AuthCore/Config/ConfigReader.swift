/// Resolves keys through the sources (flags, environment, the file; secrets also from `NAME_FILE` and `name_file`)
/// and collects every problem instead of stopping at the first.
struct ConfigReader {
    let sources: ConfigSources
    private(set) var problems: [ConfigError.Problem] = []

    init(sources: ConfigSources) { self.sources = sources }

    /// Records a problem (once: a key read twice, e.g. as another key's dependency, reports it once).
    mutating func problem(_ key: String, _ message: String) {
        let problem = ConfigError.Problem(key: key, message: message)
        if !problems.contains(problem) { problems.append(problem) }
    }

    /// The raw text of a declared key.
    mutating func raw(named name: String) -> String? {
        guard let key = ConfigKey.named(name) else { preconditionFailure("unknown config key \(name)") }
        return raw(key.name, key.env, isSecret: key.isSecret)
    }

    /// The raw text of a key from the highest-precedence source that has it.
    mutating func raw(_ name: String, _ env: String, isSecret: Bool = false) -> String? {
        if let flag = sources.flags[name] { return flag }
        if let value = sources.environment[env] { return value }
        if isSecret, let path = sources.environment[env + "_FILE"] { return secretFile(name, path) }
        if let value = sources.file[name] {
            switch value {
            case .string(let text): return text
            case .integer(let number): return String(number)
            case .bool(let flag): return String(flag)
            case .array(let items): return items.joined(separator: ",")
            }
        }
        if isSecret, case .string(let path)? = sources.file[name + "_file"] { return secretFile(name, path) }
        return nil
    }

    private mutating func secretFile(_ name: String, _ path: String) -> String? {
        do {
            var text = try sources.readFile(path)
            if text.hasSuffix("\r\n") {
                text.removeLast(2)
            } else if text.hasSuffix("\n") {
                text.removeLast()
            }
            return text
        } catch {
            problem(name, "cannot read the secret file \(path): check the path and that this user may read it")
            return ""
        }
    }

    /// A whole number in `range` (`_` separators allowed), or `nil` with a problem.
    mutating func integer(_ name: String, _ text: String, in range: ClosedRange<Int>) -> Int? {
        guard let number = Int(text.filter { $0 != "_" }), range.contains(number) else {
            problem(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
            return nil
        }
        return number
    }

    /// A duration in whole seconds up to `max`, or `nil` with a problem.
    mutating func duration(_ name: String, _ text: String, max: Duration, milliseconds: Bool = false) -> Duration? {
        guard let millis = DurationText.milliseconds(text), milliseconds || millis % 1000 == 0, Duration.milliseconds(millis) <= max
        else {
            let examples = milliseconds ? "250ms, 2s" : "in whole seconds such as 30s, 15m, 7d"
            problem(name, "must be a duration \(examples) (at most \(DurationText.format(max))), got '\(text)'")
            return nil
        }
        return .milliseconds(millis)
    }

    /// `true`/`false` (and `1`/`0`, `yes`/`no`, `on`/`off`), or `nil` with a problem.
    mutating func bool(_ name: String, _ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default:
            problem(name, "must be true or false, got '\(text)'")
            return nil
        }
    }

    /// The entries of a comma-separated list, trimmed, empty ones dropped.
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingASCIISpaces() }.filter { !$0.isEmpty }
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}

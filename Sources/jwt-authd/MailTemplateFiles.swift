import AuthCore
import FoundationEssentials

/// `mail.templates_dir`: files that replace built-in texts, read and checked once at start (a typo in a placeholder
/// or a file name is a start-up error naming the file, not a message with `{{nmae}}` in it).
enum MailTemplateFiles {
    static let key = "mail.templates_dir"

    /// The templates: the built-in ones, each part replaced by its file when there is one.
    static func load(directory: String) throws(ConfigError) -> MailTemplates {
        guard !directory.isEmpty else { return MailTemplates() }
        let files = FileManager.default
        guard let names = try? files.contentsOfDirectory(atPath: directory)
        else { throw ConfigError(problems: [.init(key: key, message: "\(directory) is not a readable folder")]) }
        var problems: [ConfigError.Problem] = []
        var templates = MailTemplates.builtIn
        let kinds = MailTemplates.Kind.allCases.map(\.rawValue)
        for name in names.sorted() where !name.hasPrefix(".") {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, let kind = MailTemplates.Kind(rawValue: parts[0]), ["subject", "txt", "html"].contains(parts[1])
            else {
                problems.append(
                    .init(
                        key: key,
                        message:
                            "\(name) is no template: name files <kind>.subject, <kind>.txt or <kind>.html, kinds \(kinds.joined(separator: ", "))"
                    ))
                continue
            }
            guard let data = files.contents(atPath: "\(directory)/\(name)"), let text = String(data: data, encoding: .utf8) else {
                problems.append(.init(key: key, message: "\(directory)/\(name) cannot be read as UTF-8 text"))
                continue
            }
            var template = templates[kind]!  // every kind starts built in
            switch parts[1] {
            case "subject":
                let line = text.hasSuffix("\n") ? String(text.dropLast()) : text
                guard !line.isEmpty, !line.contains("\n"), !line.contains("\r") else {
                    problems.append(.init(key: key, message: "\(name) must hold one line"))
                    continue
                }
                template.subject = line
            case "txt": template.text = text
            default: template.html = text
            }
            let unknown = template.unknownPlaceholders(known: kind.placeholders)
            if !unknown.isEmpty {
                problems.append(
                    .init(
                        key: key,
                        message:
                            "\(name) uses \(unknown.map { "{{\($0)}}" }.joined(separator: ", ")), which \(kind.rawValue) does not fill (it fills \(kind.placeholders.sorted().map { "{{\($0)}}" }.joined(separator: ", ")))"
                    ))
                continue
            }
            templates[kind] = template
        }
        if !problems.isEmpty { throw ConfigError(problems: problems) }
        return MailTemplates(templates: templates)
    }
}

/// The texts of the service's messages: a subject, a plain-text body and an HTML body per kind, with placeholders
/// `{{name}}` filled in when a message is composed (HTML-escaped in the HTML body). Built in; each may be replaced
/// from `mail.templates_dir` (`<kind>.subject`, `<kind>.txt`, `<kind>.html`).
public struct MailTemplates: Sendable, Equatable {
    /// One kind of message.
    public enum Kind: String, Sendable, CaseIterable {
        case passwordReset = "password-reset"
        case verifyEmail = "verify-email"
        case changeEmail = "change-email"
        case emailChangedNotice = "email-change-notice"
        case accountExists = "account-exists"
        case test

        /// The placeholders this kind fills in (`site` and `email` in every one).
        public var placeholders: Set<String> {
            switch self {
            case .passwordReset, .verifyEmail: ["site", "email", "link", "expires"]
            case .changeEmail: ["site", "email", "new_email", "link", "expires"]
            case .emailChangedNotice: ["site", "email", "new_email"]
            case .accountExists: ["site", "email", "reset_link"]
            case .test: ["site", "email"]
            }
        }
    }

    public struct Template: Sendable, Equatable {
        public var subject: String
        public var text: String
        public var html: String

        public init(subject: String, text: String, html: String) {
            self.subject = subject
            self.text = text
            self.html = html
        }

        /// The placeholders used in the three parts that `known` does not hold (a typo in a custom template).
        public func unknownPlaceholders(known: Set<String>) -> [String] {
            var unknown: [String] = []
            for part in [subject, text, html] {
                for name in MailTemplates.placeholders(in: part) where !known.contains(name) && !unknown.contains(name) {
                    unknown.append(name)
                }
            }
            return unknown
        }
    }

    public var templates: [Kind: Template]

    public init(templates: [Kind: Template] = MailTemplates.builtIn) {
        self.templates = templates
    }

    public subscript(kind: Kind) -> Template { templates[kind] ?? Self.builtIn[kind]! }

    /// Fills `{{name}}` placeholders; `escape` is applied to each value (HTML). An unknown name stays as written.
    static func fill(_ template: String, _ values: [String: String], escape: (String) -> String = { $0 }) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstRange(of: "{{") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.firstRange(of: "}}") else {
                rest = rest[open.lowerBound...]
                break
            }
            let name = String(after[..<close.lowerBound].filter { $0 != " " })
            if let value = values[name] {
                out += escape(value)
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = after[close.upperBound...]
        }
        return out + rest
    }

    static func placeholders(in template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstRange(of: "{{"), let close = rest[open.upperBound...].firstRange(of: "}}") {
            names.append(String(rest[open.upperBound..<close.lowerBound].filter { $0 != " " }))
            rest = rest[close.upperBound...]
        }
        return names
    }

    private static let htmlStart = "<!doctype html><html><body style=\"font-family: sans-serif\">\n"
    private static let htmlEnd = "\n</body></html>\n"

    public static let builtIn: [Kind: Template] = [
        .passwordReset: Template(
            subject: "Reset your {{site}} password",
            text: """
                Someone (we hope you) asked to reset the password of your {{site}} account, {{email}}.

                Open this link to choose a new password. It works once, for {{expires}}:
                {{link}}

                If you did not ask for this, ignore this message: your password stays as it is.

                """,
            html: htmlStart + """
                <p>Someone (we hope you) asked to reset the password of your {{site}} account, {{email}}.</p>
                <p><a href="{{link}}">Choose a new password</a> (the link works once, for {{expires}}).</p>
                <p>If you did not ask for this, ignore this message: your password stays as it is.</p>
                """ + htmlEnd),
        .verifyEmail: Template(
            subject: "Confirm your email address for {{site}}",
            text: """
                Please confirm that {{email}} is your address for your {{site}} account.

                Open this link to confirm it. It works once, for {{expires}}:
                {{link}}

                If you did not create an account, ignore this message.

                """,
            html: htmlStart + """
                <p>Please confirm that {{email}} is your address for your {{site}} account.</p>
                <p><a href="{{link}}">Confirm my address</a> (the link works once, for {{expires}}).</p>
                <p>If you did not create an account, ignore this message.</p>
                """ + htmlEnd),
        .changeEmail: Template(
            subject: "Confirm your new email address for {{site}}",
            text: """
                Someone (we hope you) asked to change the address of a {{site}} account to {{new_email}}.

                Open this link to confirm the change. It works once, for {{expires}}:
                {{link}}

                If you did not ask for this, ignore this message: nothing changes.

                """,
            html: htmlStart + """
                <p>Someone (we hope you) asked to change the address of a {{site}} account to {{new_email}}.</p>
                <p><a href="{{link}}">Confirm the new address</a> (the link works once, for {{expires}}).</p>
                <p>If you did not ask for this, ignore this message: nothing changes.</p>
                """ + htmlEnd),
        .emailChangedNotice: Template(
            subject: "Your {{site}} email address is about to change",
            text: """
                Someone signed in to your {{site}} account, {{email}}, asked to change its address to {{new_email}}.
                The change happens when the link sent to the new address is opened.

                If this was not you, sign in and change your password now: the change then cannot complete.

                """,
            html: htmlStart + """
                <p>Someone signed in to your {{site}} account, {{email}}, asked to change its address to {{new_email}}.
                The change happens when the link sent to the new address is opened.</p>
                <p>If this was not you, sign in and change your password now: the change then cannot complete.</p>
                """ + htmlEnd),
        .accountExists: Template(
            subject: "You already have a {{site}} account",
            text: """
                Someone (we hope you) tried to create a {{site}} account with {{email}}, but you already have one.

                Forgot your password? Choose a new one here:
                {{reset_link}}

                If this was not you, ignore this message: nothing changed.

                """,
            html: htmlStart + """
                <p>Someone (we hope you) tried to create a {{site}} account with {{email}}, but you already have one.</p>
                <p>Forgot your password? <a href="{{reset_link}}">Choose a new one</a>.</p>
                <p>If this was not you, ignore this message: nothing changed.</p>
                """ + htmlEnd),
        .test: Template(
            subject: "{{site}}: test message",
            text: "This is a test message from {{site}} (jwt-authd mail test) to {{email}}. Its mail settings work.\n",
            html: htmlStart + """
                <p>This is a test message from {{site}} (<code>jwt-authd mail test</code>) to {{email}}. Its mail settings \
                work.</p>
                """ + htmlEnd),
    ]
}

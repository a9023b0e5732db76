public import FoundationEssentials

/// The messages the service sends, from their templates (``MailTemplates``): who they come from and the pages their links open.
/// Links point to pages (which post the token), never to a state-changing GET: mail scanners open links.
public struct MailComposer: Sendable {
    /// `mail.from`.
    public let from: MailAddress
    /// The site's name in the messages (the sender's display name, or its domain).
    public var siteName: String { from.name ?? from.domain }

    /// The texts (built in, or from `mail.templates_dir`).
    public let templates: MailTemplates

    public init(from: MailAddress, templates: MailTemplates = MailTemplates()) {
        self.from = from
        self.templates = templates
    }

    /// Where a link goes: the site's public base URL (`http.public_url`, or in development the request's own) and
    /// the page's path.
    public struct Link: Sendable {
        public let base: String
        public let page: String

        public init(base: String, page: String) {
            self.base = base
            self.page = page
        }

        /// The page's URL.
        var pageURL: String { (base.hasSuffix("/") ? String(base.dropLast()) : base) + page }

        /// The page's URL with the token as its query (base64url needs no escaping).
        func url(token: String) -> String { "\(pageURL)?token=\(token)" }
    }

    /// "Reset your password": the link and how long it works.
    public func passwordReset(to recipient: String, link: Link, token: String, lifetime: Duration, now: Date) -> MailMessage {
        compose(
            .passwordReset, to: recipient, values: ["email": recipient, "link": link.url(token: token), "expires": Self.span(lifetime)],
            now: now)
    }

    /// "Confirm your address": the verification link, sent to the address it confirms.
    public func verifyEmail(to recipient: String, link: Link, token: String, lifetime: Duration, now: Date) -> MailMessage {
        compose(
            .verifyEmail, to: recipient, values: ["email": recipient, "link": link.url(token: token), "expires": Self.span(lifetime)],
            now: now)
    }

    /// "Confirm your new address": the change's link, sent to the new address.
    public func changeEmail(to newAddress: String, account: String, link: Link, token: String, lifetime: Duration, now: Date)
        -> MailMessage
    {
        compose(
            .changeEmail, to: newAddress,
            values: ["email": account, "new_email": newAddress, "link": link.url(token: token), "expires": Self.span(lifetime)],
            now: now)
    }

    /// "Your address is about to change": the notice to the old address (no link: it must not undo anything by GET).
    public func emailChangedNotice(to oldAddress: String, newAddress: String, now: Date) -> MailMessage {
        compose(.emailChangedNotice, to: oldAddress, values: ["email": oldAddress, "new_email": newAddress], now: now)
    }

    /// "You already have an account": to the owner of an address someone tried to register again (enumeration-safe
    /// registration), with the way to a new password.
    public func accountExists(to recipient: String, forgotPage: Link, now: Date) -> MailMessage {
        compose(.accountExists, to: recipient, values: ["email": recipient, "reset_link": forgotPage.pageURL], now: now)
    }

    /// `jwt-authd mail test`: shows that mail from this service reaches `recipient`.
    public func test(to recipient: String, now: Date) -> MailMessage {
        compose(.test, to: recipient, values: ["email": recipient], now: now)
    }

    /// A message of `kind` from its template; `site` is always filled in.
    func compose(_ kind: MailTemplates.Kind, to recipient: String, values: [String: String], now: Date) -> MailMessage {
        let template = templates[kind]
        var values = values
        values["site"] = siteName
        return MailMessage(
            from: from, to: recipient, subject: MailTemplates.fill(template.subject, values),
            text: MailTemplates.fill(template.text, values), html: MailTemplates.fill(template.html, values, escape: Self.escape),
            messageID: MailMessage.newMessageID(from: from, at: now), date: now)
    }

    /// "30 minutes", "48 hours", "3 days": how long a link works.
    static func span(_ lifetime: Duration) -> String {
        let minutes = Int(lifetime.timeInterval / 60)
        if minutes < 120 { return minutes == 1 ? "1 minute" : "\(minutes) minutes" }
        let hours = minutes / 60
        if hours <= 72 || hours % 24 != 0 { return "\(hours) hours" }
        return "\(hours / 24) days"
    }

    /// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

public import FoundationEssentials

/// The messages the service sends, from built-in templates: who they come from and the pages their links open.
/// Links point to pages (which post the token), never to a state-changing GET: mail scanners open links.
public struct MailComposer: Sendable {
    /// `mail.from`.
    public let from: MailAddress
    /// The site's name in the messages (the sender's display name, or its domain).
    public var siteName: String { from.name ?? from.domain }

    public init(from: MailAddress) {
        self.from = from
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

        /// The page's URL with the token as its query (base64url needs no escaping).
        func url(token: String) -> String {
            let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
            return "\(trimmed)\(page)?token=\(token)"
        }
    }

    /// "Reset your password": the link and how long it works.
    public func passwordReset(to recipient: String, link: Link, token: String, lifetime: Duration, now: Date) -> MailMessage {
        let url = link.url(token: token)
        let minutes = Int(lifetime.timeInterval / 60)
        let text = """
            Someone (we hope you) asked to reset the password of your \(siteName) account, \(recipient).

            Open this link to choose a new password. It works once, for \(minutes) minutes:
            \(url)

            If you did not ask for this, ignore this message: your password stays as it is.
            """
        let html = """
            <!doctype html><html><body style="font-family: sans-serif">
            <p>Someone (we hope you) asked to reset the password of your \(Self.escape(siteName)) account, \
            \(Self.escape(recipient)).</p>
            <p><a href="\(Self.escape(url))">Choose a new password</a> (the link works once, for \(minutes) minutes).</p>
            <p>If you did not ask for this, ignore this message: your password stays as it is.</p>
            </body></html>
            """
        return MailMessage(
            from: from, to: recipient, subject: "Reset your \(siteName) password", text: text, html: html,
            messageID: MailMessage.newMessageID(from: from, at: now), date: now)
    }

    /// `jwt-authd mail test`: shows that mail from this service reaches `recipient`.
    public func test(to recipient: String, now: Date) -> MailMessage {
        let text = "This is a test message from \(siteName) (jwt-authd mail test). Its mail settings work.\n"
        let html = """
            <!doctype html><html><body style="font-family: sans-serif">
            <p>This is a test message from \(Self.escape(siteName)) (<code>jwt-authd mail test</code>). Its mail \
            settings work.</p></body></html>
            """
        return MailMessage(
            from: from, to: recipient, subject: "\(siteName): test message", text: text, html: html,
            messageID: MailMessage.newMessageID(from: from, at: now), date: now)
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

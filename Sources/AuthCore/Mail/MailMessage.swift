import CryptoPrimitives
public import FoundationEssentials

/// One message as it goes on the wire: RFC 5322 headers and a MIME `multipart/alternative` body with a text and an
/// HTML part, both UTF-8 in base64, lines ending in CRLF. Nothing a user typed can add a header: addresses are checked
/// (``EmailAddress/isPlausible(_:)``: no controls, no white space), every header value loses its line breaks, and
/// a subject or display name that is not plain ASCII is an RFC 2047 encoded word.
public struct MailMessage: Sendable, Equatable {
    /// The sender (`mail.from`): an address, optionally with a display name.
    public var from: MailAddress
    /// The one recipient.
    public var to: String
    public var subject: String
    public var text: String
    public var html: String
    /// `<id@domain>`: the same on every delivery attempt of this message (delivery is at least once).
    public var messageID: String
    public var date: Date

    public init(from: MailAddress, to: String, subject: String, text: String, html: String, messageID: String, date: Date) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
    }

    /// A new Message-ID for a message from `from`: a random UUIDv7 at the sender's domain.
    public static func newMessageID(from: MailAddress, at date: Date) -> String {
        "<\(Identifier.make(at: date))@\(from.domain)>"
    }

    /// The whole message, CRLF line ends. `nil` when the recipient is not a plausible address.
    public func rendered() -> [UInt8]? {
        guard EmailAddress.isPlausible(to), !to.contains("<"), !to.contains(">") else { return nil }
        let boundary = "=_jwt-authd_" + Random.bytes(12).map { String($0, radix: 16) }.joined()
        var lines = [
            "From: \(from.header)",
            "To: <\(to)>",
            "Subject: \(Self.encodedWord(subject))",
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: \(Self.oneLine(messageID))",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
            "",
        ]
        for (type, body) in [("text/plain", text), ("text/html", html)] {
            lines += [
                "--\(boundary)", "Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", "",
                Self.base64Lines(Array(body.utf8)),
            ]
        }
        lines.append("--\(boundary)--")
        return Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }

    /// A header value on one line: CR, LF and other controls become spaces.
    static func oneLine(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }

    /// Plain printable ASCII stays as it is; anything else becomes RFC 2047 base64 encoded words of at most 75
    /// characters each (whole UTF-8 sequences per word), folded onto continuation lines.
    static func encodedWord(_ value: String) -> String {
        let line = oneLine(value)
        if line.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) && !line.contains("=?") { return line }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in line {
            let bytes = Array(String(character).utf8)
            if !chunk.isEmpty && (chunk.count + bytes.count) > 39 {  // 39 bytes: 52 base64 characters, 64 in all
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    /// Base64 in lines of 76 characters (RFC 2045).
    static func base64Lines(_ bytes: [UInt8]) -> String {
        let encoded = Array(Data(bytes).base64EncodedString().utf8)
        return stride(from: 0, to: encoded.count, by: 76).map {
            String(decoding: encoded[$0..<min($0 + 76, encoded.count)], as: UTF8.self)
        }.joined(separator: "\r\n")
    }

    /// `Fri, 04 Dec 2026 19:58:00 +0000` (RFC 5322 §3.3), in UTC, without Foundation's calendar.
    static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(weekday), \(two(day)) \(months[Int(month - 1)]) \(year) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60)) +0000"
    }
}

/// A mailbox: an address and an optional display name (`Site <noreply@example.com>`).
public struct MailAddress: Sendable, Equatable {
    public let address: String
    public let name: String?

    /// Parses `name <address>` or a bare address; `nil` when the address is not plausible.
    public init?(parsing text: String) {
        var name: String?
        func trimmed(_ text: Substring) -> String {
            String(text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
        }
        var address = trimmed(text[...])
        if address.hasSuffix(">"), let open = address.lastIndex(of: "<") {
            let display = trimmed(address[..<open]).filter { $0 != "\"" && $0 != "\\" }
            name = display.isEmpty ? nil : display
            address = String(address[address.index(after: open)..<address.index(before: address.endIndex)])
        }
        guard EmailAddress.isPlausible(address), !address.contains("<"), !address.contains(">") else { return nil }
        self.address = address
        self.name = name.map(MailMessage.oneLine)
    }

    /// The part after the `@`.
    public var domain: String { String(address.split(separator: "@").last ?? "localhost") }

    /// The header form: the name quoted (or encoded) and the address in angle brackets.
    var header: String {
        guard let name else { return "<\(address)>" }
        let encoded = MailMessage.encodedWord(name)
        let display = encoded.hasPrefix("=?") ? encoded : "\"\(encoded)\""
        return "\(display) <\(address)>"
    }
}

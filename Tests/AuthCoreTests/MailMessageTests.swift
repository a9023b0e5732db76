import AuthCore
import Foundation
import Testing

/// Messages as they go on the wire (#16): RFC 5322 headers, MIME multipart/alternative, nothing a user typed can add
/// a header.
@Suite struct MailMessageTests {
    let from = MailAddress(parsing: "Example Site <noreply@example.com>")!

    func message(to: String = "zoë@example.com", subject: String = "Reset your password") -> MailMessage {
        MailMessage(
            from: from, to: to, subject: subject, text: "Open https://example.com/auth/reset?token=abc\nThanks",
            html: "<p><a href=\"https://example.com/auth/reset?token=abc\">Reset</a></p>",
            messageID: "<0190b5a4-0000-7000-8000-000000000000@example.com>", date: Date(timeIntervalSince1970: 1_796_500_680))
    }

    func headers(_ raw: [UInt8]) -> [String] {
        let text = String(decoding: raw, as: UTF8.self)
        return text.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
    }

    @Test func headersAndBothPartsAreThere() throws {
        let raw = try #require(message().rendered())
        let text = String(decoding: raw, as: UTF8.self)
        let head = headers(raw)
        #expect(head.contains("From: \"Example Site\" <noreply@example.com>"))
        #expect(head.contains("To: <zoë@example.com>"))
        #expect(head.contains("Subject: Reset your password"))
        #expect(head.contains("Date: Sat, 05 Dec 2026 19:58:00 +0000"))
        #expect(head.contains("Message-ID: <0190b5a4-0000-7000-8000-000000000000@example.com>"))
        #expect(head.contains("MIME-Version: 1.0"))
        let boundaryLine = try #require(head.first { $0.hasPrefix("Content-Type: multipart/alternative; boundary=") })
        let boundary = String(boundaryLine.split(separator: "\"")[1])
        #expect(text.components(separatedBy: "--\(boundary)\r\n").count == 3, "two parts")
        #expect(text.hasSuffix("--\(boundary)--\r\n"))
        #expect(text.contains("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64"))
        #expect(text.contains("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64"))
        // Every line ends in CRLF, and none is longer than 998 characters (RFC 5322 §2.1.1).
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(text.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 998 })
        // The text part decodes back to what was written.
        let parts = text.components(separatedBy: "--\(boundary)")
        let encoded = parts[1].components(separatedBy: "\r\n\r\n")[1].replacingOccurrences(of: "\r\n", with: "")
        let decoded = try #require(Data(base64Encoded: encoded))
        #expect(String(decoding: decoded, as: UTF8.self) == message().text)
    }

    @Test func nothingTypedAddsAHeader() throws {
        let raw = try #require(message(subject: "Hi\r\nBcc: victim@example.com\nX: y").rendered())
        let head = headers(raw)
        #expect(!head.contains { $0.hasPrefix("Bcc:") || $0.hasPrefix("X:") })
        #expect(head.contains("Subject: Hi  Bcc: victim@example.com X: y"))
        for bad in ["a@example.com\r\nBcc: b@example.com", "a@example.com>, <b@example.com", "a b@example.com", "a@b"] {
            #expect(message(to: bad).rendered() == nil, "\(bad)")
        }
        #expect(MailAddress(parsing: "Evil\r\nBcc: x@example.com <a@example.com>")?.name?.contains("\r") == false)
        #expect(MailAddress(parsing: "no address") == nil)
    }

    @Test func aSubjectThatIsNotAsciiIsAnEncodedWord() throws {
        let raw = try #require(message(subject: "Réinitialisez votre mot de passe — vite ✓ " + String(repeating: "é", count: 40)).rendered())
        let text = String(decoding: raw, as: UTF8.self)
        let subject = try #require(text.components(separatedBy: "\r\n").firstIndex { $0.hasPrefix("Subject: ") })
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines[subject].hasPrefix("Subject: =?UTF-8?B?"))
        #expect(lines[subject + 1].hasPrefix(" =?UTF-8?B?"), "folded onto a continuation line")
        for line in lines[subject...subject + 1] { #expect(line.utf8.count <= 78) }
        let named = MailMessage(
            from: MailAddress(parsing: "Sïte <noreply@example.com>")!, to: "a@example.com", subject: "s", text: "", html: "",
            messageID: "<x@example.com>", date: Date(timeIntervalSince1970: 0))
        #expect(headers(try #require(named.rendered())).contains("From: =?UTF-8?B?U8OvdGU=?= <noreply@example.com>"))
        #expect(headers(try #require(named.rendered())).contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"))
    }

    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 +0000"), (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (4_110_220_799, "Wed, 31 Mar 2100 23:59:59 +0000"), (-86_400, "Wed, 31 Dec 1969 00:00:00 +0000"),
    ])
    func datesAreRFC5322(seconds: Double, expected: String) throws {
        let dated = MailMessage(
            from: from, to: "a@example.com", subject: "s", text: "", html: "", messageID: "<x@example.com>",
            date: Date(timeIntervalSince1970: seconds))
        #expect(headers(try #require(dated.rendered())).contains("Date: \(expected)"))
    }
}

import AuthCore
import Glibc
import ProcessManager
import SMTP

/// The transport `mail.transport` names, or `nil` for `none`.
enum MailTransports {
    static func make(_ mail: Config.Mail) -> (any MailTransport)? {
        let envelopeFrom = MailAddress(parsing: mail.from)?.address ?? "noreply@localhost.localdomain"
        let timeout = Int(mail.smtpTimeout.components.seconds) * 1000
        switch mail.transport {
        case .none:
            return nil
        case .file:
            return FileMailTransport(directory: mail.fileDirectory)
        case .sendmail:
            return SendmailTransport(path: mail.sendmailPath, envelopeFrom: envelopeFrom, timeoutMilliseconds: timeout)
        case .smtp:
            guard let url = mail.smtpURL else { return nil }
            let security: SMTPEndpoint.Security =
                switch mail.smtpSecurity {
                case .implicitTLS: .implicitTLS
                case .startTLS: .startTLS
                case .plain: .plain
                }
            let endpoint = SMTPEndpoint(
                url: url.withoutCredentials, username: url.username, password: url.password, security: security,
                caFile: mail.smtpCAFile.isEmpty ? nil : mail.smtpCAFile, timeoutMilliseconds: timeout)
            return SMTPMailTransport(client: SMTPClient(endpoint: endpoint), envelopeFrom: envelopeFrom)
        }
    }

    /// A line for the start of the sender: where mail goes (never the credentials).
    static func describe(_ mail: Config.Mail) -> String {
        switch mail.transport {
        case .none: "none"
        case .file: "file: \(mail.fileDirectory)"
        case .sendmail: "sendmail: \(mail.sendmailPath) -t -i"
        case .smtp:
            "smtp: \(mail.smtpURL?.description ?? "?") (\(mail.smtpSecurity == .plain ? "plain" : mail.smtpSecurity == .implicitTLS ? "TLS" : "STARTTLS required"))"
        }
    }
}

/// `mail.transport = smtp`: libcurl's SMTP client. A 5xx answer to the message is final; anything else is tried again.
struct SMTPMailTransport: MailTransport {
    let client: SMTPClient
    let envelopeFrom: String

    func send(_ message: [UInt8], id: String, to recipient: String) -> MailSendOutcome {
        let result = client.send(message, from: envelopeFrom, to: recipient)
        switch result.verdict {
        case .accepted: return .sent(result.answer)
        case .rejected: return .permanent(result.answer)
        case .deferred: return .transient(result.answer)
        }
    }
}

/// `mail.transport = sendmail`: the message piped to `sendmail -t -i -f <from>` (the local MTA's interface, also on
/// shared hosting). Exit 0: handed over. 65 (bad data), 67 (unknown user), 68 (unknown host): refused for good.
/// Any other failure (75 "try later", a missing program, a timeout) is tried again.
struct SendmailTransport: MailTransport {
    let path: String
    let envelopeFrom: String
    let timeoutMilliseconds: Int

    init(path: String, envelopeFrom: String, timeoutMilliseconds: Int) {
        self.path = path
        self.envelopeFrom = envelopeFrom
        self.timeoutMilliseconds = timeoutMilliseconds
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
    }

    func send(_ message: [UInt8], id: String, to recipient: String) -> MailSendOutcome {
        // sendmail reads local text: lines end in LF. (-i: a line with a single dot does not end the message.)
        var text: [UInt8] = []
        text.reserveCapacity(message.count)
        for (index, byte) in message.enumerated() where !(byte == 0x0D && index + 1 < message.count && message[index + 1] == 0x0A) {
            text.append(byte)
        }
        let outcome = PipedCommand.run(path, arguments: ["-t", "-i", "-f", envelopeFrom], input: text, timeoutMilliseconds: timeoutMilliseconds)
        let said = outcome.output.split(whereSeparator: \.isNewline).last.map { ": \(String($0).prefix(300))" } ?? ""
        switch outcome.ending {
        case .exited(0): return .sent("handed to \(path)\(said)")
        case .exited(let code) where [65, 67, 68].contains(code): return .permanent("\(path) exited with \(code)\(said)")
        case .exited(let code): return .transient("\(path) exited with \(code)\(said)")
        case .signalled(let signal): return .transient("\(path) was killed by signal \(signal)\(said)")
        case .timedOut: return .transient("\(path) did not finish within \(timeoutMilliseconds / 1000) s")
        case .notStarted(let reason): return .transient("\(path) could not be started: \(reason)")
        }
    }
}

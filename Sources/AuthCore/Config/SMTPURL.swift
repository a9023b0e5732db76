import MariaDB

/// `mail.smtp_url`: `smtp://[user[:password]@]host[:port][/ehlo-name]` (STARTTLS, port 25 by default) or
/// `smtps://…` (TLS from the first byte, port 465). The credentials are percent-decoded and kept apart from the URL
/// given to the client, so the URL can be logged.
public struct SMTPURL: Sendable, Equatable, CustomStringConvertible {
    public let implicitTLS: Bool
    /// A name, an IPv4 address, or an IPv6 address in brackets.
    public let host: String
    public let port: Int
    /// Empty, or `/name`: the name the client gives in EHLO.
    public let path: String
    public let username: String?
    public let password: String?

    /// The URL without its credentials (safe to log and to hand to the client).
    public var withoutCredentials: String { "\(implicitTLS ? "smtps" : "smtp")://\(host):\(port)\(path)" }

    /// The host is this machine: `localhost`, `127.0.0.0/8` or `[::1]`.
    public var isLoopback: Bool {
        let name = host.lowercased()
        if name == "localhost" || name == "[::1]" { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    public var description: String {
        "\(implicitTLS ? "smtps" : "smtp")://\(username == nil ? "" : "***@")\(host):\(port)\(path)"
    }

    /// Parses `text`; throws the reason it is not an SMTP URL (never repeating the password).
    public init(parsing text: String) throws(SMTPURLError) {
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .init("must be ASCII without spaces") }
        let scheme: Substring
        let rest: Substring
        if let range = text.firstRange(of: "://") {
            scheme = text[..<range.lowerBound]
            rest = text[range.upperBound...]
        } else {
            throw .init("must start with smtp:// or smtps://")
        }
        switch scheme.lowercased() {
        case "smtp": implicitTLS = false
        case "smtps": implicitTLS = true
        default: throw .init("must start with smtp:// or smtps://")
        }
        guard !rest.contains("?") && !rest.contains("#") else { throw .init("must have no query or fragment") }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = String(rest[slash...])
        guard path.isEmpty || path == "/" || Self.isHostName(path.dropFirst()) else {
            throw .init("may end only in /name (the name given in EHLO)")
        }
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            let colon = userinfo.firstIndex(of: ":")
            guard let user = Self.percentDecoded(userinfo[..<(colon ?? userinfo.endIndex)]), !user.isEmpty else {
                throw .init("has an empty or badly escaped user name")
            }
            username = user
            if let colon {
                guard let secret = Self.percentDecoded(userinfo[userinfo.index(after: colon)...]) else {
                    throw .init("has a badly escaped password (write % as %25)")
                }
                password = secret
            } else {
                password = nil
            }
        } else {
            username = nil
            password = nil
        }
        (host, port) = try Self.hostAndPort(hostPort, defaultPort: implicitTLS ? 465 : 25)
    }

    private static func hostAndPort(_ text: Substring, defaultPort: Int) throws(SMTPURLError) -> (String, Int) {
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .init("has an unclosed [IPv6] address") }
            host = text[...close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .init("has text after its [IPv6] address") }
                portText = after.dropFirst()
            }
            let inner = host.dropFirst().dropLast()
            guard !inner.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw .init("has a malformed [IPv6] address")
            }
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard isHostName(host) else { throw .init("has no valid host name") }
        } else {
            guard isHostName(host) else { throw .init("has no valid host name") }
        }
        var port = defaultPort
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let number = Int(portText),
                (1...65535).contains(number)
            else { throw .init("has a port that is not 1 to 65535") }
            port = number
        }
        return (String(host), port)
    }

    private static func isHostName(_ text: Substring) -> Bool {
        !text.isEmpty && text.count <= 253 && !text.hasPrefix(".") && !text.hasPrefix("-")
            && text.allSatisfy { $0.isASCIILetterOrDigit || $0 == "." || $0 == "-" }
    }

    /// A percent-decoded credential: `nil` for a malformed escape, bytes that are not UTF-8, or a NUL.
    private static func percentDecoded(_ text: Substring) -> String? {
        guard let decoded = DatabaseURL.percentDecoded(text), !decoded.utf8.contains(0) else { return nil }
        return decoded
    }
}

/// Why a text is not an SMTP URL.
public struct SMTPURLError: Error, Sendable, Equatable {
    public let reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
    fileprivate var isASCIILetterOrDigit: Bool { isASCII && (isLetter || isNumber) }
}

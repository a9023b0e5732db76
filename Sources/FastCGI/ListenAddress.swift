/// Where the FastCGI responder listens.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A unix-domain socket at a path; the file is created with the given mode.
    case unix(path: String)
    /// A TCP address: a numeric IPv4/IPv6 host or a name, and a port.
    case tcp(host: String, port: UInt16)
    /// The listen socket the process was started with on file descriptor 0 (spawn-fcgi, mod_fcgid).
    case inherited

    /// Parses `unix:/path`, `/path`, `host:port`, `[v6]:port`, `:port` or `fd0`.
    ///
    /// - Throws: ``ListenAddress/ParseError`` naming what was wrong.
    public init(parsing text: String) throws(ParseError) {
        let value = text.trimmingSpaces()
        if value.isEmpty { throw ParseError(input: text, reason: "it is empty") }
        if value == "fd0" || value == "stdin" {
            self = .inherited
            return
        }
        if value.hasPrefix("unix:") || value.hasPrefix("/") {
            let path = value.hasPrefix("unix:") ? String(value.dropFirst(5)) : value
            guard path.hasPrefix("/") else {
                throw ParseError(input: text, reason: "a unix socket path must be absolute")
            }
            guard path.utf8.count < 108 else {
                throw ParseError(input: text, reason: "a unix socket path must be shorter than 108 bytes")
            }
            self = .unix(path: path)
            return
        }
        var host: Substring
        var portText: Substring
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]"),
                value[value.index(after: close)...].hasPrefix(":")
            else {
                throw ParseError(input: text, reason: "expected [ipv6]:port")
            }
            host = value[value.index(after: value.startIndex)..<close]
            portText = value[value.index(close, offsetBy: 2)...]
        } else {
            guard let colon = value.lastIndex(of: ":") else {
                throw ParseError(input: text, reason: "expected unix:/path or host:port")
            }
            host = value[..<colon]
            portText = value[value.index(after: colon)...]
        }
        if host.isEmpty { host = "127.0.0.1" }
        guard let port = UInt16(portText), port > 0 else {
            throw ParseError(input: text, reason: "the port must be a number from 1 to 65535")
        }
        self = .tcp(host: String(host), port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .inherited: "fd0"
        }
    }

    /// Why a listen address could not be parsed.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let input: String
        public let reason: String
        public var description: String { "invalid listen address '\(input)': \(reason)" }
    }
}

extension String {
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}

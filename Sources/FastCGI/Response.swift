/// A response to write back through FastCGI: status, headers and body.
public struct Response: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// Header fields in order; a name may repeat (`Set-Cookie`).
    public var headers: [(name: String, value: String)]
    /// The body bytes.
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header (case-insensitive name).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first(where: { $0.name.lowercased() == wanted })?.value
    }

    /// The CGI-style bytes libfcgi sends on FCGI_STDOUT: `Status:`, the headers, a blank line, the body.
    ///
    /// A header whose name or value holds CR, LF or NUL is dropped (no response splitting), and
    /// `Content-Length` is always set from the body.
    public func serialized() -> [UInt8] {
        var head = "Status: \(status) \(Self.reasonPhrase(status))\r\n"
        for (name, value) in headers where Self.isSafe(name) && Self.isSafe(value) && !name.isEmpty {
            if name.lowercased() == "content-length" { continue }
            head += name
            head += ": "
            head += value
            head += "\r\n"
        }
        head += "Content-Length: \(body.count)\r\n\r\n"
        var bytes = Array(head.utf8)
        bytes.append(contentsOf: body)
        return bytes
    }

    private static func isSafe(_ text: String) -> Bool {
        !text.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 })
    }

    /// The standard reason phrase of a status code.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 303: "See Other"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

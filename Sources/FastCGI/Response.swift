/// A response to write back through FastCGI: status, headers and body.
public struct Response: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// Header fields in order; a name may repeat (`Set-Cookie`).
    public var headers: [(name: String, value: String)]
    /// The body bytes.
    public var body: [UInt8]
    /// When positive, the answer is sent this many milliseconds later, without holding a request thread, and the
    /// connection closed after it: for a refusal that tells the client when to come back (`Retry-After`), so that a
    /// flood of such requests is paced by its own connections, not by this process's CPU.
    public var holdMilliseconds = 0

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
        var bytes: [UInt8] = []
        var capacity = 64 + body.count
        for (name, value) in headers { capacity += name.utf8.count + value.utf8.count + 4 }
        bytes.reserveCapacity(capacity)
        Self.append("Status: ", to: &bytes)
        Self.append(String(status), to: &bytes)
        bytes.append(UInt8(ascii: " "))
        Self.append(Self.reasonPhrase(status), to: &bytes)
        Self.append("\r\n", to: &bytes)
        for (name, value) in headers where !name.isEmpty && Self.isSafe(name) && Self.isSafe(value) {
            if Self.isContentLength(name) { continue }
            Self.append(name, to: &bytes)
            Self.append(": ", to: &bytes)
            Self.append(value, to: &bytes)
            Self.append("\r\n", to: &bytes)
        }
        Self.append("Content-Length: ", to: &bytes)
        Self.append(String(body.count), to: &bytes)
        bytes.append(contentsOf: "\r\n\r\n".utf8)
        bytes.append(contentsOf: body)
        return bytes
    }

    /// Appends a string's UTF-8 bytes (one copy for native strings).
    private static func append(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// `Content-Length` in any letter case, without allocating.
    private static func isContentLength(_ name: String) -> Bool {
        let wanted = "content-length".utf8
        guard name.utf8.count == wanted.count else { return false }
        return zip(name.utf8, wanted).allSatisfy { byte, lower in
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte) == lower
        }
    }

    private static func isSafe(_ text: String) -> Bool {
        func breaksLine(_ byte: UInt8) -> Bool { byte == 13 || byte == 10 || byte == 0 }
        return text.utf8.withContiguousStorageIfAvailable { !$0.contains(where: breaksLine) }
            ?? !text.utf8.contains(where: breaksLine)
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

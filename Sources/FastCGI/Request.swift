import CFastCGI

/// One FastCGI request as the handler sees it: the CGI parameters nginx sent and the request body.
///
/// A `Request` is valid only while its handler runs: the parameters live in libfcgi's memory and are freed when
/// the request finishes. After that every accessor answers `nil` or an empty value, never a dangling read.
public final class Request {
    private var params: Params?
    /// The request body, read in full (and bounded by the server's body limit) before the handler runs.
    public let body: [UInt8]

    /// Creates a request from parameter pairs (for tests of layers above FastCGI).
    public convenience init(params: [(String, String)], body: [UInt8] = []) {
        self.init(source: .pairs(params), body: body)
    }

    init(source: Params, body: [UInt8]) {
        self.params = source
        self.body = body
    }

    /// Ends access to libfcgi's memory; called by the server when the handler returns.
    func invalidate() { params = nil }

    /// The value of a CGI parameter, e.g. `REQUEST_METHOD` or `HTTP_COOKIE`.
    public func param(_ name: String) -> String? {
        params?.value(of: name)
    }

    /// The HTTP method, upper-case as nginx sends it.
    public var method: String { param("REQUEST_METHOD") ?? "GET" }

    /// The request path without the query string, as normalised by nginx (`$document_uri`). Computed once.
    public private(set) lazy var path: String = computePath()

    private func computePath() -> String {
        if let uri = param("DOCUMENT_URI"), !uri.isEmpty { return uri }
        let requestURI = param("REQUEST_URI") ?? "/"
        if let question = requestURI.firstIndex(of: "?") { return String(requestURI[..<question]) }
        return requestURI
    }

    /// The raw query string (without `?`), empty when absent.
    public var query: String { param("QUERY_STRING") ?? "" }

    /// The peer address nginx reports (`REMOTE_ADDR`), empty when absent.
    public var remoteAddress: String { param("REMOTE_ADDR") ?? "" }

    /// A request header by its HTTP name, e.g. `header("Content-Type")` or `header("X-API-Key")`.
    public func header(_ name: String) -> String? {
        param(Self.cgiName(ofHeader: name))
    }

    /// Every parameter, in the order received (for diagnostics and tests; values may hold secrets).
    public var allParams: [(String, String)] { params?.all() ?? [] }

    /// Maps an HTTP header name to its CGI parameter name (`X-Api-Key` → `HTTP_X_API_KEY`).
    public static func cgiName(ofHeader name: String) -> String {
        var result = ""
        result.reserveCapacity(name.utf8.count + 5)
        for scalar in name.unicodeScalars {
            switch scalar {
            case "-": result.unicodeScalars.append("_")
            case "a"..."z": result.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
            default: result.unicodeScalars.append(scalar)
            }
        }
        if result == "CONTENT_TYPE" || result == "CONTENT_LENGTH" { return result }
        return "HTTP_" + result
    }
}

/// Where a request's parameters come from: libfcgi's `envp` array, or pairs built by a test.
enum Params {
    /// libfcgi's `NAME=value` array, valid until the request is finished.
    case environment(UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    case pairs([(String, String)])

    func value(of name: String) -> String? {
        switch self {
        case .environment(let envp): FCGX_GetParam(name, envp).map { String(cString: $0) }
        case .pairs(let pairs): pairs.first(where: { $0.0 == name })?.1
        }
    }

    func all() -> [(String, String)] {
        switch self {
        case .pairs(let pairs):
            return pairs
        case .environment(let envp):
            var result: [(String, String)] = []
            var index = 0
            while let entry = envp[index] {
                let text = String(cString: entry)
                if let equals = text.firstIndex(of: "=") {
                    result.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
                }
                index += 1
            }
            return result
        }
    }
}

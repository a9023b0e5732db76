import CFastCGI
import Glibc

/// One FastCGI request as the handler sees it: the CGI parameters nginx sent and the request body.
///
/// A `Request` is valid only while its handler runs: the parameters live in libfcgi's memory and are freed when
/// the request finishes. After that every accessor answers `nil` or an empty value, never a dangling read.
public final class Request {
    private var params: Params?
    /// The values of the well-known parameters (``Field``), found in one pass on first use; `nil` until then.
    private var fieldValues: [UnsafePointer<CChar>?]?
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
    func invalidate() {
        params = nil
        fieldValues = nil
    }

    /// The value of a CGI parameter, e.g. `REQUEST_METHOD` or `HTTP_COOKIE`.
    public func param(_ name: String) -> String? {
        params?.value(of: name)
    }

    /// The value of a well-known parameter. Every field of a request costs one pass over its parameters in all,
    /// however many are read (the route handlers read several headers per request).
    public func field(_ field: Field) -> String? {
        switch params {
        case nil:
            return nil
        case .pairs(let pairs)?:
            return pairs.first(where: { $0.0 == field.cgiName })?.1
        case .environment(let envp)?:
            if fieldValues == nil { fieldValues = Field.index(envp) }
            return fieldValues![field.rawValue].map { String(cString: $0) }
        }
    }

    /// The HTTP method, upper-case as nginx sends it. Computed once.
    public private(set) lazy var method: String = field(.requestMethod) ?? "GET"

    /// The request path without the query string, as normalised by nginx (`$document_uri`). Computed once.
    public private(set) lazy var path: String = computePath()

    private func computePath() -> String {
        if let uri = field(.documentURI), !uri.isEmpty { return uri }
        let requestURI = field(.requestURI) ?? "/"
        if let question = requestURI.firstIndex(of: "?") { return String(requestURI[..<question]) }
        return requestURI
    }

    /// The raw query string (without `?`), empty when absent.
    public var query: String { field(.queryString) ?? "" }

    /// The peer address nginx reports (`REMOTE_ADDR`), empty when absent.
    public var remoteAddress: String { field(.remoteAddress) ?? "" }

    /// A request header by its HTTP name, e.g. `header("Content-Type")` or `header("X-API-Key")`. (The service's
    /// own handlers read the headers they know through ``field(_:)``.)
    public func header(_ name: String) -> String? {
        param(Self.cgiName(ofHeader: name))
    }

    /// Every parameter, in the order received (for diagnostics and tests; values may hold secrets).
    public var allParams: [(String, String)] { params?.all() ?? [] }

    /// Maps an HTTP header name to its CGI parameter name (`X-Api-Key` → `HTTP_X_API_KEY`).
    public static func cgiName(ofHeader name: String) -> String {
        let upper = String(
            decoding: name.utf8.map { byte -> UInt8 in
                switch byte {
                case UInt8(ascii: "-"): UInt8(ascii: "_")
                case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - 32
                default: byte
                }
            }, as: UTF8.self)
        // CONTENT_TYPE and CONTENT_LENGTH come without the HTTP_ prefix (RFC 3875 4.1.2, 4.1.3).
        if upper == "CONTENT_TYPE" || upper == "CONTENT_LENGTH" { return upper }
        return "HTTP_" + upper
    }
}

extension Request {
    /// The parameters the service reads on most requests, looked up in one pass (``Request/field(_:)``).
    public enum Field: Int, CaseIterable, Sendable {
        case requestMethod, documentURI, requestURI, queryString, remoteAddress, requestID
        case contentType, contentLength
        case authorization, cookie, apiKey, origin, secFetchSite, host, forwardedFor, userAgent
        case authGuestOnly, authRequireRole, authRequireVerified, authRequireAAL, originalMethod, originalURI

        /// The CGI parameter's name.
        public var cgiName: String {
            switch self {
            case .requestMethod: "REQUEST_METHOD"
            case .documentURI: "DOCUMENT_URI"
            case .requestURI: "REQUEST_URI"
            case .queryString: "QUERY_STRING"
            case .remoteAddress: "REMOTE_ADDR"
            case .requestID: "REQUEST_ID"
            case .contentType: "CONTENT_TYPE"
            case .contentLength: "CONTENT_LENGTH"
            case .authorization: "HTTP_AUTHORIZATION"
            case .cookie: "HTTP_COOKIE"
            case .apiKey: "HTTP_X_API_KEY"
            case .origin: "HTTP_ORIGIN"
            case .secFetchSite: "HTTP_SEC_FETCH_SITE"
            case .host: "HTTP_HOST"
            case .forwardedFor: "HTTP_X_FORWARDED_FOR"
            case .userAgent: "HTTP_USER_AGENT"
            case .authGuestOnly: "HTTP_X_AUTH_GUEST_ONLY"
            case .authRequireRole: "HTTP_X_AUTH_REQUIRE_ROLE"
            case .authRequireVerified: "HTTP_X_AUTH_REQUIRE_VERIFIED"
            case .authRequireAAL: "HTTP_X_AUTH_REQUIRE_AAL"
            case .originalMethod: "HTTP_X_ORIGINAL_METHOD"
            case .originalURI: "HTTP_X_ORIGINAL_URI"
            }
        }

        /// The longest name's length.
        private static let longestName = allCases.map(\.cgiName.utf8.count).max()!
        /// Every name's bytes, one after the other, and by name length the fields (first and end index into
        /// `fieldsByLength`): flat tables, so one pass over the parameters retains and allocates nothing.
        private static let nameBytes: [UInt8] = allCases.flatMap { Array($0.cgiName.utf8) }
        private static let nameStarts: [Int] = {
            var starts: [Int] = []
            var offset = 0
            for field in allCases {
                starts.append(offset)
                offset += field.cgiName.utf8.count
            }
            return starts
        }()
        private static let fieldsByLength: [Int] = (0...longestName).flatMap { length in
            allCases.filter { $0.cgiName.utf8.count == length }.map(\.rawValue)
        }
        private static let lengthStarts: [Int] = (0...(longestName + 1)).map { length in
            allCases.filter { $0.cgiName.utf8.count < length }.count
        }

        /// One pass over libfcgi's `NAME=value` array: where each field's value starts. A name sent twice keeps
        /// its first value, as `FCGX_GetParam` does.
        static func index(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> [UnsafePointer<CChar>?] {
            var values = [UnsafePointer<CChar>?](repeating: nil, count: allCases.count)
            nameBytes.withUnsafeBufferPointer { nameBytes in
                nameStarts.withUnsafeBufferPointer { nameStarts in
                    fieldsByLength.withUnsafeBufferPointer { fieldsByLength in
                        lengthStarts.withUnsafeBufferPointer { lengthStarts in
                            values.withUnsafeMutableBufferPointer { values in
                                var entryIndex = 0
                                while let entry = envp[entryIndex] {
                                    entryIndex += 1
                                    var length = 0
                                    while length <= longestName, entry[length] != 0, entry[length] != 61 { length += 1 }  // 61: "="
                                    guard length <= longestName, entry[length] == 61 else { continue }
                                    for candidate in lengthStarts[length]..<lengthStarts[length + 1] {
                                        let field = fieldsByLength[candidate]
                                        guard values[field] == nil,
                                            memcmp(entry, nameBytes.baseAddress! + nameStarts[field], length) == 0
                                        else { continue }
                                        values[field] = UnsafePointer(entry + length + 1)
                                        break
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return values
        }
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

public import FastCGI

/// Cross-site request protection for cookie-authenticated state changes (the approach of Go 1.25's
/// `CrossOriginProtection`): browsers send `Sec-Fetch-Site` and `Origin`; requests with neither do not come from a
/// browser and pass. Requests authenticated by a Bearer token or an API key are not subject to it.
public struct CrossSiteCheck: Sendable {
    /// Origins (`https://app.example.com`) allowed to make cross-origin state-changing requests.
    public let allowedOrigins: Set<String>

    public init(allowedOrigins: [String]) {
        self.allowedOrigins = Set(allowedOrigins.map { $0.lowercased() })
    }

    /// Whether the request may go on.
    public func allows(_ request: Request) -> Bool {
        let origin = request.field(.origin)?.lowercased()
        if let origin, allowedOrigins.contains(origin) { return true }
        if let site = request.field(.secFetchSite)?.lowercased() {
            return site == "same-origin" || site == "none"
        }
        guard let origin else { return true }
        guard let host = request.field(.host)?.lowercased(), let schemeEnd = origin.firstRange(of: "://") else { return false }
        return origin[schemeEnd.upperBound...] == host[...]
    }
}

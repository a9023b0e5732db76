/// Who is asking: used for session records, throttling and security events. Which address to trust behind proxies
/// is the HTTP layer's decision; the lengths kept are decided here, once.
public struct ClientContext: Sendable {
    /// The longest address kept (an IPv6 address in text form).
    public static let maxAddressLength = 45
    /// The longest user agent kept.
    public static let maxUserAgentLength = 512

    public var ip: String
    public var userAgent: String?
    /// The values of the browser's device cookie (``DeviceCookies``), as sent: several when a cookie of that name
    /// was planted beside the browser's own; each entry is checked on its own.
    public var devices: [String]

    /// A client; an address or user agent longer than the limits is cut to them.
    public init(ip: String, userAgent: String? = nil, devices: [String] = []) {
        self.devices = devices
        self.ip = ip.utf8.count > Self.maxAddressLength ? String(ip.prefix(Self.maxAddressLength)) : ip
        self.userAgent = userAgent.map { $0.count > Self.maxUserAgentLength ? String($0.prefix(Self.maxUserAgentLength)) : $0 }
    }
}

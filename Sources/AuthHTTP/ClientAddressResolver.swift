import AuthCore

/// Which address a request comes from, given the proxies we trust (`http.trusted_proxies`).
public struct ClientAddressResolver: Sendable {
    private let networks: [Network]

    /// - Parameter trustedProxies: IPs or CIDR ranges (IPv4 or IPv6); unparsable entries are ignored (the
    ///   configuration loader has refused them already).
    public init(trustedProxies: [String]) {
        networks = trustedProxies.compactMap(Network.init(parsing:))
    }

    /// `REMOTE_ADDR`, or, when it is a trusted proxy, the nearest `X-Forwarded-For` entry that is not trusted.
    public func resolve(remoteAddress: String, forwardedFor: String?) -> String {
        guard isTrusted(remoteAddress), let forwardedFor else { return remoteAddress }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(" \t") }.filter { !$0.isEmpty }
        for hop in hops.reversed() {
            guard IPAddress(parsing: hop) != nil else { return remoteAddress }  // garbage: trust nothing beyond it
            if !isTrusted(hop) { return hop }
        }
        return hops.first ?? remoteAddress
    }

    public func isTrusted(_ address: String) -> Bool {
        guard let ip = IPAddress(parsing: address) else { return false }
        return networks.contains { $0.contains(ip) }
    }

    /// An IP network: address bytes and a prefix length.
    struct Network: Sendable {
        let base: [UInt8]
        let prefix: Int

        init?(parsing text: String) {
            let parts = text.split(separator: "/", maxSplits: 1)
            guard let address = IPAddress(parsing: String(parts[0])) else { return nil }
            let bits = address.bytes.count * 8
            if parts.count == 2 {
                guard let length = Int(parts[1]), (0...bits).contains(length) else { return nil }
                prefix = length
            } else {
                prefix = bits
            }
            base = address.bytes
        }

        func contains(_ address: IPAddress) -> Bool {
            guard address.bytes.count == base.count else { return false }
            var remaining = prefix
            for (a, b) in zip(address.bytes, base) {
                if remaining <= 0 { return true }
                let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
                if a & mask != b & mask { return false }
                remaining -= 8
            }
            return true
        }
    }
}

import CryptoPrimitives
public import FoundationEssentials
public import JOSE

/// OWASP's device cookies: a signed "this browser has signed in to this account before" mark, so that a known
/// browser's login attempts are counted on their own and not against the account's anonymous limit, which anyone
/// who knows the address can exhaust (docs/security.md, *Lockout as a weapon*).
///
/// The cookie (``name``) holds up to ``maxEntries`` entries, the most recent first, one per account that signed in
/// on this browser. An entry is base64url(nonce ‖ issued ‖ MAC), 16 + 8 + 32 bytes, where the MAC is HMAC-SHA256
/// over the account's user id, the nonce and the issue time (seconds, big-endian) under a key derived from the
/// refresh signing key (HKDF, ``JOSE/JWTKey/derivedSecret(purpose:)``): no new secret, the same on every host that
/// shares the refresh key, and a refresh key's verify-only predecessors still recognise what they signed. An entry
/// names no account: without the key, nobody can tell whose it is.
///
/// Immutable; shared by every thread.
public struct DeviceCookies: Sendable {
    /// The cookie's name.
    public static let name = "auth_device"
    /// Accounts remembered per browser; the least recent is dropped beyond.
    public static let maxEntries = 5
    /// Entries looked at in one request, whatever a client sends.
    static let maxEntriesRead = 2 * maxEntries
    static let purpose = "jwt-authd device cookie v1"
    static let nonceLength = 16
    static let entryLength = nonceLength + 8 + 32
    /// A client clock's lead on this host that an issue time may show (hosts of one site disagree a little).
    static let clockSkew: TimeInterval = 300

    /// Signs (the first) and verifies (all).
    let keys: [HMACSHA256Key]
    /// How long an entry is honoured after it was issued; zero: device cookies are off.
    public let lifetime: Duration

    /// Keys from the refresh key set: its signing key, then every verify-only key that holds a secret (a public key
    /// file is no secret and derives nothing).
    public init(refreshKeys: KeySet, lifetime: Duration) {
        let signing = [refreshKeys.signingKey]
        let others = refreshKeys.verificationKeys.filter { $0 !== refreshKeys.signingKey }
        keys = (signing + others).compactMap { $0.derivedSecret(purpose: Self.purpose) }.map { HMACSHA256Key(secret: $0) }
        self.lifetime = lifetime
    }

    /// Whether device cookies are issued and honoured at all.
    public var isEnabled: Bool { lifetime > .zero && !keys.isEmpty }

    /// A browser known to one account: the nonce of its entry.
    public struct KnownDevice: Sendable, Equatable {
        /// The entry's nonce, in hex: what the device's own login limit is counted on.
        public let id: String
    }

    /// The entry of `values` (the cookie's values: a browser may send several cookies of this name, and every
    /// entry is checked on its own, so a planted cookie adds nothing) that marks this browser as known to
    /// `userID`, if any is signed by one of the keys, issued within the lifetime and not in the future.
    public func recognize(userID: String, in values: [String], now: Date) -> KnownDevice? {
        guard isEnabled else { return nil }
        for entry in Self.entries(values).prefix(Self.maxEntriesRead) where isCurrent(entry, now: now) {
            if isSigned(entry, for: userID) { return KnownDevice(id: Self.hex(entry.prefix(Self.nonceLength))) }
        }
        return nil
    }

    /// A cookie to set: its value, and its `Max-Age` (the lifetime, in seconds).
    public struct Issued: Sendable, Equatable {
        public let value: String
        public let maxAge: Int

        public init(value: String, maxAge: Int) {
            self.value = value
            self.maxAge = maxAge
        }
    }

    /// The cookie after `userID` signed in on this browser: a new entry first, then the entries of `values` that are
    /// well formed, within the lifetime and not this account's, up to ``maxEntries``; `nil` when device cookies are
    /// off.
    public func issue(userID: String, keeping values: [String], now: Date) -> Issued? {
        guard isEnabled, let key = keys.first else { return nil }
        var entry = Random.bytes(Self.nonceLength)
        let issued = UInt64(max(0, now.timeIntervalSince1970.rounded(.down)))
        entry += (0..<8).reversed().map { UInt8(truncatingIfNeeded: issued >> (UInt64($0) * 8)) }
        entry += key.authenticationCode(for: Self.message(userID: userID, entry: entry[...]))
        var kept = [Base64URL.encode(entry)]
        for old in Self.entries(values).prefix(Self.maxEntriesRead)
        where kept.count < Self.maxEntries && isCurrent(old, now: now) && !isSigned(old, for: userID) {
            let text = Base64URL.encode(old)
            if !kept.contains(text) { kept.append(text) }
        }
        return Issued(value: kept.joined(separator: "."), maxAge: Int(lifetime.timeInterval))
    }

    /// Whether an entry's issue time is within the lifetime (and not ahead of this host's clock by more than the skew).
    private func isCurrent(_ entry: [UInt8], now: Date) -> Bool {
        let issued = entry[Self.nonceLength..<(Self.nonceLength + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard issued < UInt64(Int64.max) else { return false }
        let age = now.timeIntervalSince1970 - TimeInterval(issued)
        return age > -Self.clockSkew && age < lifetime.timeInterval
    }

    /// Whether one of the keys signed `entry` for `userID` (constant-time comparisons).
    private func isSigned(_ entry: [UInt8], for userID: String) -> Bool {
        let signed = entry.prefix(Self.nonceLength + 8)
        let mac = Array(entry.suffix(32))
        let message = Self.message(userID: userID, entry: signed)
        return keys.contains { $0.isValid(mac, for: message[...]) }
    }

    private static func message(userID: String, entry signed: ArraySlice<UInt8>) -> [UInt8] {
        Array("device\u{0}\(userID)\u{0}".utf8) + signed.prefix(nonceLength + 8)
    }

    /// The well-formed entries of the values, in order (malformed ones are skipped).
    private static func entries(_ values: [String]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        for value in values where value.utf8.count <= 2 * maxEntriesRead * 80 {
            for part in value.utf8.split(separator: UInt8(ascii: "."), maxSplits: maxEntriesRead) {
                if let bytes = Base64URL.decode(part), bytes.count == entryLength { result.append(bytes) }
            }
        }
        return result
    }

    private static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self)
    }
}

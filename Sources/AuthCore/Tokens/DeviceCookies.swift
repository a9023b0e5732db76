import CryptoPrimitives
public import FoundationEssentials
public import JOSE

/// OWASP's device cookies: a signed "this browser has signed in to this account before" mark, so that a known
/// browser's login attempts are counted on their own and not against the account's anonymous limit, which anyone
/// who knows the address can exhaust (docs/security.md, *Lockout as a weapon*).
///
/// The cookie (``name``) holds up to ``maxEntries`` entries, the most recent first, one per account that signed in
/// on this browser. An entry is base64url(nonce ‖ issued ‖ site tag ‖ account MAC), 16 + 8 + 16 + 32 bytes: the site
/// tag is HMAC-SHA256 over the nonce and issue time (truncated; it shows that this site made the entry, whoever it
/// is for), the account MAC is HMAC-SHA256 over the account's user id, its authentication epoch (raised by every
/// password set), the nonce and the issue time. The key is derived from the refresh signing key (HKDF,
/// ``JOSE/JWTKey/derivedSecret(purpose:)``): no new secret, the same on every host that shares the refresh key, and a
/// refresh key's verify-only predecessors that hold a secret still recognise what they signed. An entry names no
/// account: without the key, nobody can tell whose it is.
///
/// Immutable; shared by every thread.
public struct DeviceCookies: Sendable {
    /// The cookie's name.
    public static let name = "auth_device"
    /// Accounts remembered per browser; the least recent is dropped beyond.
    public static let maxEntries = 5
    /// Cookie values read per request (a planted cookie beside the browser's own is one more value).
    public static let maxValues = 12
    static let purpose = "jwt-authd device cookie v1"
    static let nonceLength = 16
    static let signedLength = nonceLength + 8
    static let tagLength = 16
    static let entryLength = signedLength + tagLength + 32
    /// How far ahead of this host's clock an issue time may be (the hosts of one site disagree a little).
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

    /// A cookie to set: its value, and its `Max-Age` (the lifetime, in seconds).
    public struct Issued: Sendable, Equatable {
        public let value: String
        public let maxAge: Int

        public init(value: String, maxAge: Int) {
            self.value = value
            self.maxAge = maxAge
        }
    }

    /// The entry of `values` (the cookie's values, as sent: a browser may send several cookies of this name) that
    /// marks this browser as known to `userID` at `epoch`: signed by one of the keys for that account and epoch,
    /// issued within the lifetime and not in the future. Each value is read on its own (its first ``maxEntries``
    /// entries), so a value planted beside the browser's own cannot hide it: at most ``maxValues`` ×
    /// ``maxEntries`` × keys MACs per request.
    public func recognize(userID: String, epoch: Int64, in values: [String], now: Date) -> KnownDevice? {
        guard isEnabled else { return nil }
        for value in values.prefix(Self.maxValues) {
            for entry in Self.entries(value) where isCurrent(entry, now: now) && isSigned(entry, for: userID, epoch: epoch) {
                return KnownDevice(id: Self.hex(entry.prefix(Self.nonceLength)))
            }
        }
        return nil
    }

    /// The cookie after `userID` signed in on this browser: a new entry first, then the entries of `values` that
    /// this site made (their site tag), within the lifetime and not this account's, up to ``maxEntries``; `nil` when
    /// device cookies are off.
    public func issue(userID: String, epoch: Int64, keeping values: [String], now: Date) -> Issued? {
        guard isEnabled, let key = keys.first else { return nil }
        var entry = Random.bytes(Self.nonceLength)
        let issued = UInt64(max(0, now.timeIntervalSince1970.rounded(.down)))
        entry += (0..<8).reversed().map { UInt8(truncatingIfNeeded: issued >> (UInt64($0) * 8)) }
        entry += key.authenticationCode(for: Self.tagMessage(entry[...])).prefix(Self.tagLength)
        entry += key.authenticationCode(for: Self.accountMessage(userID: userID, epoch: epoch, entry[...]))
        var kept = [Base64URL.encode(entry)]
        for value in values.prefix(Self.maxValues) {
            for old in Self.entries(value)
            where kept.count < Self.maxEntries && isCurrent(old, now: now) && isFromThisSite(old)
                && !isSigned(old, for: userID, epoch: epoch)
            {
                let text = Base64URL.encode(old)
                if !kept.contains(text) { kept.append(text) }
            }
        }
        return Issued(value: kept.joined(separator: "."), maxAge: Int(lifetime.timeInterval))
    }

    /// Whether an entry's issue time is within the lifetime (and not ahead of this host's clock by more than the skew).
    private func isCurrent(_ entry: [UInt8], now: Date) -> Bool {
        let issued = entry[Self.nonceLength..<Self.signedLength].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard issued < UInt64(Int64.max) else { return false }
        let age = now.timeIntervalSince1970 - TimeInterval(issued)
        return age > -Self.clockSkew && age < lifetime.timeInterval
    }

    /// Whether one of the keys made `entry` (its site tag; constant-time comparisons).
    private func isFromThisSite(_ entry: [UInt8]) -> Bool {
        let tag = entry[Self.signedLength..<(Self.signedLength + Self.tagLength)]
        let message = Self.tagMessage(entry.prefix(Self.signedLength))
        return keys.contains { ConstantTime.equals($0.authenticationCode(for: message).prefix(Self.tagLength), tag) }
    }

    /// Whether one of the keys signed `entry` for `userID` at `epoch` (constant-time comparisons).
    private func isSigned(_ entry: [UInt8], for userID: String, epoch: Int64) -> Bool {
        let mac = Array(entry.suffix(32))
        let message = Self.accountMessage(userID: userID, epoch: epoch, entry.prefix(Self.signedLength))
        return keys.contains { $0.isValid(mac, for: message[...]) }
    }

    private static func tagMessage(_ signed: ArraySlice<UInt8>) -> [UInt8] {
        Array("device-site\u{0}".utf8) + signed.prefix(signedLength)
    }

    private static func accountMessage(userID: String, epoch: Int64, _ signed: ArraySlice<UInt8>) -> [UInt8] {
        Array("device\u{0}\(userID)\u{0}\(epoch)\u{0}".utf8) + signed.prefix(signedLength)
    }

    /// The first ``maxEntries`` well-formed entries of one value, in order (malformed ones are skipped).
    private static func entries(_ value: String) -> [[UInt8]] {
        guard value.utf8.count <= 2 * maxEntries * 100 else { return [] }
        var result: [[UInt8]] = []
        for part in value.utf8.split(separator: UInt8(ascii: "."), maxSplits: 2 * maxEntries) where result.count < maxEntries {
            if let bytes = Base64URL.decode(part), bytes.count == entryLength { result.append(bytes) }
        }
        return result
    }

    private static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self)
    }
}

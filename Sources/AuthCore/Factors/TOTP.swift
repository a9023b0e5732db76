public import CryptoPrimitives
public import FoundationEssentials

/// Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): what authenticator apps show.
public struct TOTP: Sendable {
    public let secret: SecureBytes
    public let digest: HMAC.Digest
    /// 6 to 8.
    public let digits: Int
    /// The length of a step in seconds (30 in every common app).
    public let period: Int

    public init(secret: SecureBytes, digest: HMAC.Digest = .sha1, digits: Int = 6, period: Int = 30) {
        precondition((6...8).contains(digits) && period > 0, "TOTP: 6 to 8 digits, a positive period")
        self.secret = secret
        self.digest = digest
        self.digits = digits
        self.period = period
    }

    /// The step `date` falls in (steps count from the Unix epoch).
    public func step(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(period)).rounded(.down))
    }

    /// The code of a step: HOTP's dynamic truncation of the HMAC of the step counter, `digits` decimal digits.
    public func code(step: Int64) -> String {
        var counter = [UInt8](repeating: 0, count: 8)
        for index in 0..<8 { counter[7 - index] = UInt8(truncatingIfNeeded: UInt64(bitPattern: step) >> (8 * UInt64(index))) }
        let mac = HMAC.authenticate(counter, key: secret, digest: digest)
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let value =
            (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let text = String(value % modulus)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// The step whose code `code` is, among the steps within `skew` of `date`'s, newer than `lastUsed` (a code is
    /// accepted once: a replay within its window, or an older code after a newer one, is refused); `nil` otherwise.
    /// Every candidate is compared, in constant time, whatever matched.
    public func verify(_ code: String, at date: Date, skew: Int = 1, after lastUsed: Int64? = nil) -> Int64? {
        let typed = Array(code.utf8)
        guard typed.count == digits, typed.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let now = step(at: date)
        var matched: Int64?
        for candidate in (now - Int64(skew))...(now + Int64(skew)) {
            let equal = ConstantTime.equals(Array(self.code(step: candidate).utf8), typed)
            if equal && candidate > (lastUsed ?? Int64.min) && matched == nil { matched = candidate }
        }
        return matched
    }

    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=…&digits=…&period=…` (the Key URI format every
    /// authenticator app reads from a QR code).
    public func uri(issuer: String, account: String) -> String {
        let label = PercentEncoding.unreserved(issuer) + ":" + PercentEncoding.unreserved(account)
        return "otpauth://totp/\(label)?secret=\(Base32.encode(secret.bytes))&issuer=\(PercentEncoding.unreserved(issuer))"
            + "&algorithm=\(digest.rawValue)&digits=\(digits)&period=\(period)"
    }
}

/// RFC 4648 base32 without padding (authenticator apps' secret format).
public enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 0x1F)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes (upper or lower case, padding and spaces ignored); `nil` for any other character.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in text.utf8 where byte != UInt8(ascii: "=") && byte != UInt8(ascii: " ") {
            let upper = byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
            guard let value = alphabet.firstIndex(of: upper) else { return nil }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> UInt32(bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}

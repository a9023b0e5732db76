import CryptoPrimitives
public import FoundationEssentials

/// Row and token ids: UUID version 7 (RFC 9562), time-ordered so that new rows land at the end of InnoDB's
/// clustered index, with 74 random bits.
public enum Identifier {
    /// A new UUIDv7 string (lower-case, 36 characters).
    public static func make(at date: Date) -> String {
        var bytes = Random.bytes(16)
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (40 - 8 * UInt64(index))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let hex = bytes.map { byte in
            let text = String(byte, radix: 16)
            return text.count == 1 ? "0" + text : text
        }.joined()
        let characters = Array(hex)
        return [characters[0..<8], characters[8..<12], characters[12..<16], characters[16..<20], characters[20..<32]]
            .map { String($0) }.joined(separator: "-")
    }

    /// Whether `text` looks like one of our ids (36 characters, hex and dashes), checked before it reaches SQL as a
    /// bound value, so that garbage is refused early.
    public static func isWellFormed(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return false }
        for (index, byte) in utf8.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard (byte >= 48 && byte <= 57) || (byte >= 97 && byte <= 102) else { return false }
            }
        }
        return true
    }
}

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
        // Hex digits straight into the 36 bytes of the text (this runs several times per login and refresh).
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Whether `text` looks like one of our ids (36 characters, hex and dashes), checked before it reaches SQL as a
    /// bound value, so that garbage is refused early.
    public static func isWellFormed(_ text: String) -> Bool {
        guard text.utf8.count == 36 else { return false }
        for (index, byte) in text.utf8.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard (byte >= 48 && byte <= 57) || (byte >= 97 && byte <= 102) else { return false }
            }
        }
        return true
    }
}

/// base64url without padding (RFC 7515 §2), decoded strictly.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: encodedBytes(bytes), as: UTF8.self)
    }

    /// Encodes bytes to the ASCII bytes of their base64url text.
    public static func encodedBytes(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        appendEncoded(Array(bytes), to: &out)
        return out
    }

    /// Appends the base64url text of `input` to `out` (token signing builds one buffer this way).
    public static func appendEncoded(_ input: [UInt8], to out: inout [UInt8]) {
        let table = Self.alphabet
        let alphabet = table.span
        let bytes = input.span
        out.reserveCapacity(out.count + (input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
            out.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let chunk = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
        } else if rest == 2 {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
        }
    }

    /// Decodes canonical base64url: only the url alphabet, no padding, no whitespace, and the unused low bits of
    /// the last character zero (otherwise several texts would decode to the same bytes).
    ///
    /// - Returns: The bytes, or `nil` when the text is not canonical base64url.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let input = Array(text)
        return decode(span: input.span)
    }

    /// Decodes a part of a token without copying it first.
    public static func decode(_ text: ArraySlice<UInt8>) -> [UInt8]? { decode(span: text.span) }

    /// Decodes an array.
    public static func decode(_ text: [UInt8]) -> [UInt8]? { decode(span: text.span) }

    private static func decode(span input: Span<UInt8>) -> [UInt8]? {
        let remainder = input.count % 4
        if remainder == 1 { return nil }
        let table = Self.reverse
        let reverse = table.span
        var valid = true
        let out = [UInt8](capacity: input.count / 4 * 3 + max(remainder - 1, 0)) { out in
            var index = 0
            while index + 4 <= input.count {
                let a = reverse[Int(input[index])]
                let b = reverse[Int(input[index + 1])]
                let c = reverse[Int(input[index + 2])]
                let d = reverse[Int(input[index + 3])]
                if (a | b | c | d) & 0xC0 != 0 {
                    valid = false
                    return
                }
                let chunk = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out.append(UInt8(chunk >> 16 & 0xFF))
                out.append(UInt8(chunk >> 8 & 0xFF))
                out.append(UInt8(chunk & 0xFF))
                index += 4
            }
            if remainder == 2 {
                let a = reverse[Int(input[index])]
                let b = reverse[Int(input[index + 1])]
                guard (a | b) & 0xC0 == 0, b & 0x0F == 0 else {
                    valid = false
                    return
                }
                out.append(a << 2 | b >> 4)
            } else if remainder == 3 {
                let a = reverse[Int(input[index])]
                let b = reverse[Int(input[index + 1])]
                let c = reverse[Int(input[index + 2])]
                guard (a | b | c) & 0xC0 == 0, c & 0x03 == 0 else {
                    valid = false
                    return
                }
                out.append(a << 2 | b >> 4)
                out.append((b & 0x0F) << 4 | c >> 2)
            }
        }
        return valid ? out : nil
    }

    /// Decodes a String.
    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}

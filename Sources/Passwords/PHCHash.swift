import CArgon2
import CCrypt
import CryptoPrimitives

/// A parsed `$argon2{i,id}$v=19$m=…,t=…,p=…$salt$hash` string.
struct PHCHash {
    let type: Argon2Hasher.Variant
    let parameters: Argon2Parameters
    let salt: [UInt8]
    let hash: [UInt8]

    init?(parsing text: String) {
        let fields = text.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0].isEmpty, let type = Argon2Hasher.Variant(rawValue: String(fields[1])),
            fields[2] == "v=19"
        else { return nil }
        let costs = fields[3].split(separator: ",", omittingEmptySubsequences: false)
        guard costs.count == 3, let m = Self.number(costs[0], "m="), let t = Self.number(costs[1], "t="),
            let p = Self.number(costs[2], "p=")
        else { return nil }
        let caps = Argon2Parameters.caps
        guard p >= 1, p <= caps.parallelism, t >= 1, t <= caps.iterations, m >= 8 * p, m <= caps.memoryKiB else { return nil }
        guard let salt = PHCBase64.decode(fields[4]), (8...64).contains(salt.count),
            let hash = PHCBase64.decode(fields[5]), (16...64).contains(hash.count)
        else { return nil }
        self.type = type
        self.parameters = Argon2Parameters(memoryKiB: m, iterations: t, parallelism: p)
        self.salt = salt
        self.hash = hash
    }

    private static func number(_ field: Substring, _ prefix: String) -> UInt32? {
        guard field.hasPrefix(prefix) else { return nil }
        let digits = field.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            digits.first != "0" || digits.count == 1
        else { return nil }
        return UInt32(digits)
    }
}

/// bcrypt's modular crypt format: `$2y$CC$` + 53 characters of bcrypt's base64.
enum BcryptHash {
    static let alphabet = Set("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    static func isWellFormed(_ text: String) -> Bool {
        let characters = Array(text)
        guard characters.count == 60, characters[0] == "$", characters[1] == "2",
            ["a", "b", "y"].contains(characters[2]), characters[3] == "$", characters[6] == "$",
            let cost = Int(String(characters[4...5])), (4...15).contains(cost)
        else { return false }
        return characters[7...].allSatisfy { alphabet.contains($0) }
    }
}

/// The PHC string format's base64: standard alphabet, no padding, canonical.
enum PHCBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
            for position in 0...chunk.count { out.append(alphabet[Int(value >> (18 - 6 * position) & 63)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 != 1 else { return nil }
        var values: [UInt8] = []
        for byte in input {
            guard let index = alphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt8(index))
        }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let group = values[index..<min(index + 4, values.count)]
            var value: UInt32 = 0
            for (offset, sextet) in group.enumerated() { value |= UInt32(sextet) << (18 - 6 * offset) }
            let produced = group.count - 1
            for position in 0..<produced { out.append(UInt8(value >> (16 - 8 * position) & 0xFF)) }
            // Canonical: bits below the last whole byte must be zero.
            if group.count < 4, value & ((1 << (24 - 8 * produced)) - 1) != 0 { return nil }
            index += 4
        }
        return encode(out) == String(text) ? out : nil
    }
}

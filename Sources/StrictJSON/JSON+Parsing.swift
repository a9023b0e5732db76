extension JSON {
    /// Parses RFC 8259 JSON strictly: UTF-8 only (no BOM), no duplicate member names, no lone surrogates, no
    /// trailing data, nesting at most `maxDepth`.
    ///
    /// - Throws: ``JSONError``.
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = 32) throws(JSONError) -> JSON {
        let input = Array(bytes)
        // Most documents (every JWT of ours) are ASCII: validate UTF-8 only when a byte says it may be needed.
        if !input.allSatisfy({ $0 < 0x80 }) {
            guard String(validating: input, as: UTF8.self) != nil else { throw JSONError(code: .invalidUTF8, offset: 0) }
        }
        var parser = Parser(bytes: input, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == input.count else { throw parser.error(.syntax) }
        return value
    }
}

private struct Parser {
    let bytes: [UInt8]
    let maxDepth: Int
    var position = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func error(_ code: JSONError.Code) -> JSONError { JSONError(code: code, offset: position) }

    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    mutating func literal(_ word: String, _ value: JSON) throws(JSONError) -> JSON {
        let expected = word.utf8
        guard position + expected.count <= bytes.count,
            bytes[position..<(position + expected.count)].elementsEqual(expected)
        else { throw error(.syntax) }
        position += expected.count
        return value
    }

    mutating func value(depth: Int) throws(JSONError) -> JSON {
        guard let byte = peek else { throw error(.syntax) }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error(.syntax)
        }
    }

    mutating func object(depth: Int) throws(JSONError) -> JSON {
        guard depth <= maxDepth else { throw error(.tooDeep) }
        position += 1
        var members: [(String, JSON)] = []
        // Small objects (every JWT) find duplicates by a linear scan; a set is built only past 16 members.
        var names: Set<String>?
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error(.syntax) }
            let nameOffset = position
            let name = try string()
            if names == nil && members.count >= 16 { names = Set(members.map(\.0)) }
            if names != nil {
                guard names!.insert(name).inserted else { throw JSONError(code: .duplicateName, offset: nameOffset) }
            } else if members.contains(where: { $0.0 == name }) {
                throw JSONError(code: .duplicateName, offset: nameOffset)
            }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error(.syntax) }
            position += 1
            skipWhitespace()
            members.append((name, try value(depth: depth)))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default: throw error(.syntax)
            }
        }
    }

    mutating func array(depth: Int) throws(JSONError) -> JSON {
        guard depth <= maxDepth else { throw error(.tooDeep) }
        position += 1
        var items: [JSON] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(items)
            default: throw error(.syntax)
            }
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error(.syntax) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error(.syntax)
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    /// Where the run of plain string bytes from `start` ends (at a quote, a backslash or the end), and whether it
    /// ends at a control character instead (scanned on a span: tokens make long strings).
    private static func plainRun(_ bytes: [UInt8], from start: Int) -> (end: Int, control: Bool) {
        let span = bytes.span
        var index = start
        while index < span.count {
            let byte = span[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return (index, true) }
            index += 1
        }
        return (index, false)
    }

    mutating func string() throws(JSONError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes.
        let (end, control) = Self.plainRun(bytes, from: position)
        position = end
        if control { throw error(.syntax) }
        guard let stop = peek else { throw error(.syntax) }
        if stop == UInt8(ascii: "\"") {
            position += 1
            return String(decoding: bytes[start..<(position - 1)], as: UTF8.self)
        }
        var out = Array(bytes[start..<position])
        while true {
            guard let byte = peek else { throw error(.syntax) }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = peek else { throw error(.syntax) }
                position += 1
                switch escaped {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard peek == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error(.syntax)  // lone high surrogate
                        }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error(.syntax) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error(.syntax)  // lone low surrogate
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error(.syntax) }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw error(.syntax)
                }
            default:
                guard byte >= 0x20 else { throw error(.syntax) }
                out.append(byte)
            }
        }
    }

    mutating func number() throws(JSONError) -> JSON {
        let start = position
        if peek == UInt8(ascii: "-") { position += 1 }
        guard let first = peek, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw error(.syntax) }
        if first == UInt8(ascii: "0") {
            position += 1
            if let next = peek, next >= UInt8(ascii: "0"), next <= UInt8(ascii: "9") { throw error(.syntax) }
        } else {
            while let digit = peek, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { position += 1 }
        }
        var integral = true
        if peek == UInt8(ascii: ".") {
            integral = false
            position += 1
            let digits = position
            while let digit = peek, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { position += 1 }
            guard position > digits else { throw error(.syntax) }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            position += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
            let digits = position
            while let digit = peek, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { position += 1 }
            guard position > digits else { throw error(.syntax) }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if integral, let number = Int64(text) { return .int(number) }
        guard let number = Double(text), number.isFinite else { throw JSONError(code: .syntax, offset: start) }
        return .double(number)
    }
}

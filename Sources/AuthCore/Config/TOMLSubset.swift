/// A value read from the configuration file.
public enum ConfigFileValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case array([String])
}

/// Reads the subset of TOML that jwt-authd's configuration file uses: `[section]` headers, `key = value` with basic
/// or literal strings, integers, booleans and one-line arrays of strings, and `#` comments.
///
/// Keys come back flattened as `section.key`. Anything outside the subset is an error with its line number, so a
/// typo is never silently ignored.
enum TOMLSubset {
    struct ParseError: Error, Equatable {
        let line: Int
        let message: String
    }

    static func parse(_ text: String) throws(ParseError) -> [String: ConfigFileValue] {
        var result: [String: ConfigFileValue] = [:]
        var section = ""
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var scanner = Scanner(Array(rawLine.utf8.filter { $0 != 13 }), line: number)
            scanner.skipSpaces()
            if scanner.atEndOrComment { continue }
            if scanner.peek == UInt8(ascii: "[") {
                scanner.advance()
                scanner.skipSpaces()
                let name = try scanner.bareKey()
                scanner.skipSpaces()
                try scanner.expect(UInt8(ascii: "]"))
                scanner.skipSpaces()
                guard scanner.atEndOrComment else { throw scanner.error("unexpected text after the section header") }
                section = name
                continue
            }
            let key = try scanner.bareKey()
            scanner.skipSpaces()
            try scanner.expect(UInt8(ascii: "="))
            scanner.skipSpaces()
            let value = try scanner.value()
            scanner.skipSpaces()
            guard scanner.atEndOrComment else { throw scanner.error("unexpected text after the value of '\(key)'") }
            let full = section.isEmpty ? key : "\(section).\(key)"
            guard result[full] == nil else { throw scanner.error("'\(full)' is set twice") }
            result[full] = value
        }
        return result
    }

    private struct Scanner {
        let bytes: [UInt8]
        let line: Int
        var position = 0

        init(_ bytes: [UInt8], line: Int) {
            self.bytes = bytes
            self.line = line
        }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }
        var atEndOrComment: Bool { peek == nil || peek == UInt8(ascii: "#") }
        mutating func advance() { position += 1 }

        func error(_ message: String) -> ParseError { ParseError(line: line, message: message) }

        mutating func skipSpaces() {
            while let byte = peek, byte == 32 || byte == 9 { advance() }
        }

        mutating func expect(_ byte: UInt8) throws(ParseError) {
            guard peek == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
            advance()
        }

        mutating func bareKey() throws(ParseError) -> String {
            let start = position
            while let byte = peek, Self.isKeyByte(byte) { advance() }
            guard position > start else { throw error("expected a key name (letters, digits, _ and -)") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        private static func isKeyByte(_ byte: UInt8) -> Bool {
            (byte >= 97 && byte <= 122) || (byte >= 65 && byte <= 90) || (byte >= 48 && byte <= 57) || byte == 95
                || byte == 45
        }

        mutating func value() throws(ParseError) -> ConfigFileValue {
            guard let byte = peek else { throw error("a value is missing") }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                return .string(try string())
            case UInt8(ascii: "["):
                advance()
                var items: [String] = []
                skipSpaces()
                while peek != UInt8(ascii: "]") {
                    guard peek == UInt8(ascii: "\"") || peek == UInt8(ascii: "'") else {
                        throw error("arrays may hold strings only, on one line")
                    }
                    items.append(try string())
                    skipSpaces()
                    if peek == UInt8(ascii: ",") {
                        advance()
                        skipSpaces()
                    } else if peek != UInt8(ascii: "]") {
                        throw error("expected ',' or ']' in the array")
                    }
                }
                advance()
                return .array(items)
            case UInt8(ascii: "t"), UInt8(ascii: "f"):
                let word = try bareKey()
                switch word {
                case "true": return .bool(true)
                case "false": return .bool(false)
                default: throw error("expected true or false, or a quoted string")
                }
            default:
                let start = position
                if peek == UInt8(ascii: "-") || peek == UInt8(ascii: "+") { advance() }
                while let digit = peek, (digit >= 48 && digit <= 57) || digit == 95 { advance() }
                let text = String(decoding: bytes[start..<position].filter { $0 != 95 }, as: UTF8.self)
                guard let number = Int(text) else { throw error("expected a string, a number, true/false or [..]") }
                return .integer(number)
            }
        }

        mutating func string() throws(ParseError) -> String {
            let quote = peek!
            advance()
            var out: [UInt8] = []
            while true {
                guard let byte = peek else { throw error("the string is not closed") }
                advance()
                if byte == quote { break }
                if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                    guard let escaped = peek else { throw error("the string is not closed") }
                    advance()
                    switch escaped {
                    case UInt8(ascii: "\""): out.append(34)
                    case UInt8(ascii: "\\"): out.append(92)
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "r"): out.append(13)
                    default: throw error("unsupported escape in a string (use \\\", \\\\, \\n, \\t or \\r)")
                    }
                } else {
                    out.append(byte)
                }
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw error("the string is not UTF-8") }
            return text
        }
    }
}

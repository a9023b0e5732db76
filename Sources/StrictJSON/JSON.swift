/// A JSON value. Objects keep their members in order (for stable output); parsing rejects duplicate names.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer written without fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The member of an object by name (`nil` for a missing member or a non-object).
    public subscript(_ name: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        for (key, value) in members where key == name { return value }
        return nil
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The number as a Double, if this is one.
    public var numberValue: Double? {
        switch self {
        case .int(let number): Double(number)
        case .double(let number): number
        default: nil
        }
    }

    /// The members, if this is an object.
    public var objectMembers: [(String, JSON)]? {
        if case .object(let members) = self { return members }
        return nil
    }
}

/// Why a document is not acceptable JSON. The message names the position, never echoes the input.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public static let invalidUTF8 = Code("invalid_utf8")
        public static let syntax = Code("syntax")
        public static let duplicateName = Code("duplicate_name")
        public static let tooDeep = Code("too_deep")
        public var description: String { name }
    }

    public let code: Code
    /// Byte offset of the problem.
    public let offset: Int

    public init(code: Code, offset: Int) {
        self.code = code
        self.offset = offset
    }

    public static func == (lhs: JSONError, rhs: JSONError) -> Bool { lhs.code == rhs.code }

    public static let invalidUTF8 = JSONError(code: .invalidUTF8, offset: 0)
    public static let syntax = JSONError(code: .syntax, offset: 0)
    public static let duplicateName = JSONError(code: .duplicateName, offset: 0)
    public static let tooDeep = JSONError(code: .tooDeep, offset: 0)

    public var description: String { "invalid JSON (\(code)) at byte \(offset)" }
}

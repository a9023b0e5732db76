import CCbor

/// A CBOR data item (RFC 8949) of the kinds WebAuthn uses: integers, byte and text strings, arrays, maps, booleans
/// and null. Tags, floats, `undefined` and indefinite lengths have no place in WebAuthn and are refused when decoding.
public enum CBOR: Sendable, Hashable {
    /// A non-negative integer.
    case unsigned(UInt64)
    /// The negative integer -1 - n (so all of CBOR's range fits).
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    /// Pairs in their encoded order (keys unique).
    case map([Pair])
    case bool(Bool)
    case null

    /// One key and its value.
    public struct Pair: Sendable, Hashable {
        public let key: CBOR
        public let value: CBOR

        public init(_ key: CBOR, _ value: CBOR) {
            self.key = key
            self.value = value
        }
    }

    /// A signed integer: `.unsigned` or `.negative`.
    public static func int(_ value: Int64) -> CBOR {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-(value + 1)))
    }

    /// The value as a signed 64-bit integer, when it is an integer in that range.
    public var intValue: Int64? {
        switch self {
        case .unsigned(let n): n <= UInt64(Int64.max) ? Int64(n) : nil
        case .negative(let n): n <= UInt64(Int64.max) ? -1 - Int64(n) : nil
        default: nil
        }
    }

    public var bytesValue: [UInt8]? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }

    public var textValue: String? {
        if case .text(let text) = self { return text }
        return nil
    }

    public var mapValue: [Pair]? {
        if case .map(let pairs) = self { return pairs }
        return nil
    }

    /// The value of `key` in a map.
    public subscript(key: CBOR) -> CBOR? {
        mapValue?.first { $0.key == key }?.value
    }

    /// The value of the integer key `key` in a map (COSE labels).
    public subscript(int key: Int64) -> CBOR? { self[.int(key)] }

    /// The value of the text key `key` in a map.
    public subscript(text key: String) -> CBOR? { self[.text(key)] }
}

/// Why bytes are not an acceptable CBOR item.
public struct CBORError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    /// Where the offending head starts.
    public let offset: Int

    public init(_ reason: String, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "invalid CBOR at byte \(offset): \(reason)" }
}

import CCbor

extension CBOR {
    /// The deterministic encoding (CTAP2 canonical form): shortest heads, map keys sorted by their encoding's length,
    /// then bytewise. Heads are written by libcbor.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// Appends the deterministic encoding to `out`.
    public func encode(into out: inout [UInt8]) {
        switch self {
        case .unsigned(let n): Self.head(0, n, into: &out)
        case .negative(let n): Self.head(1, n, into: &out)
        case .bytes(let bytes):
            Self.head(2, UInt64(bytes.count), into: &out)
            out += bytes
        case .text(let text):
            Self.head(3, UInt64(text.utf8.count), into: &out)
            out += Array(text.utf8)
        case .array(let elements):
            Self.head(4, UInt64(elements.count), into: &out)
            for element in elements { element.encode(into: &out) }
        case .map(let pairs):
            Self.head(5, UInt64(pairs.count), into: &out)
            let encodedPairs = pairs.map { ($0.key.encoded(), $0.value.encoded()) }.sorted { lhs, rhs in
                lhs.0.count != rhs.0.count ? lhs.0.count < rhs.0.count : lhs.0.lexicographicallyPrecedes(rhs.0)
            }
            for (key, value) in encodedPairs { out += key + value }
        case .bool(let value): Self.head(7, value ? 21 : 20, into: &out)
        case .null: Self.head(7, 22, into: &out)
        }
    }

    /// The same item with its map pairs in the given order kept (for tests that need a non-canonical encoding):
    /// shortest heads, but pairs as listed.
    public func encodedKeepingOrder() -> [UInt8] {
        switch self {
        case .array(let elements):
            var out: [UInt8] = []
            Self.head(4, UInt64(elements.count), into: &out)
            for element in elements { out += element.encodedKeepingOrder() }
            return out
        case .map(let pairs):
            var out: [UInt8] = []
            Self.head(5, UInt64(pairs.count), into: &out)
            for pair in pairs { out += pair.key.encodedKeepingOrder() + pair.value.encodedKeepingOrder() }
            return out
        default: return encoded()
        }
    }

    private static func head(_ major: Int32, _ argument: UInt64, into out: inout [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 9)
        let length = buffer.withUnsafeMutableBufferPointer { CCbor_encode_head(major, argument, $0.baseAddress, 9) }
        precondition(length > 0, "libcbor could not encode a head")
        out += buffer[0..<length]
    }
}

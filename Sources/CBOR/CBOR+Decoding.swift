import CCbor

extension CBOR {
    /// Limits of a decode: how deep items nest and how many a whole item may hold.
    public struct Limits: Sendable {
        public var maxDepth: Int
        public var maxItems: Int

        public init(maxDepth: Int = 8, maxItems: Int = 512) {
            self.maxDepth = maxDepth
            self.maxItems = maxItems
        }
    }

    /// Decodes exactly one item that fills `bytes`.
    ///
    /// - Throws: ``CBORError`` for malformed input, trailing bytes, indefinite lengths, tags, floats, `undefined`,
    ///   duplicate map keys, text that is not UTF-8, or input past the limits.
    public static func decode(_ bytes: [UInt8], limits: Limits = Limits()) throws(CBORError) -> CBOR {
        let (item, used) = try decodePrefix(bytes, limits: limits)
        guard used == bytes.count else { throw CBORError("\(bytes.count - used) bytes after the item", at: used) }
        return item
    }

    /// Decodes the one item at the start of `bytes`; returns it and how many bytes it took (for CBOR embedded in a
    /// binary structure, as the credential public key in authenticator data).
    public static func decodePrefix(_ bytes: ArraySlice<UInt8>, limits: Limits = Limits()) throws(CBORError) -> (CBOR, Int) {
        try decodePrefix(Array(bytes), limits: limits)
    }

    /// See ``decodePrefix(_:limits:)-(ArraySlice<UInt8>,_)``.
    public static func decodePrefix(_ bytes: [UInt8], limits: Limits = Limits()) throws(CBORError) -> (CBOR, Int) {
        var decoder = Decoder(bytes: bytes, limits: limits)
        let item = try decoder.item(depth: 0)
        return (item, decoder.offset)
    }

    /// Whether `bytes` is one item in the deterministic encoding of CTAP2 (RFC 8949 4.2.1 with CTAP2's key order:
    /// shortest heads; map keys sorted by their encoding's length, then bytewise). Decoding does not require it: this
    /// tells what authenticators and browsers send.
    public static func isDeterministic(_ bytes: [UInt8]) -> Bool {
        guard let item = try? decode(bytes) else { return false }
        return item.encoded() == bytes
    }

    /// A recursive-descent builder over libcbor's heads.
    struct Decoder {
        let bytes: [UInt8]
        let limits: Limits
        var offset = 0
        var items = 0

        init(bytes: [UInt8], limits: Limits) {
            self.bytes = bytes
            self.limits = limits
        }

        /// The next head, decoded by libcbor.
        mutating func head() throws(CBORError) -> (kind: Int32, value: UInt64, data: [UInt8]) {
            let start = offset
            guard start < bytes.count else { throw CBORError("the input ends inside an item", at: start) }
            items += 1
            guard items <= limits.maxItems else { throw CBORError("more than \(limits.maxItems) items", at: start) }
            var head = CCbor_head()
            let read = bytes.withUnsafeBufferPointer { buffer in
                // SAFETY: start < count, so the pointer and length describe the rest of the buffer.
                CCbor_next_head(buffer.baseAddress! + start, buffer.count - start, &head)
            }
            guard read > 0 else { throw CBORError("malformed or truncated item", at: start) }
            offset = start + read
            var data: [UInt8] = []
            if head.kind == CCbor_BYTES || head.kind == CCbor_TEXT {
                // The string's bytes are the last `length` bytes of what was read.
                guard head.length <= read else { throw CBORError("malformed string", at: start) }
                data = Array(bytes[(offset - head.length)..<offset])
            }
            return (head.kind, head.value, data)
        }

        mutating func item(depth: Int) throws(CBORError) -> CBOR {
            let start = offset
            let (kind, value, data) = try head()
            switch kind {
            case Int32(CCbor_UNSIGNED): return .unsigned(value)
            case Int32(CCbor_NEGATIVE): return .negative(value)
            case Int32(CCbor_BYTES): return .bytes(data)
            case Int32(CCbor_TEXT):
                guard let text = String(validating: data, as: UTF8.self) else { throw CBORError("text that is not UTF-8", at: start) }
                return .text(text)
            case Int32(CCbor_ARRAY):
                let count = try checkedCount(value, perElement: 1, depth: depth, at: start)
                var elements: [CBOR] = []
                elements.reserveCapacity(count)
                for _ in 0..<count { elements.append(try item(depth: depth + 1)) }
                return .array(elements)
            case Int32(CCbor_MAP):
                let count = try checkedCount(value, perElement: 2, depth: depth, at: start)
                var pairs: [Pair] = []
                pairs.reserveCapacity(count)
                var keys = Set<CBOR>()
                for _ in 0..<count {
                    let keyOffset = offset
                    let key = try item(depth: depth + 1)
                    guard keys.insert(key).inserted else { throw CBORError("a duplicate map key", at: keyOffset) }
                    pairs.append(Pair(key, try item(depth: depth + 1)))
                }
                return .map(pairs)
            case Int32(CCbor_FALSE): return .bool(false)
            case Int32(CCbor_TRUE): return .bool(true)
            case Int32(CCbor_NULL): return .null
            case Int32(CCbor_INDEFINITE): throw CBORError("an indefinite length", at: start)
            case Int32(CCbor_TAG): throw CBORError("a tag", at: start)
            case Int32(CCbor_FLOAT): throw CBORError("a floating-point number", at: start)
            case Int32(CCbor_UNDEFINED): throw CBORError("undefined", at: start)
            default: throw CBORError("an unexpected item", at: start)
            }
        }

        /// A container's declared count, refused past the depth limit or when the rest of the input could not hold it
        /// (every item takes at least one byte), before anything is reserved for it.
        func checkedCount(_ count: UInt64, perElement: UInt64, depth: Int, at start: Int) throws(CBORError) -> Int {
            guard depth < limits.maxDepth else { throw CBORError("nested deeper than \(limits.maxDepth)", at: start) }
            let remaining = UInt64(bytes.count - offset)
            guard count <= remaining / perElement else { throw CBORError("a count larger than the input", at: start) }
            return Int(count)
        }
    }
}

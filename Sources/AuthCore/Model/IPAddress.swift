/// A parsed IPv4 (4 bytes) or IPv6 (16 bytes) address; IPv4-mapped IPv6 becomes IPv4.
public struct IPAddress: Sendable, Equatable {
    public let bytes: [UInt8]

    public init?(parsing text: String) {
        if text.contains(":") {
            guard let parsed = Self.parseV6(text) else { return nil }
            if parsed.prefix(10).allSatisfy({ $0 == 0 }) && parsed[10] == 0xFF && parsed[11] == 0xFF {
                bytes = Array(parsed.suffix(4))
            } else {
                bytes = parsed
            }
        } else {
            guard let parsed = Self.parseV4(text) else { return nil }
            bytes = parsed
        }
    }

    /// The address with all but its first `bits` bits zeroed (a network prefix).
    public func masked(toPrefix bits: Int) -> IPAddress {
        var masked = bytes
        for index in masked.indices {
            let kept = max(0, min(8, bits - index * 8))
            masked[index] &= kept == 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - kept))
        }
        return IPAddress(bytes: masked)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// Whether it is an IPv6 address (an IPv4-mapped one counts as IPv4).
    public var isIPv6: Bool { bytes.count == 16 }

    /// Lower-case hex of the bytes, for a stable text form.
    public var hex: String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    private static func parseV4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    private static func parseV6(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseV4(String(piece)) else { return nil }
                    out += v4
                    continue
                }
                guard !piece.isEmpty, piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

extension Substring {
    package func components(separatedBy separator: String) -> [Substring] {
        var result: [Substring] = []
        var rest = self
        while let range = rest.firstRange(of: separator) {
            result.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        result.append(rest)
        return result
    }
}

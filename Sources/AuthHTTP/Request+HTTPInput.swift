import AuthCore
public import FastCGI
import StrictJSON

/// Parsing of what a request carries: cookies, query and form parameters, the content type, a JSON body.
extension Request {
    /// The cookies of the `Cookie` header. A name that appears twice keeps its first value (the browser sends the
    /// most specific path first). Malformed pairs are skipped.
    public var cookies: [String: String] {
        guard let header = field(.cookie) else { return [:] }
        var result: [String: String] = [:]
        Self.forEachCookie(in: header) { name, value in
            let name = String(name)
            if result[name] == nil { result[name] = String(value) }
            return true
        }
        return result
    }

    /// One cookie of the `Cookie` header, as ``cookies`` would have it, without building the dictionary.
    public func cookie(_ wanted: String) -> String? {
        guard let header = field(.cookie) else { return nil }
        var found: String?
        Self.forEachCookie(in: header) { name, value in
            guard name == wanted else { return true }
            found = String(value)
            return false
        }
        return found
    }

    /// Every value of one cookie, in the order sent (a name may appear more than once).
    public func cookieValues(_ wanted: String) -> [String] {
        guard let header = field(.cookie) else { return [] }
        var values: [String] = []
        Self.forEachCookie(in: header) { name, value in
            if name == wanted { values.append(String(value)) }
            return values.count < DeviceCookies.maxValues
        }
        return values
    }

    /// How many times each of `names` appears in the `Cookie` header (one pass over it).
    public func cookieCounts(_ names: [String]) -> [Int] {
        var counts = [Int](repeating: 0, count: names.count)
        guard let header = field(.cookie) else { return counts }
        Self.forEachCookie(in: header) { name, _ in
            if let index = names.firstIndex(where: { $0[...] == name }) { counts[index] += 1 }
            return true
        }
        return counts
    }

    /// Calls `body` with each acceptable `name=value` pair of a `Cookie` header, in order, until it answers false.
    /// Works on the bytes (RFC 6265 5.4: `;` separates, `=` ends the name, spaces and tabs around both are not part
    /// of them, a value in double quotes loses them); pairs without `=`, with an empty or over-long name or an
    /// over-long value are skipped.
    static func forEachCookie(in header: String, _ body: (Substring, Substring) -> Bool) {
        var header = header
        header.makeContiguousUTF8()
        let utf8 = header.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        // Offsets into the bytes (a native string's UTF-8 is contiguous), turned into indices only for the pairs
        // handed on; every bound is next to an ASCII byte, so on a scalar boundary.
        _ = utf8.withContiguousStorageIfAvailable { bytes in
            func substring(_ lower: Int, _ upper: Int) -> Substring {
                header[utf8.index(utf8.startIndex, offsetBy: lower)..<utf8.index(utf8.startIndex, offsetBy: upper)]
            }
            /// `lower..<upper` without blanks at either end.
            func trimmed(_ lower: Int, _ upper: Int) -> (Int, Int) {
                var (lower, upper) = (lower, upper)
                while lower < upper, isBlank(bytes[lower]) { lower += 1 }
                while upper > lower, isBlank(bytes[upper - 1]) { upper -= 1 }
                return (lower, upper)
            }
            var pairStart = 0
            while pairStart < bytes.count {
                var pairEnd = pairStart
                while pairEnd < bytes.count, bytes[pairEnd] != 0x3B { pairEnd += 1 }  // ';'
                defer { pairStart = pairEnd + 1 }
                var equals = pairStart
                while equals < pairEnd, bytes[equals] != 0x3D { equals += 1 }  // '='
                guard equals < pairEnd else { continue }
                let (nameLower, nameUpper) = trimmed(pairStart, equals)
                var (valueLower, valueUpper) = trimmed(equals + 1, pairEnd)
                if valueUpper - valueLower >= 2, bytes[valueLower] == 0x22, bytes[valueUpper - 1] == 0x22 {
                    (valueLower, valueUpper) = (valueLower + 1, valueUpper - 1)
                }
                guard nameUpper > nameLower, nameUpper - nameLower <= 256, valueUpper - valueLower <= 8192 else { continue }
                if !body(substring(nameLower, nameUpper), substring(valueLower, valueUpper)) { return }
            }
        }
    }

    /// The media type of the body, lower-cased, without parameters (`application/json`).
    public var mediaType: String? {
        guard let type = field(.contentType) else { return nil }
        let base = type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(" \t") } ?? ""
        return base.isEmpty ? nil : base.lowercased()
    }

    /// Query parameters (first value wins).
    public var queryParameters: [String: String] { FormDecoding.decode(query) }
}

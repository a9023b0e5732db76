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
        let utf8 = header.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        /// The range without blanks at either end.
        func trimmed(_ range: Range<String.Index>) -> Range<String.Index> {
            var lower = range.lowerBound
            var upper = range.upperBound
            while lower < upper, isBlank(utf8[lower]) { lower = utf8.index(after: lower) }
            while upper > lower, isBlank(utf8[utf8.index(before: upper)]) { upper = utf8.index(before: upper) }
            return lower..<upper
        }
        var pairStart = utf8.startIndex
        while pairStart < utf8.endIndex {
            let pairEnd = utf8[pairStart...].firstIndex(of: 0x3B) ?? utf8.endIndex  // ';'
            defer { pairStart = pairEnd < utf8.endIndex ? utf8.index(after: pairEnd) : pairEnd }
            guard let equals = utf8[pairStart..<pairEnd].firstIndex(of: 0x3D) else { continue }  // '='
            let nameRange = trimmed(pairStart..<equals)
            var valueRange = trimmed(utf8.index(after: equals)..<pairEnd)
            let valueLength = utf8.distance(from: valueRange.lowerBound, to: valueRange.upperBound)
            if valueLength >= 2, utf8[valueRange.lowerBound] == 0x22, utf8[utf8.index(before: valueRange.upperBound)] == 0x22 {
                valueRange = utf8.index(after: valueRange.lowerBound)..<utf8.index(before: valueRange.upperBound)
            }
            let nameLength = utf8.distance(from: nameRange.lowerBound, to: nameRange.upperBound)
            guard nameLength > 0, nameLength <= 256, utf8.distance(from: valueRange.lowerBound, to: valueRange.upperBound) <= 8192
            else { continue }
            if !body(header[nameRange], header[valueRange]) { return }
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

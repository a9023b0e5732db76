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

    /// Calls `body` with each acceptable `name=value` pair of a `Cookie` header, in order, until it answers false.
    /// Works on the bytes (RFC 6265 5.4: `;` separates, `=` ends the name, spaces and tabs around both are not part
    /// of them, a value in double quotes loses them); pairs without `=`, with an empty or over-long name or an
    /// over-long value are skipped.
    static func forEachCookie(in header: String, _ body: (Substring, Substring) -> Bool) {
        let utf8 = header.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        /// The range without blanks at either end.
        func trimmed(_ range: Range<String.Index>) -> Range<String.Index> {
            var lower = range.lowerBound, upper = range.upperBound
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

/// `application/x-www-form-urlencoded` decoding.
public enum FormDecoding {
    /// Pairs of a query or form body; `+` is a space; invalid percent-encodings are kept as typed.
    public static func decode(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecode(parts[0])
            guard result[name] == nil else { continue }
            result[name] = parts.count > 1 ? percentDecode(parts[1]) : ""
        }
        return result
    }

    static func percentDecode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), utf8.count >= 2,
                      let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Percent-encodes a value for a query string (unreserved characters and `/` kept).
    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}

/// A request body decoded into fields, from JSON or a form.
struct BodyFields {
    let json: JSON?
    let form: [String: String]?

    /// Whether the body was a form (the browser form flow answers with redirects).
    var isForm: Bool { form != nil }

    /// A string field; `nil` when absent; a non-string JSON value is reported as invalid.
    func string(_ name: String) -> FieldValue {
        if let form { return form[name].map(FieldValue.value) ?? .absent }
        guard let value = json?[name] else { return .absent }
        if case .null = value { return .absent }
        guard let text = value.stringValue else { return .wrongType }
        return .value(text)
    }

    enum FieldValue {
        case absent
        case wrongType
        case value(String)

        var text: String? {
            if case .value(let text) = self { return text }
            return nil
        }
    }

    /// Decodes the body: empty → no fields; JSON (an object) for `application/json`; a form when `allowForm`.
    ///
    /// - Throws: ``APIError`` 415 for another media type, 400 for invalid JSON or a non-object.
    static func parse(_ request: Request, allowForm: Bool) throws(APIError) -> BodyFields {
        if request.body.isEmpty {
            // An empty browser form is still a form: it gets the form's answer (a redirect with an error).
            if allowForm && request.mediaType == "application/x-www-form-urlencoded" { return BodyFields(json: nil, form: [:]) }
            return BodyFields(json: nil, form: nil)
        }
        switch request.mediaType {
        case "application/json"?:
            let value: JSON
            do {
                value = try JSON.parse(request.body)
            } catch {
                throw APIError(status: 400, code: "invalid_json", message: "The body is not valid JSON")
            }
            guard case .object = value else {
                throw APIError(status: 400, code: "invalid_json", message: "The body must be a JSON object")
            }
            return BodyFields(json: value, form: nil)
        case "application/x-www-form-urlencoded"? where allowForm:
            guard let text = String(validating: request.body, as: UTF8.self) else {
                throw APIError(status: 400, code: "invalid_request", message: "The form is not UTF-8")
            }
            return BodyFields(json: nil, form: FormDecoding.decode(text))
        default:
            throw APIError(status: 415, code: "unsupported_media_type",
                           message: allowForm ? "Send application/json or a form" : "Send application/json")
        }
    }
}

extension Substring {
    func trimmingCharacters(_ set: String) -> String {
        var slice = self
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}

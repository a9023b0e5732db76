import FastCGI
import StrictJSON

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

    /// A boolean field: `false` when absent or `null`.
    ///
    /// - Throws: 400 `invalid_request` naming the field when it is not `true` or `false`.
    func flag(_ name: String) throws(APIError) -> Bool {
        if let form {
            guard let text = form[name] else { return false }
            if text == "true" || text == "1" { return true }
            if text == "false" || text == "0" || text.isEmpty { return false }
            throw APIError.invalidFields([(name, "must be true or false")])
        }
        guard let value = json?[name] else { return false }
        switch value {
        case .null: return false
        case .bool(let flag): return flag
        default: throw APIError.invalidFields([(name, "must be true or false")])
        }
    }

    /// A factor's `name` (a TOTP app, a passkey): absent or null (none), or a string of at most 100 characters
    /// without control characters, trimmed (empty: none).
    ///
    /// - Throws: 400 `invalid_request` naming the field.
    func factorName() throws(APIError) -> String? {
        switch string("name") {
        case .absent: return nil
        case .value(let text):
            let trimmed = text.trimmingSpacesAndTabs
            guard trimmed.unicodeScalars.count <= 100, !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw APIError.invalidFields([("name", "must be at most 100 characters, without control characters")]) }
            return trimmed.isEmpty ? nil : trimmed
        case .wrongType: throw APIError.invalidFields([("name", "must be a string")])
        }
    }

    enum FieldValue: Equatable {
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
            throw APIError(
                status: 415, code: "unsupported_media_type",
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

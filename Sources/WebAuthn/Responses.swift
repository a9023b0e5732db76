import JOSE
public import StrictJSON

/// A registration as the browser's `PublicKeyCredential.toJSON()` gives it (base64url fields).
public struct RegistrationResponse: Sendable {
    public let rawID: [UInt8]
    public let clientDataJSON: [UInt8]
    public let attestationObject: [UInt8]
    /// The transports the browser reported (known values only), for `allowCredentials` hints later.
    public let transports: [String]
    /// `response.publicKeyAlgorithm`, when the browser sent it.
    public let publicKeyAlgorithm: Int64?

    public init(json: JSON) throws(WebAuthnError) {
        let response = try Self.credential(json)
        rawID = try Self.rawID(json)
        clientDataJSON = try Self.bytes(response, "clientDataJSON", max: ClientData.maxLength)
        attestationObject = try Self.bytes(response, "attestationObject", max: AttestationObject.maxLength)
        var transports: [String] = []
        if let list = response["transports"] {
            guard case .array(let items) = list, items.count <= 8 else { throw .malformed("response.transports is not a short list") }
            for item in items {
                guard let text = item.stringValue else { throw .malformed("response.transports holds a non-string") }
                if Self.knownTransports.contains(text), !transports.contains(text) { transports.append(text) }
            }
        }
        self.transports = transports
        if let value = response["publicKeyAlgorithm"] {
            guard case .int(let algorithm) = value else { throw .malformed("response.publicKeyAlgorithm is not an integer") }
            publicKeyAlgorithm = algorithm
        } else {
            publicKeyAlgorithm = nil
        }
    }

    /// Transport hints WebAuthn Level 2/3 define.
    static let knownTransports: Set<String> = ["usb", "nfc", "ble", "internal", "hybrid", "smart-card"]

    /// The `response` object of a credential of type `public-key`.
    static func credential(_ json: JSON) throws(WebAuthnError) -> JSON {
        guard json.objectMembers != nil else { throw .malformed("the credential is not a JSON object") }
        guard json["type"]?.stringValue == "public-key" else { throw .malformed("the credential's type is not public-key") }
        guard let response = json["response"], response.objectMembers != nil else { throw .malformed("the credential has no response object") }
        return response
    }

    /// `rawId`, which must agree with `id`.
    static func rawID(_ json: JSON) throws(WebAuthnError) -> [UInt8] {
        let raw = try bytes(json, "rawId", max: AuthenticatorData.maxCredentialIDLength)
        guard let id = json["id"]?.stringValue, Base64URL.decode(id) == raw else { throw .malformed("the credential's id and rawId differ") }
        return raw
    }

    /// A base64url member of `object`, non-empty and at most `max` bytes.
    static func bytes(_ object: JSON, _ name: String, max: Int) throws(WebAuthnError) -> [UInt8] {
        guard let text = object[name]?.stringValue else { throw .malformed("\(name) is missing or not a string") }
        guard text.utf8.count <= (max + 2) / 3 * 4, let bytes = Base64URL.decode(text), !bytes.isEmpty, bytes.count <= max else {
            throw .malformed("\(name) is not base64url of at most \(max) bytes")
        }
        return bytes
    }
}

/// An authentication as `PublicKeyCredential.toJSON()` gives it.
public struct AssertionResponse: Sendable {
    public let rawID: [UInt8]
    public let clientDataJSON: [UInt8]
    public let authenticatorData: [UInt8]
    public let signature: [UInt8]
    /// The user handle a discoverable credential returns (`nil` when absent or null).
    public let userHandle: [UInt8]?

    public init(json: JSON) throws(WebAuthnError) {
        let response = try RegistrationResponse.credential(json)
        rawID = try RegistrationResponse.rawID(json)
        clientDataJSON = try RegistrationResponse.bytes(response, "clientDataJSON", max: ClientData.maxLength)
        authenticatorData = try RegistrationResponse.bytes(response, "authenticatorData", max: 4096)
        signature = try RegistrationResponse.bytes(response, "signature", max: 1024)
        switch response["userHandle"] {
        case nil, .null?: userHandle = nil
        case .string(let text)?:
            guard text.isEmpty || text.utf8.count <= 88, let handle = Base64URL.decode(text) else {
                throw .malformed("response.userHandle is not base64url of at most 64 bytes")
            }
            userHandle = handle.isEmpty ? nil : handle
        default: throw .malformed("response.userHandle is not a string")
        }
    }
}

import JOSE
import StrictJSON

/// The client data (WebAuthn §5.8.1) as the browser serialized it, parsed as strict JSON (duplicate members refused).
public struct ClientData: Sendable {
    /// The bytes as received (their SHA-256 is what the authenticator signed).
    public let bytes: [UInt8]
    public let type: String
    /// The challenge, decoded from base64url.
    public let challenge: [UInt8]
    public let origin: String
    public let crossOrigin: Bool
    public let topOrigin: String?

    /// Longest client data accepted.
    public static let maxLength = 4096

    /// Parses client data JSON.
    ///
    /// - Throws: ``WebAuthnError`` `.malformed` when it is not a JSON object with string `type`, base64url
    ///   `challenge` and string `origin` (`crossOrigin` a boolean, `topOrigin` a string when present).
    public init(_ bytes: [UInt8]) throws(WebAuthnError) {
        guard bytes.count <= Self.maxLength else { throw .malformed("client data is longer than \(Self.maxLength) bytes") }
        let json: JSON
        do { json = try JSON.parse(bytes, maxDepth: 4) } catch { throw .malformed("client data is not valid JSON (\(error.code))") }
        guard json.objectMembers != nil else { throw .malformed("client data is not a JSON object") }
        guard let type = json["type"]?.stringValue, let challengeText = json["challenge"]?.stringValue,
            let origin = json["origin"]?.stringValue
        else { throw .malformed("client data needs type, challenge and origin strings") }
        guard let challenge = Base64URL.decode(challengeText), !challenge.isEmpty else {
            throw .malformed("the client data's challenge is not base64url")
        }
        var crossOrigin = false
        if let value = json["crossOrigin"] {
            switch value {
            case .bool(let flag): crossOrigin = flag
            default: throw .malformed("the client data's crossOrigin is not a boolean")
            }
        }
        var topOrigin: String?
        if let value = json["topOrigin"] {
            guard let text = value.stringValue else { throw .malformed("the client data's topOrigin is not a string") }
            topOrigin = text
        }
        self.bytes = bytes
        self.type = type
        self.challenge = challenge
        self.origin = origin
        self.crossOrigin = crossOrigin
        self.topOrigin = topOrigin
    }
}

/// The signature algorithms jwt-authd accepts. Anything else, `none` in any spelling included, is refused.
public enum JWSAlgorithm: String, Sendable, CaseIterable {
    /// HMAC-SHA256 (the seed's default).
    case hs256 = "HS256"
    /// Ed25519 (RFC 8037).
    case edDSA = "EdDSA"
    /// ECDSA P-256 with SHA-256, signature as raw r || s.
    case es256 = "ES256"

    /// The exact length of a valid signature.
    var signatureLength: Int {
        switch self {
        case .hs256: 32
        case .edDSA, .es256: 64
        }
    }
}

/// The explicit type of a token (RFC 8725 §3.11): the header's `typ` says what a token is for, so a refresh token is
/// never accepted as an access token, nor the reverse, even if both were signed with one key.
public struct TokenType: Sendable, Equatable, CustomStringConvertible {
    /// The `typ` header value written on tokens of this type.
    public let typ: String

    public init(typ: String) { self.typ = typ }

    /// Access tokens: `at+jwt` (RFC 9068).
    public static let access = TokenType(typ: "at+jwt")
    /// Refresh tokens.
    public static let refresh = TokenType(typ: "refresh+jwt")

    /// Whether a header `typ` names this type (media types compare case-insensitively; `application/` may be
    /// spelled out, RFC 7515 §4.1.9).
    func matches(_ headerTyp: String) -> Bool {
        var value = headerTyp.lowercased()
        if value.hasPrefix("application/") { value.removeFirst("application/".count) }
        return value == typ.lowercased()
    }

    public var description: String { typ }
}

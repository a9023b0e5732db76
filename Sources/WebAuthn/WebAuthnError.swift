/// Why a WebAuthn response was refused. The reason is for logs and for the user who registers (it names the check
/// that failed, never a secret); sign-in answers stay generic.
public struct WebAuthnError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The response is not well-formed (JSON, base64url, CBOR, lengths).
        case malformed
        /// Well-formed, but a check of WebAuthn §7 failed (type, challenge, origin, rp id, flags, signature).
        case refused
        /// The algorithm or attestation format is not one this relying party accepts.
        case unsupported
        /// The signature counter did not increase: the authenticator may have been cloned.
        case signCountRegressed
    }

    public let kind: Kind
    public let reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { reason }

    static func malformed(_ reason: String) -> WebAuthnError { WebAuthnError(.malformed, reason) }
    static func refused(_ reason: String) -> WebAuthnError { WebAuthnError(.refused, reason) }
    static func unsupported(_ reason: String) -> WebAuthnError { WebAuthnError(.unsupported, reason) }
}

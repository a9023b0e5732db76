import JOSE
public import StrictJSON

/// The options a page passes to `navigator.credentials.create()` / `.get()`, in their JSON form
/// (`PublicKeyCredentialCreationOptionsJSON`, `…RequestOptionsJSON`: binary fields as base64url).
extension RelyingParty {
    /// How long a ceremony may take, in milliseconds (the challenge lives as long).
    public static let timeoutMilliseconds: Int64 = 300_000

    /// A credential to exclude or allow: its id and transport hints.
    public struct CredentialDescriptor: Sendable, Equatable {
        public let id: [UInt8]
        public let transports: [String]

        public init(id: [UInt8], transports: [String]) {
            self.id = id
            self.transports = transports
        }

        var json: JSON {
            var members: [(String, JSON)] = [("type", .string("public-key")), ("id", .string(Base64URL.encode(id)))]
            if !transports.isEmpty { members.append(("transports", .array(transports.map { .string($0) }))) }
            return .object(members)
        }
    }

    /// Creation options: `residentKey: preferred` (a discoverable passkey where the authenticator can), attestation
    /// `none`, the user's existing credentials excluded.
    public func creationOptions(
        challenge: [UInt8], userHandle: [UInt8], userName: String, displayName: String, exclude: [CredentialDescriptor]
    ) -> JSON {
        .object([
            ("rp", .object([("id", .string(id)), ("name", .string(name))])),
            (
                "user",
                .object([("id", .string(Base64URL.encode(userHandle))), ("name", .string(userName)), ("displayName", .string(displayName))])
            ),
            ("challenge", .string(Base64URL.encode(challenge))),
            ("pubKeyCredParams", .array(algorithms.map { .object([("type", .string("public-key")), ("alg", .int($0.rawValue))]) })),
            ("timeout", .int(Self.timeoutMilliseconds)),
            ("excludeCredentials", .array(exclude.map(\.json))),
            (
                "authenticatorSelection",
                .object([
                    ("residentKey", .string("preferred")), ("requireResidentKey", .bool(false)),
                    ("userVerification", .string(userVerification.rawValue)),
                ])
            ),
            ("attestation", .string("none")),
            ("extensions", .object([("credProps", .bool(true))])),
        ])
    }

    /// Request options; an empty `allow` lets the browser offer the site's discoverable passkeys.
    public func requestOptions(challenge: [UInt8], allow: [CredentialDescriptor]) -> JSON {
        .object([
            ("challenge", .string(Base64URL.encode(challenge))),
            ("timeout", .int(Self.timeoutMilliseconds)),
            ("rpId", .string(id)),
            ("allowCredentials", .array(allow.map(\.json))),
            ("userVerification", .string(userVerification.rawValue)),
        ])
    }
}
